"""nlpkit.classify (torch and ONNX Runtime backends) against the plain pipeline, side by side.

Same model, same texts (SST-2 validation); prints throughput (median of interleaved
rounds), accuracy, label agreement and ratios, then the whole-process time of one
`nlpkit classify "I love Python!"` with each backend (run by this interpreter, as
`python -m nlpkit`), and where the ONNX command's time goes. The model is the built-in
sentiment model (its store entry, whose ONNX export the first classify prepares)
unless --model names another folder (exported here with `nlpkit.optimize`).
Run: python bench/inference.py [--model DIR] [--limit N] [--rounds 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, sst2_rows, timed


def onnx_folders(model: str | None, scratch: Path) -> tuple[str, Path, Path]:
    """(torch folder, ONNX fp32 folder, ONNX int8 folder): the gate decides int8."""
    import nlpkit
    from nlpkit.models.resolve import resolve_model

    if model is None:
        nlpkit.classify("prepare the built-in model")  # first use: export + gate, once
        folder = resolve_model("sentiment").path
        int8 = Path(folder) / "onnx"
    else:
        folder, dev = model, DATA / "sst2" / "validation.tsv"
        int8 = nlpkit.optimize(folder, int8=True, eval_data=dev, output=scratch / "int8").folder
    fp32 = nlpkit.optimize(
        folder, eval_data=DATA / "sst2" / "validation.tsv", output=scratch / "fp32"
    )
    return folder, fp32.folder, int8


def throughput(texts: list[str], runs: dict, rounds: int) -> tuple[dict, dict]:
    """Labels and median texts/s per setting, the settings interleaved round by round."""
    labels, speeds = {}, {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            out, seconds = timed(run)
            labels[name] = [r.label if hasattr(r, "label") else r["label"] for r in out]
            speeds[name].append(len(texts) / seconds)
    return labels, {name: statistics.median(values) for name, values in speeds.items()}


SENTENCE = "I love Python!"
# One-sentence classify on the ONNX path, stage by stage, in a fresh interpreter: what the
# CLI does, through the same library calls, with a clock between the stages.
STAGES = """
import contextlib, io, json, sys, time
clock = [time.perf_counter()]
def lap(): clock.append(time.perf_counter())
import nlpkit.cli.app
lap()
import numpy, onnxruntime, tokenizers
lap()
from nlpkit.tasks.onnx_choice import onnx_model_file
path = onnx_model_file("sentiment", "auto", "auto", None)
lap()
from nlpkit.models.backends.onnx import load_onnx
runner = load_onnx(path, None, 1)
lap()
import nlpkit
results = nlpkit.classify(sys.argv[1])
lap()
from nlpkit.cli.options import OutputFormat
from nlpkit.cli.render import emit
with contextlib.redirect_stdout(io.StringIO()):
    emit(results, OutputFormat.table)
lap()
print(json.dumps([b - a for a, b in zip(clock, clock[1:])]))
"""
STAGE_NAMES = [
    "import the CLI (typer, rich, nlpkit commands)",
    "import onnxruntime, tokenizers, numpy",
    "find the model's ONNX file in the store",
    "load the tokenizer and the ONNX session",
    "classify the sentence",
    "render the table",
]


def _seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def whole_process(runs: int) -> dict[str, float]:
    """Median seconds of one `nlpkit classify "I love Python!"` process per backend, run
    by this interpreter (`python -m nlpkit`: no activated virtualenv needed)."""
    times: dict[str, list[float]] = {"torch": [], "onnx": []}
    for _ in range(runs):
        for backend in times:
            command = [sys.executable, "-m", "nlpkit", "classify", SENTENCE, "--backend", backend]
            times[backend].append(_seconds(command))
    return {backend: statistics.median(values) for backend, values in times.items()}


def breakdown(runs: int) -> dict[str, float]:
    """Median seconds of each stage of a one-sentence ONNX classify (STAGES), with Python's
    own start-up, from ``runs`` fresh interpreters."""
    startup, stages = [], []
    for _ in range(runs):
        startup.append(_seconds([sys.executable, "-c", "pass"]))
        done = subprocess.run(
            [sys.executable, "-c", STAGES, SENTENCE], check=True, capture_output=True, text=True
        )
        stages.append(json.loads(done.stdout.splitlines()[-1]))
    medians = {"python start-up": statistics.median(startup)}
    for i, name in enumerate(STAGE_NAMES):
        medians[name] = statistics.median(row[i] for row in stages)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="classifier folder (default: the built-in sentiment model)")
    parser.add_argument("--limit", type=int, help="use only the first N sentences")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--runs", type=int, default=5, help="whole-process runs per backend")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import nlpkit

    rows = sst2_rows("validation", args.limit)
    texts = [row["sentence"] for row in rows]
    gold = ["positive" if row["label"] == "1" else "negative" for row in rows]
    scratch = Path(tempfile.mkdtemp(prefix="nlpkit-bench-"))
    folder, fp32, int8 = onnx_folders(args.model, scratch)
    pipe = pipeline("text-classification", model=folder, device="cpu")
    on = {"torch": folder, "onnx": str(fp32), "auto": str(int8)}
    warm = [pipe(texts[:8])] + [nlpkit.classify(texts[:64], model=m) for m in on.values()]
    runs = {
        "pipeline (as documented)": lambda: pipe(texts),
        "pipeline batch_size=32": lambda: pipe(texts, batch_size=32),
        "nlpkit.classify (torch)": lambda: nlpkit.classify(texts, model=folder, backend="torch"),
        "nlpkit ONNX fp32": lambda: nlpkit.classify(texts, model=on["onnx"], backend="onnx"),
        "nlpkit ONNX int8": lambda: nlpkit.classify(texts, model=on["auto"], backend="onnx"),
        # the previous default batch size, for comparison with the default (32)
        "torch, batch_size=64": lambda: nlpkit.classify(
            texts, model=folder, backend="torch", batch_size=64
        ),
        "ONNX int8, batch_size=64": lambda: nlpkit.classify(
            texts, model=on["auto"], backend="onnx", batch_size=64
        ),
    }
    labels, speeds = throughput(texts, runs, args.rounds)
    del warm
    reference = labels["nlpkit.classify (torch)"]
    best = max(speeds["pipeline (as documented)"], speeds["pipeline batch_size=32"])
    print(
        f"{len(texts)} SST-2 validation sentences, CPU, {torch.get_num_threads()} threads, "
        f"median of {args.rounds} interleaved rounds"
    )
    print(
        f"{'setting':26} {'texts/s':>8} {'vs best pipeline':>17} {'same as torch':>14} "
        f"{'accuracy':>9}"
    )
    for name, speed in speeds.items():
        agree = sum(a == b for a, b in zip(reference, labels[name], strict=True)) / len(texts)
        accuracy = sum(a == b for a, b in zip(gold, labels[name], strict=True)) / len(texts)
        print(f"{name:26} {speed:8.1f} {speed / best:16.2f}x {agree:13.1%} {accuracy:9.1%}")
    seconds = whole_process(args.runs)
    print(f'\nwhole process, `nlpkit classify "{SENTENCE}"`, median of {args.runs} runs')
    for backend, value in seconds.items():
        print(f"--backend {backend:6} {value:6.2f} s")
    print(f"torch / onnx: {seconds['torch'] / seconds['onnx']:.1f}x")
    stages = breakdown(args.runs)
    print(f"\nwhere the ONNX command's time goes, median of {args.runs} fresh interpreters")
    for name, value in stages.items():
        print(f"{name:46} {value:6.3f} s")
    rest = seconds["onnx"] - sum(stages.values())
    print(f"{'the rest (argument parsing, exit)':46} {rest:6.3f} s")


if __name__ == "__main__":
    main()
