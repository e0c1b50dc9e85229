"""nlpkit.classify (torch and ONNX Runtime backends) against the plain pipeline, side by side.

Same model, same texts (SST-2 validation); prints throughput (median of interleaved
rounds), accuracy, label agreement and ratios, then the whole-process time of one
`nlpkit classify "I love Python!"` with each backend. The model is the built-in
sentiment model (its store entry, whose ONNX export the first classify prepares)
unless --model names another folder (exported here with `nlpkit.optimize`).
Run: python bench/inference.py [--model DIR] [--limit N] [--rounds 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
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


def whole_process(runs: int) -> dict[str, float]:
    """Median seconds of one `nlpkit classify "I love Python!"` process per backend."""
    times: dict[str, list[float]] = {"torch": [], "onnx": []}
    for _ in range(runs):
        for backend in times:
            start = time.perf_counter()
            command = ["nlpkit", "classify", "I love Python!", "--backend", backend]
            subprocess.run(command, check=True, capture_output=True)
            times[backend].append(time.perf_counter() - start)
    return {backend: statistics.median(values) for backend, values in times.items()}


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
    print(f'\nwhole process, `nlpkit classify "I love Python!"`, median of {args.runs} runs')
    for backend, value in seconds.items():
        print(f"--backend {backend:6} {value:6.2f} s")
    print(f"torch / onnx: {seconds['torch'] / seconds['onnx']:.1f}x")


if __name__ == "__main__":
    main()
