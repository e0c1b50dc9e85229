"""N local worker processes, each with its own model copy, fed shard by shard.

A process pool (concurrent.futures, spawn) rather than accelerate's
``split_between_processes``: that one needs a launcher (`accelerate launch`,
torchrun), hands each rank a fixed slice of a list held in memory, and makes one
rank's failure everyone's. A pool takes shards as the parent reads them (memory
stays flat), gives a free worker the next one (no rank waits on a slow slice), and
leaves the parent alone to write the shard files and the manifest, so --resume
works the same as with one process. On GPUs each worker takes its own GPU
(worker i -> cuda:i mod the GPU count); on CPU the cores are shared out (cores / N
torch and ONNX Runtime threads each), so N workers never fight over them.

Each worker loads its model as it starts, while the parent reads the first shards, so
loading overlaps the work instead of delaying the first shard. Starting a worker costs
an interpreter and a model load (about a second for an ONNX classifier, more with
torch): a job too short to win that back runs in one process (``worth_processes``).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from nlpkit.batch.predict import Predictor, ShardInput, ShardOutput, predict_shard, shard_inputs
from nlpkit.batch.rows import RowSource
from nlpkit.devices import cpu_cores
from nlpkit.tasks.pieces import pieces_of

IN_FLIGHT_PER_WORKER = 2  # shards read ahead per worker: enough to keep each one busy
POLL_S = 0.2
PARENT_CHECK_S = 1.0
WARM_UP = ["Warm up."]
# Rows each worker needs before a second process pays for its start (an interpreter
# and a model load). A classified (or tagged) row takes about a millisecond: with the built-in ONNX
# model, 2 processes beat 1 from a few thousand rows (bench/batch.py). A generated row
# takes a good part of a second, so a few rows each are enough.
MIN_ROWS_CLASSIFYING = 2_000
MIN_ROWS_GENERATING = 8

_worker: dict[str, Any] = {}


def run_processes(
    source: RowSource,
    pending: Iterable[int],
    shard_rows: int,
    predict: Predictor,
    advance: Callable[[int], None],
    processes: int = 2,
) -> Iterator[ShardOutput]:
    """Done shards as the workers finish them (not in order: the manifest keeps count)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fork and torch's threads do not mix
    ticks, ranks = context.Queue(), context.Queue()
    for rank in range(processes):
        ranks.put(rank)
    predict = worker_options(predict, processes)
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_start, initargs=(predict, ticks, ranks)
    ) as pool:
        running: set[Future] = set()
        for shard in shard_inputs(source, pending, shard_rows):
            while len(running) >= IN_FLIGHT_PER_WORKER * processes:
                yield from _finished(running, ticks, advance)
            running.add(pool.submit(_work, shard))
        while running:
            yield from _finished(running, ticks, advance)
    _drain(ticks, advance)


def worker_options(predict: Predictor, processes: int) -> Predictor:
    """Each worker's share of the CPU cores (those this process may use, e.g. under
    taskset), unless threads were given."""
    if predict.options.get("threads") is not None:
        return predict
    return predict.with_options(threads=max(1, cpu_cores() // processes))


def worth_processes(command: str, rows: int, shards: int, processes: int) -> str | None:
    """Why ``rows`` pending rows in ``shards`` shards should run in one process instead
    of ``processes``, or None when more processes should win."""
    if processes > 1 and shards < 2:
        return (
            f"processes={processes}: the job is one shard of {rows:,} rows, which one "
            "process runs; lower shard_rows to split it"
        )
    generates = pieces_of(command).generates
    least = (MIN_ROWS_GENERATING if generates else MIN_ROWS_CLASSIFYING) * processes
    if processes > 1 and rows < least:
        return (
            f"processes={processes}: {rows:,} rows are too few to gain from {processes} "
            f"processes (each starts Python and loads the model; {command} needs about "
            f"{least:,} rows to win that back), so this job runs in one process"
        )
    return None


def _finished(running: set[Future], ticks, advance) -> list[ShardOutput]:
    done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
    _drain(ticks, advance)
    running.difference_update(done)
    return [future.result() for future in done]  # a worker's exception is raised here


def _drain(ticks, advance: Callable[[int], None]) -> None:
    while True:
        try:
            advance(ticks.get_nowait())
        except queue.Empty:
            return


def _start(predict: Predictor, ticks, ranks) -> None:
    """Worker start-up: take a rank (on GPUs the GPU that goes with it) and load the
    classifier (a quick warm-up call). A load failure is kept and raised by the first
    shard, so the parent sees the error itself, not a broken pool."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    rank = ranks.get()
    if predict.options.get("device", "auto") == "auto" and _may_have_gpu():
        import torch

        if torch.cuda.is_available():
            predict = predict.with_options(device=f"cuda:{rank % torch.cuda.device_count()}")
    _worker.update(predict=predict, ticks=ticks)
    if pieces_of(predict.command).generates:  # a warm-up generation would cost a real one
        return
    try:
        predict(WARM_UP, lambda _n: None)
    except Exception as exc:  # noqa: BLE001 - handed to the parent with the first shard
        _worker["error"] = exc


def _may_have_gpu() -> bool:
    """Whether a GPU driver is present, read without importing torch (seconds and
    hundreds of MB per worker, for an ONNX model that never uses it)."""
    return (
        Path("/proc/driver/nvidia/gpus").is_dir()
        or Path("/dev/kfd").exists()
        or (
            not Path("/proc/driver").exists()  # not Linux: ask torch
        )
    )


def _exit_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot stop its pool: each worker leaves by itself."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _work(shard: ShardInput) -> ShardOutput:
    if "error" in _worker:
        raise _worker["error"]
    return predict_shard(_worker["predict"], shard, _worker["ticks"].put)
