"""nlpkit.classify against the plain text-classification pipeline, side by side.

Same model folder, same texts (SST-2 validation), same predictions; prints
throughput, accuracy and ratios. The model is the built-in sentiment model
(its merged folder in the model store) unless --model names another folder.
Run: python bench/inference.py [--model DIR] [--limit N]
"""

from __future__ import annotations

import argparse

from _common import sst2_rows, timed


def classifier_folder(model: str | None) -> str:
    """The folder both sides load: --model, or the built-in model's store entry."""
    from nlpkit.models.resolve import resolve_model

    return model or resolve_model("sentiment").path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="classifier folder (default: the built-in sentiment model)")
    parser.add_argument("--limit", type=int, help="use only the first N sentences")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import nlpkit

    rows = sst2_rows("validation", args.limit)
    texts = [row["sentence"] for row in rows]
    gold = ["positive" if row["label"] == "1" else "negative" for row in rows]
    folder = classifier_folder(args.model)
    pipe = pipeline("text-classification", model=folder, device="cpu")
    pipe(texts[:8])
    nlpkit.classify(texts[:8], model=folder, device="cpu")

    runs = {
        "pipeline (as documented)": lambda: pipe(texts),
        "pipeline batch_size=32": lambda: pipe(texts, batch_size=32),
        "nlpkit.classify": lambda: nlpkit.classify(texts, model=folder, device="cpu"),
    }
    labels, speeds = {}, {}
    for name, run in runs.items():
        out, seconds = timed(run)
        labels[name] = [r.label if hasattr(r, "label") else r["label"] for r in out]
        speeds[name] = len(texts) / seconds
    reference = labels["pipeline (as documented)"]
    agree = {
        name: sum(a == b for a, b in zip(reference, got, strict=True)) / len(texts)
        for name, got in labels.items()
    }

    best_pipeline = max(speeds["pipeline (as documented)"], speeds["pipeline batch_size=32"])
    print(f"{len(texts)} SST-2 validation sentences, CPU, {torch.get_num_threads()} threads")
    print(
        f"{'setting':28} {'texts/s':>9} {'vs documented':>14} {'same labels':>12} {'accuracy':>9}"
    )
    for name, speed in speeds.items():
        ratio = speed / speeds["pipeline (as documented)"]
        accuracy = sum(a == b for a, b in zip(gold, labels[name], strict=True)) / len(texts)
        print(f"{name:28} {speed:9.1f} {ratio:13.2f}x {agree[name]:11.1%} {accuracy:9.1%}")
    ratio = speeds["nlpkit.classify"] / best_pipeline
    print(f"nlpkit.classify / best pipeline setting: {ratio:.2f}x")


if __name__ == "__main__":
    main()
