"""Does `nlpkit tune` find a learning rate that beats the shipped recipe's? One run, side by side.

The shipped recipe (recipes/sst2-minilm.yaml: all-MiniLM-L6-v2, LoRA r=16, lr 5e-4) on
a slice of SST-2: the first --rows training rows, one epoch, evaluated on the whole
dev set every --eval-steps steps (so that Optuna can prune). First the baseline at
the shipped learning rate, then a search of --trials trials over the recipe's
`search:` block (the learning rate, log scale), then the best learning rate and the
shipped one again with --seeds other seeds (new head, LoRA init and order), so the
comparison is not only the seed the search was scored on. Prints every trial and
the dev accuracy of both settings per seed, their medians and the difference.

Run: python bench/tune.py [--rows 2000] [--trials 8] [--seeds 43 44]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import ROOT

RECIPE = ROOT / "recipes" / "sst2-minilm.yaml"


def slice_overrides(rows: int, eval_steps: int, output_dir: Path) -> dict:
    return {
        "data.max_train_samples": rows,
        "training.epochs": 1,
        "training.eval_steps": eval_steps,
        "training.save_steps": eval_steps,
        "output_dir": str(output_dir),
    }


def accuracy(overrides: dict, learning_rate: float, seed: int) -> tuple[float, float]:
    """Dev accuracy and seconds of one run of the recipe at this learning rate and seed."""
    from nlpkit import finetune

    start = time.perf_counter()
    result = finetune(
        RECIPE,
        {**overrides, "training.learning_rate": learning_rate, "training.seed": seed},
        overwrite=True,
        progress=False,
    )
    return result.metrics["accuracy"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--eval-steps", type=int, default=21)
    parser.add_argument("--seeds", type=int, nargs="*", default=[43, 44])
    args = parser.parse_args()
    from nlpkit import load_recipe, tune

    shipped = load_recipe(RECIPE).training.learning_rate
    with tempfile.TemporaryDirectory(prefix="nlpkit-bench-tune-") as scratch:
        overrides = slice_overrides(args.rows, args.eval_steps, Path(scratch) / "run")
        base, seconds = accuracy(overrides, shipped, 42)
        print(f"baseline lr {shipped:g} seed 42: accuracy {base:.4f} ({seconds:.0f} s)", flush=True)
        start = time.perf_counter()
        result = tune(RECIPE, args.trials, output_dir=Path(scratch) / "tune", overrides=overrides)
        print(f"search: {args.trials} trials in {time.perf_counter() - start:.0f} s", flush=True)
        print("| trial | learning rate | state | dev accuracy (seed 42) | seconds |")
        print("|---|---|---|---|---|")
        for row in result.trials:
            value = "—" if row["value"] is None else f"{row['value']:.4f}"
            if row["state"] == "pruned":
                value = f"pruned at step {row['last_step']} ({value})"
            cells = [row["trial"] + 1, f"{row['training.learning_rate']:.2e}", row["state"]]
            print("| " + " | ".join(str(cell) for cell in [*cells, value, row["seconds"]]) + " |")
        best = result.best_params["training.learning_rate"]
        table = {shipped: {42: base}, best: {42: result.best_value}}
        for seed in args.seeds:
            for lr in (shipped, best):
                table[lr][seed], _ = accuracy(overrides, lr, seed)
                print(f"lr {lr:.2e} seed {seed}: accuracy {table[lr][seed]:.4f}", flush=True)
    print_comparison(table, shipped, best)


def print_comparison(table: dict, shipped: float, best: float) -> None:
    seeds = sorted(table[shipped])
    print("\n| learning rate | " + " | ".join(f"seed {s}" for s in seeds) + " | median |")
    print("|---|" + "---|" * (len(seeds) + 1))
    medians = {}
    for label, lr in (("shipped", shipped), ("search's best", best)):
        scores = [table[lr][s] for s in seeds]
        medians[lr] = statistics.median(scores)
        cells = " | ".join(f"{score:.4f}" for score in scores)
        print(f"| {label} {lr:.2e} | {cells} | {medians[lr]:.4f} |")
    gain = medians[best] - medians[shipped]
    print(f"\nmedian dev accuracy: search's best - shipped = {gain * 100:+.2f} points")


if __name__ == "__main__":
    main()
