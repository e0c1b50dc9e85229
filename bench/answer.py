"""nlpkit.answer (torch, ONNX int8) against pipeline("question-answering").

Same model, same questions: the first --limit SQuAD v1.1 dev questions with their
contexts (windows of 384 tokens sharing 128 in both). The pipeline runs at the batch
size that is fastest on a probe of --probe questions (1, as documented, 8 or 32).
Prints questions/s (median of interleaved rounds), the ratio to the best pipeline
setting, and exact match / F1 of each setting as the official SQuAD v1.1 script scores
them. The int8 model is the one `nlpkit optimize --int8` keeps: within 0.5 F1 points
of fp32 on the first --gate dev questions. The model is --model (a question-answering
folder, e.g. a run of recipes/squad-minilm.yaml), else MiniLM with an untrained head:
its speed is the real model's, its scores mean nothing.
Run: python bench/answer.py --model runs/squad-minilm [--limit 2000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
from pathlib import Path

from _common import DATA, minilm_folder, timed

DEV = DATA / "squad" / "validation.jsonl.gz"
BATCH_SIZES = (1, 8, 32)


def dev_rows(limit: int) -> list[dict]:
    with gzip.open(DEV, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(limit), handle, strict=False)]


def model_folder(model: str | None, scratch: Path) -> str:
    if model is not None:
        return model
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    print("no question-answering model given: MiniLM with an untrained head (scores are noise)")
    folder = scratch / "minilm-qa"
    AutoModelForQuestionAnswering.from_pretrained(minilm_folder()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_folder()).save_pretrained(folder)
    return str(folder)


def int8_export(folder: str, rows: list[dict], scratch: Path) -> Path:
    """The gated ONNX folder (int8 when it keeps F1 on ``rows``)."""
    import nlpkit

    gate = scratch / "gate.jsonl"
    gate.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = nlpkit.optimize(folder, int8=True, eval_data=gate, output=scratch / "int8")
    print(f"int8 gate on {len(rows)} dev questions: chosen {result.chosen}")
    for key in ("torch", "fp32"):
        print(f"  {key}: {result.report[key]}")
    print(f"  int8: {result.report['int8'][-1:]}")
    return result.folder


def texts_of(output) -> list[str]:
    """Answer texts from nlpkit's results or the pipeline's dicts."""
    items = output if isinstance(output, list) else [output]
    return [item.answer if hasattr(item, "answer") else item["answer"] for item in items]


def best_batch_size(pipe, questions: list[str], contexts: list[str]) -> tuple[int, dict]:
    """The pipeline's fastest batch size on these questions, with each one's questions/s."""
    speeds = {}
    for size in BATCH_SIZES:
        pipe(question=questions[:2], context=contexts[:2], batch_size=size)  # warm
        _, seconds = timed(lambda s=size: pipe(question=questions, context=contexts, batch_size=s))
        speeds[size] = len(questions) / seconds
    return max(speeds, key=speeds.get), speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="question-answering folder (default: untrained MiniLM)")
    parser.add_argument("--limit", type=int, default=2000, help="dev questions timed")
    parser.add_argument("--probe", type=int, default=64, help="questions that pick the batch")
    parser.add_argument("--gate", type=int, default=300, help="dev questions of the int8 gate")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import nlpkit
    from nlpkit.tasks.answers.squad import squad_scores

    rows = dev_rows(max(args.limit, args.gate))
    timed_rows = rows[: args.limit]
    questions = [row["question"] for row in timed_rows]
    contexts = [row["context"] for row in timed_rows]
    gold = [row["answers"]["text"] for row in timed_rows]
    scratch = Path(tempfile.mkdtemp(prefix="nlpkit-bench-"))
    folder = model_folder(args.model, scratch)
    int8 = int8_export(folder, rows[: args.gate], scratch)
    pipe = pipeline("question-answering", model=folder, device="cpu")
    size, probe = best_batch_size(pipe, questions[: args.probe], contexts[: args.probe])
    print(
        "pipeline batch size probe (questions/s): "
        + ", ".join(f"{k}: {v:.1f}" for k, v in probe.items())
    )
    pairs = list(zip(questions, contexts, strict=True))
    runs = {
        f"pipeline batch_size={size}": lambda p: pipe(
            question=[q for q, _ in p], context=[c for _, c in p], batch_size=size
        ),
        "nlpkit torch": lambda p: nlpkit.answer(p, model=folder, backend="torch"),
        "nlpkit ONNX int8 (gated)": lambda p: nlpkit.answer(p, model=str(int8), backend="onnx"),
    }
    for run in runs.values():  # warm: models loaded, sessions open
        run(pairs[:2])
    answers, speeds = {}, {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            out, seconds = timed(lambda r=run: r(pairs))
            answers[name] = texts_of(out)
            speeds[name].append(len(pairs) / seconds)
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    best = medians[f"pipeline batch_size={size}"]
    print(
        f"\n{len(pairs)} SQuAD v1.1 dev questions, CPU, {torch.get_num_threads()} threads, "
        f"median of {args.rounds} interleaved round(s)"
    )
    print(f"{'setting':26} {'questions/s':>12} {'vs best pipeline':>17} {'EM':>7} {'F1':>7}")
    for name, speed in medians.items():
        scores = squad_scores(answers[name], gold)
        print(
            f"{name:26} {speed:12.2f} {speed / best:16.2f}x "
            f"{scores['exact_match']:7.2f} {scores['f1']:7.2f}"
        )


if __name__ == "__main__":
    main()
