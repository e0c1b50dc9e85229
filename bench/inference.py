"""nlpkit.classify against the plain text-classification pipeline, side by side.

Same model folder, same texts (SST-2 validation), same predictions; prints
throughput and ratios. Run: python bench/inference.py [--model DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile

from _common import minilm_folder, sst2_sentences, timed


def classifier_folder(model: str | None) -> str:
    """The model to compare; by default MiniLM with a seeded 2-label head, saved once."""
    if model:
        return model
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    folder = tempfile.mkdtemp(prefix="nlpkit-bench-")
    labels = {0: "negative", 1: "positive"}
    net = AutoModelForSequenceClassification.from_pretrained(
        minilm_folder(), num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    net.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_folder()).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="classifier folder (default: MiniLM + seeded head)")
    parser.add_argument("--limit", type=int, help="use only the first N sentences")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import nlpkit

    texts = sst2_sentences("validation", args.limit)
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
    agree = {name: sum(a == b for a, b in zip(reference, got, strict=True)) / len(texts)
             for name, got in labels.items()}

    best_pipeline = max(speeds["pipeline (as documented)"], speeds["pipeline batch_size=32"])
    print(f"{len(texts)} SST-2 validation sentences, CPU, {torch.get_num_threads()} threads")
    print(f"{'setting':28} {'texts/s':>9} {'vs documented':>14} {'same labels':>12}")
    for name, speed in speeds.items():
        ratio = speed / speeds["pipeline (as documented)"]
        print(f"{name:28} {speed:9.1f} {ratio:13.2f}x {agree[name]:11.1%}")
    print(f"nlpkit.classify / best pipeline setting: {speeds['nlpkit.classify'] / best_pipeline:.2f}x")


if __name__ == "__main__":
    main()
