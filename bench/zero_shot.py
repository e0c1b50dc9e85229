"""Zero-shot sentiment with the built-in embedding model, against the fine-tuned classifier.

SST-2 dev (872 sentences) labelled by ``classify(candidate_labels=["positive",
"negative"])``: the built-in all-MiniLM-L6-v2 compares each sentence's vector with each
label prompt's, for a few label templates (the default first). Beside it, the built-in
``sentiment`` model (MiniLM fine-tuned on SST-2 train) on the same sentences. Prints
accuracy and sentences/s per setting.

Run: python bench/zero_shot.py [--limit N]
"""

from __future__ import annotations

import argparse
import os
import time

from _common import sst2_rows

TEMPLATES = (
    "This text is about {}.",  # nlpkit's default for embedding models
    "The sentiment of this review is {}.",
    "It was {}.",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    import nlpkit

    rows = sst2_rows("validation", args.limit)
    texts = [row["sentence"] for row in rows]
    gold = ["positive" if row["label"] == "1" else "negative" for row in rows]
    runs = {
        f"zero-shot minilm, {template!r}": {
            "candidate_labels": ["positive", "negative"],
            "label_template": template,
        }
        for template in TEMPLATES
    }
    runs["fine-tuned sentiment (built in)"] = {"model": "sentiment"}
    print(f"{len(texts)} SST-2 dev sentences (load average {os.getloadavg()[0]:.1f})")
    print(f"{'setting':58} {'accuracy':>9} {'sentences/s':>12}")
    for name, options in runs.items():
        nlpkit.classify(texts[:8], **options)  # load (and prepare) outside the timing
        start = time.perf_counter()
        labels = [r.label for r in nlpkit.classify(texts, **options)]
        rate = len(texts) / (time.perf_counter() - start)
        accuracy = sum(a == b for a, b in zip(labels, gold, strict=True)) / len(gold)
        print(f"{name:58} {accuracy:9.1%} {rate:12.1f}", flush=True)


if __name__ == "__main__":
    main()
