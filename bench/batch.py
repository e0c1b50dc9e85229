"""Batch jobs: 1 process vs 2 processes vs Ray (2 workers) on one file, kill + resume, memory.

Every figure is a whole `nlpkit classify -i FILE -o OUT` command in a fresh process, as
a user runs it (process start, model load, Ray start-up included). The settings run
interleaved, --repeats times, and the medians are compared:
  - rows/s on the same --rows-row jsonl file: --processes 1, --processes 2, the same
    two pinned with taskset (1 process on core 0; 2 processes on cores 0 and 1, one
    thread each), so the ratio per added core can be read off for larger machines, and
    --engine ray --workers 2 (a local Ray cluster that the command starts and stops);
  - kill + resume: the job (ten shards) is killed with SIGKILL once half are done, then
    rerun with --resume; the cost is the two runs' time over one uninterrupted run;
  - peak RSS of the one-process job at each of --rss-rows (getrusage of the child).
By default the model is the tests' tiny random BERT (hidden 32) on made-up rows, so the
figures show the job machinery's cost; `--data sst2 --model sentiment` runs the
built-in model (ONNX Runtime) on SST-2 train sentences shipped in recipes/data.
Run: flock /tmp/nlpkit-bench.lock python bench/batch.py [--rows 100000] [--repeats 3]
     python bench/batch.py --data sst2 --model sentiment --rows 20000 --skip ray kill memory
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import sst2_rows
from stream_memory import child_peak_mb, model_folder

PINNED_1 = ["taskset", "-c", "0"]
PINNED_2 = ["taskset", "-c", "0,1"]
# name -> (prefix, extra flags); "pinned" and "ray" rows can be skipped
ENGINES = {
    "1 process": ([], []),
    "2 processes": ([], ["--processes", "2"]),
    "1 process, core 0": (PINNED_1, []),
    "2 processes, cores 0+1": (PINNED_2, ["--processes", "2"]),
    "Ray, 2 workers": ([], ["--engine", "ray", "--workers", "2"]),
}
WORDS = ("great", "awful", "boring", "fine", "wonderful", "bad")


def write_rows(path: Path, count: int, data: str = "synthetic") -> Path:
    texts = (
        [row["sentence"] for row in sst2_rows("train", count)]
        if data == "sst2"
        else [f"line {i}: the movie was {WORDS[i % len(WORDS)]} ." for i in range(count)]
    )
    with path.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"id": i, "text": text}) + "\n")
    return path


def engines(skip: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """The settings to run: pinned ones need taskset and two cores."""
    pinned = shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2
    return {
        name: setting
        for name, setting in ENGINES.items()
        if not ("ray" in skip and name.startswith("Ray"))
        and not (("pinned" in skip or not pinned) and setting[0])
    }


def command(source: Path, output: Path, model: str, shard_rows: int, *extra: str) -> list[str]:
    job = [sys.executable, "-m", "nlpkit", "classify", "-i", str(source), "-m", model]
    return [*job, "-o", str(output), "--overwrite", "--shard-rows", str(shard_rows), *extra]


def run(cmd: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # nlpkit's choice
    env["HF_HUB_OFFLINE"] = "1"
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


def throughput(source: Path, scratch: Path, model: str, rows: int, args) -> None:
    settings = engines(args.skip)
    kill = "kill" not in args.skip
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    seconds.update({"kill + resume": []} if kill else {})
    shard_rows = max(1, rows // 10)  # ten shards: a kill at half loses under a tenth
    for _ in range(args.repeats):  # interleaved: the machine's load falls on each alike
        for name, (prefix, extra) in settings.items():
            cmd = command(source, scratch / "out.parquet", model, shard_rows, *extra)
            seconds[name].append(run([*prefix, *cmd]))
            print(f"  {name}: {seconds[name][-1]:.1f} s", flush=True)
        if kill:
            output = scratch / "killed.parquet"
            output.unlink(missing_ok=True)  # the last repeat's: --resume must not find it
            cmd = command(source, output, model, shard_rows)
            seconds["kill + resume"].append(killed_then_resumed(cmd, Path(f"{output}.parts"), 10))
    report(seconds, rows)


def report(seconds: dict[str, list[float]], rows: int) -> None:
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    base = medians["1 process"]
    print(f"{'setting':<24} {'median s':>9} {'rows/s':>8} {'vs 1 process':>13}   runs (s)")
    for name, values in seconds.items():
        median, runs = medians[name], ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<24} {median:>9.1f} {rows / median:>8,.0f} {base / median:>12.2f}x   {runs}")
    if "2 processes, cores 0+1" in medians:
        pinned = medians["1 process, core 0"] / medians["2 processes, cores 0+1"]
        print(f"pinned, one core each: 2 processes = {pinned:.2f}x 1 process")
    if "kill + resume" in medians:
        extra = medians["kill + resume"] - base
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
    parser.add_argument("--model", help="classifier folder or built-in name (default: tiny bert)")
    parser.add_argument("--data", choices=["synthetic", "sst2"], default="synthetic")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["ray", "pinned", "kill", "memory"]
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        model = model_folder(args.model, scratch)
        name = args.model or "tiny random BERT"
        print(f"model: {name}; {args.rows:,} {args.data} rows; {os.cpu_count()} CPUs")
        source = write_rows(scratch / "in.jsonl", args.rows, args.data)
        throughput(source, scratch, model, args.rows, args)
        if "memory" not in args.skip:
            memory(scratch, model, args.rss_rows)


if __name__ == "__main__":
    main()
