"""nlpkit.answer (torch, ONNX int8) against transformers' own way of reading answers.

transformers 5 removed pipeline("question-answering"); what it keeps is run_qa.py, whose
evaluation pads every window to max_seq_length (pad_to_max_length, its default), runs
the model batch by batch and post-processes as utils_qa.postprocess_qa_predictions does
(the 20 best starts and ends of each window, answers up to 30 tokens). That is the
baseline here, written out below, at the batch size that is fastest on a probe of
--probe questions (8, 32 or 64). Same model, same questions: the first --limit SQuAD
v1.1 dev questions with their contexts, windows of 384 tokens sharing 128 in all.
Prints questions/s (median of interleaved rounds), the ratio to the baseline, and exact
match / F1 of each setting as the official SQuAD v1.1 script scores them. The int8
model is the one `nlpkit optimize --int8` keeps: within 0.5 F1 points of fp32 on the
first --gate dev questions. The model is --model (a question-answering
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
BATCH_SIZES = (8, 32, 64)
WINDOW, STRIDE, N_BEST, LONGEST = 384, 128, 20, 30


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


def run_qa_answers(model, tokenizer, pairs: list, batch_size: int) -> list[str]:
    """run_qa.py's evaluation: windows padded to WINDOW, batches, postprocess_qa_predictions."""
    import numpy as np
    import torch

    questions = [q.lstrip() for q, _ in pairs]
    contexts = [c for _, c in pairs]
    features = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=WINDOW,
        stride=STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    rows = features.pop("overflow_to_sample_mapping")
    offsets = features.pop("offset_mapping")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in features]
    starts, ends = [], []
    with torch.inference_mode():
        for at in range(0, len(rows), batch_size):
            batch = {n: torch.tensor(features[n][at : at + batch_size]) for n in names}
            output = model(**batch)
            starts.append(output.start_logits.numpy())
            ends.append(output.end_logits.numpy())
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    best: dict[int, tuple[float, str]] = {}
    for i, row in enumerate(rows):
        sequence = features.sequence_ids(i)
        spans = [o if s == 1 else None for o, s in zip(offsets[i], sequence, strict=True)]
        for a in np.argsort(starts[i])[-1 : -N_BEST - 1 : -1]:
            for b in np.argsort(ends[i])[-1 : -N_BEST - 1 : -1]:
                if spans[a] is None or spans[b] is None or b < a or b - a + 1 > LONGEST:
                    continue
                score = float(starts[i][a] + ends[i][b])
                if score > best.get(row, (-np.inf, ""))[0]:
                    best[row] = (score, contexts[row][spans[a][0] : spans[b][1]])
    return [best.get(row, (0.0, ""))[1] for row in range(len(pairs))]


def texts_of(output) -> list[str]:
    """Answer texts from nlpkit's results or the baseline's strings."""
    return [item.answer if hasattr(item, "answer") else item for item in output]


def best_batch_size(run, pairs: list) -> tuple[int, dict]:
    """The baseline's fastest batch size on ``pairs``, with each one's questions/s."""
    speeds = {}
    for size in BATCH_SIZES:
        run(pairs[:2], size)  # warm
        _, seconds = timed(lambda s=size: run(pairs, s))
        speeds[size] = len(pairs) / seconds
    return max(speeds, key=speeds.get), speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="question-answering folder (default: untrained MiniLM)")
    parser.add_argument("--limit", type=int, default=2000, help="dev questions timed")
    parser.add_argument("--probe", type=int, default=64, help="questions that pick the batch")
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime threads")
    parser.add_argument("--gate", type=int, default=300, help="dev questions of the int8 gate")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

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
    if args.threads:
        torch.set_num_threads(args.threads)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)

    def baseline(p: list, size: int) -> list[str]:
        return run_qa_answers(model, tokenizer, p, size)

    pairs = list(zip(questions, contexts, strict=True))
    size, probe = best_batch_size(baseline, pairs[: args.probe])
    speeds_seen = ", ".join(f"{k}: {v:.1f}" for k, v in probe.items())
    print(f"run_qa.py batch size probe on {args.probe} questions (questions/s): {speeds_seen}")
    options = {"threads": args.threads}
    runs = {
        f"run_qa.py batch {size}": lambda p: baseline(p, size),
        "nlpkit torch": lambda p: nlpkit.answer(p, model=folder, backend="torch", **options),
        "nlpkit ONNX int8 (gated)": lambda p: nlpkit.answer(
            p, model=str(int8), backend="onnx", **options
        ),
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
    best = medians[f"run_qa.py batch {size}"]
    print(
        f"\n{len(pairs)} SQuAD v1.1 dev questions, CPU, {torch.get_num_threads()} threads, "
        f"median of {args.rounds} interleaved round(s)"
    )
    print(f"{'setting':26} {'questions/s':>12} {'vs run_qa.py':>13} {'EM':>7} {'F1':>7}")
    for name, speed in medians.items():
        scores = squad_scores(answers[name], gold)
        print(
            f"{name:26} {speed:12.2f} {speed / best:12.2f}x "
            f"{scores['exact_match']:7.2f} {scores['f1']:7.2f}"
        )


if __name__ == "__main__":
    main()
