"""Batch jobs: 1 process vs 2 processes vs Ray (2 workers) on one file, kill + resume, memory.

Every figure is a whole `nlpkit classify -i FILE -o OUT` command in a fresh process, as
a user runs it (process start, model load, Ray start-up included). The settings run
interleaved, --repeats times, and the medians are compared:
  - rows/s on the same --rows-row jsonl file: --processes 1, --processes 2,
    --engine ray --workers 2 (a local Ray cluster that the command starts and stops);
  - kill + resume: the job (ten shards) is killed with SIGKILL once half are done, then
    rerun with --resume; the cost is the two runs' time over one uninterrupted run;
  - peak RSS of the one-process job at each of --rss-rows (getrusage of the child).
The model is the tests' tiny random BERT (hidden 32), so the figures show the job
machinery's cost, not a real model's speed; pass --model for another classifier.
Run: flock /tmp/nlpkit-bench.lock python bench/batch.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stream_memory import child_peak_mb, model_folder

ENGINES = {
    "1 process": [],
    "2 processes": ["--processes", "2"],
    "Ray, 2 workers": ["--engine", "ray", "--workers", "2"],
}
WORDS = ("great", "awful", "boring", "fine", "wonderful", "bad")


def write_rows(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            text = f"line {i}: the movie was {WORDS[i % len(WORDS)]} ."
            handle.write(json.dumps({"id": i, "text": text}) + "\n")
    return path


def command(source: Path, output: Path, model: str, shard_rows: int, *extra: str) -> list[str]:
    job = [sys.executable, "-m", "nlpkit", "classify", "-i", str(source), "-m", model]
    return [*job, "-o", str(output), "--overwrite", "--shard-rows", str(shard_rows), *extra]


def run(cmd: list[str]) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def killed_then_resumed(cmd: list[str], parts: Path, shards: int) -> float:
    """Seconds of a run killed (SIGKILL) after half its shards plus the --resume run."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    while process.poll() is None:
        try:
            done = len(json.loads((parts / "manifest.json").read_text())["done"])
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= shards // 2:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    resume = [arg for arg in cmd if arg != "--overwrite"] + ["--resume"]
    subprocess.run(resume, env=env, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def throughput(source: Path, scratch: Path, model: str, rows: int, repeats: int) -> None:
    seconds: dict[str, list[float]] = {name: [] for name in [*ENGINES, "kill + resume"]}
    shard_rows = max(1, rows // 10)  # ten shards: a kill at half loses under a tenth
    for _ in range(repeats):  # interleaved: the machine's load falls on every setting alike
        for name, extra in ENGINES.items():
            cmd = command(source, scratch / "out.parquet", model, shard_rows, *extra)
            seconds[name].append(run(cmd))
        output = scratch / "killed.parquet"
        output.unlink(missing_ok=True)  # the last repeat's: --resume must not find it done
        cmd = command(source, output, model, shard_rows)
        seconds["kill + resume"].append(killed_then_resumed(cmd, Path(f"{output}.parts"), 10))
    base = statistics.median(seconds["1 process"])
    print(f"{'setting':<16} {'median s':>9} {'rows/s':>8} {'vs 1 process':>13}   runs (s)")
    for name, values in seconds.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<16} {median:>9.1f} {rows / median:>8,.0f} {base / median:>12.2f}x   {runs}")
    extra = statistics.median(seconds["kill + resume"]) - base
    print(f"kill at half + resume costs {extra:.1f} s over one uninterrupted run")


def memory(scratch: Path, model: str, sizes: list[int]) -> None:
    print(f"\n{'rows':>9} {'peak RSS MB':>12} {'s':>7}")
    for size in sizes:
        source = write_rows(scratch / f"rss-{size}.jsonl", size)
        cmd = command(source, scratch / "rss.parquet", model, 10_000)
        peak, seconds = child_peak_mb(cmd)
        print(f"{size:>9,} {peak:>12.0f} {seconds:>7.1f}")
        source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="classifier folder (default: the tests' tiny bert)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        model = model_folder(args.model, scratch)
        name = args.model or "tiny random BERT"
        print(f"model: {name}; {args.rows:,} rows; {os.cpu_count()} CPUs")
        source = write_rows(scratch / "in.jsonl", args.rows)
        throughput(source, scratch, model, args.rows, args.repeats)
        memory(scratch, model, args.rss_rows)


if __name__ == "__main__":
    main()
