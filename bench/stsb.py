"""STS-B validation before and after fine-tuning, side by side: what `nlpkit embed` gives.

Each model embeds both sentences of the 1,500 STS-B validation pairs shipped in
recipes/data with nlpkit.embed (PyTorch backend); the score is the Spearman (and
Pearson) correlation, x100, of the pairs' cosines with the gold 0-5 similarity, as
the STS benchmark scores it. The base model is all-MiniLM-L6-v2; the fine-tuned one
is the folder that `nlpkit finetune recipes/stsb-minilm.yaml` wrote (--run).
Run: python bench/stsb.py [--run runs/stsb-minilm]
"""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path

import numpy as np
from _common import DATA, ROOT, minilm_folder, timed


def validation_pairs() -> tuple[list[str], list[str], list[float]]:
    with gzip.open(DATA / "stsb" / "validation.tsv.gz", "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return (
        [r["sentence1"] for r in rows],
        [r["sentence2"] for r in rows],
        [float(r["score"]) for r in rows],
    )


def correlations(model: str, first: list[str], second: list[str], gold: list[float]):
    from scipy.stats import pearsonr, spearmanr

    import nlpkit

    vectors = nlpkit.embed(first + second, model=model, backend="torch", batch_size=64)
    cosines = np.sum(vectors[: len(first)] * vectors[len(first) :], axis=1)
    return 100 * spearmanr(cosines, gold).statistic, 100 * pearsonr(cosines, gold).statistic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "runs" / "stsb-minilm"))
    args = parser.parse_args()
    first, second, gold = validation_pairs()
    rows = {"all-MiniLM-L6-v2 (before)": str(minilm_folder())}
    if Path(args.run).is_dir():
        rows[f"fine-tuned ({Path(args.run).name})"] = args.run
    print(f"STS-B validation, {len(gold)} pairs; Spearman / Pearson of cosine vs gold, x100")
    scores = {}
    for name, folder in rows.items():
        (spearman, pearson), seconds = timed(lambda f=folder: correlations(f, first, second, gold))
        scores[name] = spearman
        print(f"{name:<32} spearman {spearman:6.2f}  pearson {pearson:6.2f}  ({seconds:.0f} s)")
    if len(scores) == 2:
        before, after = scores.values()
        print(f"{'change':<32} spearman {after - before:+6.2f} points")


if __name__ == "__main__":
    main()
