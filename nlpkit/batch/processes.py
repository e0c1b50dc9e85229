"""N local worker processes, each with its own model copy, fed shard by shard.

A process pool (concurrent.futures, spawn) rather than accelerate's
``split_between_processes``: that one needs a launcher (`accelerate launch`,
torchrun), hands each rank a fixed slice of a list held in memory, and makes one
rank's failure everyone's. A pool takes shards as the parent reads them (memory
stays flat), gives a free worker the next one (no rank waits on a slow slice), and
leaves the parent alone to write the shard files and the manifest, so --resume
works the same as with one process. On GPUs each worker takes its own GPU
(worker i -> cuda:i mod the GPU count); on CPU the cores are shared out.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from nlpkit.batch.predict import Predictor, ShardInput, ShardOutput, predict_shard, shard_inputs
from nlpkit.batch.rows import RowSource

IN_FLIGHT_PER_WORKER = 2  # shards read ahead per worker: enough to keep each one busy
POLL_S = 0.2
PARENT_CHECK_S = 1.0

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
    """Each worker's share of the CPU cores, unless threads were given."""
    if predict.options.get("threads") is not None:
        return predict
    return predict.with_options(threads=max(1, (os.cpu_count() or 1) // processes))


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
    """Worker start-up: take a rank, and on GPUs the GPU that goes with it."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    rank = ranks.get()
    device = predict.options.get("device", "auto")
    if device == "auto":
        import torch

        if torch.cuda.is_available():
            predict = predict.with_options(device=f"cuda:{rank % torch.cuda.device_count()}")
    _worker.update(predict=predict, ticks=ticks)


def _exit_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot stop its pool: each worker leaves by itself."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _work(shard: ShardInput) -> ShardOutput:
    return predict_shard(_worker["predict"], shard, _worker["ticks"].put)
