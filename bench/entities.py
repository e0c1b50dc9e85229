"""nlpkit.entities (torch, ONNX fp32, ONNX int8) against pipeline("token-classification").

Same model, same texts: CoNLL-2003 test sentences, their words joined by spaces.
Prints sentences/s (median of interleaved rounds), the ratio to the best pipeline
setting, entity F1 against the gold tags (seqeval, each word tagged by the entity
covering its first character, for every setting alike), then the whole-process time
of one `nlpkit entities "..."` per backend. The model is --model (a token classifier
folder), else the built-in `entities` model when installed, else MiniLM with an
untrained head: its speed is the real model's, its F1 means nothing.
Run: python bench/entities.py [--model DIR] [--limit N] [--rounds 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, minilm_folder, timed

SENTENCE = "Angela Merkel visited Paris in 2019."
CONLL = DATA / "conll2003"
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def conll_rows(split: str, limit: int | None) -> list[dict]:
    with gzip.open(CONLL / f"{split}.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return rows[:limit]


def model_folder(model: str | None, scratch: Path) -> str:
    """--model, the built-in model, or MiniLM with a new (untrained) 9-tag head."""
    from nlpkit.models.builtin import builtin_for_task

    if model is not None:
        return model
    builtin = builtin_for_task("entities")
    if builtin is not None:
        from nlpkit.models.resolve import resolve_model

        return resolve_model(builtin).path
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    print("no NER model given or built in: MiniLM with an untrained head (F1 is noise)")
    names = dict(enumerate(LABELS))
    tagger = AutoModelForTokenClassification.from_pretrained(
        minilm_folder(), id2label=names, label2id={v: k for k, v in names.items()}
    )
    folder = scratch / "minilm-ner"
    tagger.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_folder()).save_pretrained(folder)
    return str(folder)


def exports(folder: str, scratch: Path) -> tuple[Path, Path]:
    """(fp32 folder, gated folder: int8 when it keeps F1 on CoNLL-2003 validation)."""
    import nlpkit

    gate = CONLL / "validation.jsonl.gz"
    fp32 = nlpkit.optimize(folder, eval_data=gate, output=scratch / "fp32").folder
    int8 = nlpkit.optimize(folder, int8=True, eval_data=gate, output=scratch / "int8")
    print(f"int8 gate: {int8.chosen} ({int8.report['int8'][-1:]})")
    return fp32, int8.folder


def f1(texts: list[str], found: list[list], gold: list[list[str]]) -> float:
    from nlpkit.tasks.entities.gold import word_tags
    from nlpkit.tasks.entities.training import entity_scores

    predicted = [word_tags(text, entities) for text, entities in zip(texts, found, strict=True)]
    return entity_scores(predicted, gold)["f1"]


def found_spans(result) -> list:
    """Entities as dicts with start, end and type, from nlpkit or the pipeline."""
    if hasattr(result, "entities"):
        return list(result.entities)
    return [{"start": e["start"], "end": e["end"], "type": e["entity_group"]} for e in result]


def throughput(texts: list[str], runs: dict, rounds: int) -> tuple[dict, dict]:
    """Entities and median sentences/s per setting, the settings interleaved by round."""
    found, speeds = {}, {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            out, seconds = timed(run)
            found[name] = [found_spans(r) for r in out]
            speeds[name].append(len(texts) / seconds)
    return found, {name: statistics.median(values) for name, values in speeds.items()}


def whole_process(folder: str, onnx: Path, runs: int) -> dict[str, float]:
    """Median seconds of one `nlpkit entities SENTENCE` process per backend, run by this
    interpreter (`python -m nlpkit`: no activated virtualenv needed)."""
    commands = {
        "torch": ["-m", folder, "--backend", "torch"],
        "onnx": ["-m", str(onnx), "--backend", "onnx"],
    }
    times: dict[str, list[float]] = {backend: [] for backend in commands}
    for _ in range(runs):
        for backend, args in commands.items():
            start = time.perf_counter()
            command = [sys.executable, "-m", "nlpkit", "entities", SENTENCE, *args]
            subprocess.run(command, check=True, capture_output=True)
            times[backend].append(time.perf_counter() - start)
    return {backend: statistics.median(values) for backend, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="token classifier folder (default: built in / MiniLM)")
    parser.add_argument("--limit", type=int, help="use only the first N test sentences")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--runs", type=int, default=5, help="whole-process runs per backend")
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import nlpkit

    rows = conll_rows("test", args.limit)
    texts = [" ".join(row["tokens"]) for row in rows]
    gold = [row["ner_tags"] for row in rows]
    scratch = Path(tempfile.mkdtemp(prefix="nlpkit-bench-"))
    folder = model_folder(args.model, scratch)
    fp32, int8 = exports(folder, scratch)
    pipe = pipeline("token-classification", model=folder, device="cpu")

    def ours(model: str, backend: str):
        return lambda: nlpkit.entities(texts, model=model, backend=backend)

    runs = {
        "pipeline (as documented)": lambda: pipe(texts, aggregation_strategy="simple"),
        "pipeline batch_size=32": lambda: pipe(texts, aggregation_strategy="simple", batch_size=32),
        "nlpkit torch": ours(folder, "torch"),
        "nlpkit ONNX fp32": ours(str(fp32), "onnx"),
        "nlpkit ONNX int8 (gated)": ours(str(int8), "onnx"),
    }
    for run in runs.values():  # warm: models loaded, sessions open
        timed(run)
    found, speeds = throughput(texts, runs, args.rounds)
    best = max(speeds["pipeline (as documented)"], speeds["pipeline batch_size=32"])
    print(
        f"{len(texts)} CoNLL-2003 test sentences, CPU, {torch.get_num_threads()} threads, "
        f"median of {args.rounds} interleaved rounds"
    )
    print(f"{'setting':26} {'sentences/s':>12} {'vs best pipeline':>17} {'entity F1':>10}")
    for name, speed in speeds.items():
        score = f1(texts, found[name], gold)
        print(f"{name:26} {speed:12.1f} {speed / best:16.2f}x {score:10.4f}")
    seconds = whole_process(folder, int8, args.runs)
    print(f'\nwhole process, `nlpkit entities "{SENTENCE}"`, median of {args.runs} runs')
    for backend, value in seconds.items():
        print(f"--backend {backend:6} {value:6.2f} s")


if __name__ == "__main__":
    main()
