"""ROUGE of nlpkit.summarize on the XSum sample (recipes/data/xsum/sample.json).

Default model: the built-in SmolLM2-135M-Instruct, prompted through its chat
template for a one-sentence summary (XSum references are one sentence).
Run: python bench/summarize.py [--model NAME] [--max-new-tokens 60] [--show 1]
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import DATA, timed


def xsum_sample() -> list[dict]:
    path = DATA / "xsum" / "sample.json"
    if not path.exists():
        sys.exit(f"bench needs {path} (XSum sample); it is absent here")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--show", type=int, default=1, help="print N examples")
    args = parser.parse_args()

    import nlpkit
    from nlpkit.training.metrics import rouge

    rows = xsum_sample()
    documents = [row["document"] for row in rows]
    nlpkit.summarize(documents[:1], model=args.model, max_new_tokens=4)  # load once
    results, seconds = timed(
        lambda: nlpkit.summarize(documents, model=args.model, max_new_tokens=args.max_new_tokens)
    )
    predictions = [r.summary for r in results]
    scores = rouge(predictions, [row["summary"] for row in rows])
    for row, prediction in list(zip(rows, predictions, strict=True))[: args.show]:
        print(f"reference: {row['summary']}\nnlpkit:    {prediction}\n")
    print(f"{args.model} on {len(rows)} XSum documents, {seconds:.0f}s")
    print("  ".join(f"{key} {value:.1f}" for key, value in scores.items()))


if __name__ == "__main__":
    main()
