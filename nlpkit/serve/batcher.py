"""Dynamic batching: concurrent requests for one model meet in one forward pass.

One worker thread per loaded model takes the first waiting job, waits a few
milliseconds for more (bounded), runs jobs that can share a batch together and
hands each job its own result back on the event loop. Inference never runs on
the event loop, and while a batch runs the next one gathers in the queue.

The queue is bounded (``max_queue`` rows waiting): past it a request is refused at once
with QueueFull (HTTP 503 and Retry-After) instead of waiting in a line that only grows.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlpkit.errors import NlpkitError

Runner = Callable[[Sequence["Job"]], list[Any]]
_STOP = object()
# The default queue bound, in batches: enough to keep the worker busy through a burst of
# max_batch-row requests from several clients, short enough that the last row waits a few
# batches, not minutes.
QUEUE_BATCHES = 4


class QueueFull(NlpkitError):
    """A model's queue is at its bound; the client should retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, param="max_queue")
        self.retry_after = retry_after


@dataclass(eq=False)
class Job:
    """One request's share of a batch: what to compute, where the answer goes."""

    runner: Runner  # computes a list of jobs at once, one result per job
    key: Hashable  # jobs run together only when runner and key are equal
    payload: Any
    size: int = 1  # rows this job adds to a batch (texts, prompts)
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future | None = None
    events: asyncio.Queue | None = None  # streamed pieces, for streaming jobs
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: Any) -> None:
        """Send one streamed piece to the request (thread-safe)."""
        if self.events is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    def cancel(self) -> None:
        """The client went away: skip the job, or stop its row at the next token."""
        self.cancelled.set()


class Batcher:
    """A queue and a worker thread for one model; ``submit`` awaits a job's result.

    ``on_queue(rows waiting)`` and ``on_batch(jobs, results, seconds)`` let an observer
    (the /metrics endpoint) follow it; both run on whichever thread changed the queue.
    """

    def __init__(
        self,
        name: str,
        max_batch: int = 32,
        max_wait_s: float = 0.005,
        max_queue: int | None = None,
    ) -> None:
        self.name = name
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_queue = max(1, max_queue or QUEUE_BATCHES * self.max_batch)
        self.batches: list[int] = []  # rows per batch run, newest last (for tests)
        self.on_queue: Callable[[int], None] | None = None
        self.on_batch: Callable[[list[Job], list[Any], float], None] | None = None
        self._queue: queue.Queue = queue.Queue()
        self._held: Job | None = None  # a job that did not fit the last batch
        self._waiting = 0  # rows queued and not yet in a batch
        self._lock = threading.Lock()
        self._batch_s = 0.0  # the last batch's seconds, for Retry-After
        self._thread = threading.Thread(target=self._work, name=f"nlpkit-batch-{name}", daemon=True)
        self._thread.start()

    async def submit(self, job: Job) -> Any:
        """Queue ``job`` and wait for its result (its runner's exception is raised here)."""
        self.start(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancel()
            raise

    def start(self, job: Job) -> Job:
        """Queue ``job`` without waiting; its future and events belong to the running loop.
        QueueFull when the queue is at its bound (a job alone in the queue always fits)."""
        with self._lock:
            if self._waiting and self._waiting + job.size > self.max_queue:
                raise QueueFull(
                    f"model {self.name} is busy: {self._waiting} rows are waiting "
                    f"(max_queue={self.max_queue}); retry shortly",
                    self._retry_after(),
                )
            self._waiting += job.size
            waiting = self._waiting
        job.loop = asyncio.get_running_loop()
        job.future = job.loop.create_future()
        self._queue.put(job)
        self._report(waiting)
        return job

    def _retry_after(self) -> int:
        """Seconds until the queue has room: the batches ahead times the last batch's time."""
        return max(1, math.ceil(self._waiting / self.max_batch * self._batch_s))

    def _taken(self, job: Job) -> None:
        """``job`` left the queue for a batch."""
        with self._lock:
            self._waiting -= job.size
            waiting = self._waiting
        self._report(waiting)

    def _report(self, waiting: int) -> None:
        if self.on_queue is not None:
            self.on_queue(waiting)

    def close(self) -> None:
        """Stop the worker after the jobs already queued."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                return
            groups: dict[tuple, list[Job]] = {}
            for job in batch:
                groups.setdefault((job.runner, job.key), []).append(job)
            for jobs in groups.values():
                self._run(jobs)

    def _gather(self) -> list[Job] | None:
        """The next batch: the first job, then whatever arrives within max_wait_s."""
        first = self._held or self._queue.get()
        self._held = None
        if first is _STOP:
            return None
        self._taken(first)
        batch, rows = [first], first.size
        deadline = time.monotonic() + self.max_wait_s
        while rows < self.max_batch:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is _STOP or rows + job.size > self.max_batch:
                self._held = job
                break
            self._taken(job)
            batch.append(job)
            rows += job.size
        return [job for job in batch if not job.cancelled.is_set()]

    def _run(self, jobs: list[Job]) -> None:
        self.batches.append(sum(job.size for job in jobs))
        del self.batches[:-100]
        start = time.monotonic()
        try:
            results = jobs[0].runner(jobs)
        except BaseException as exc:  # noqa: BLE001 - every error goes back to its requests
            for job in jobs:
                _resolve(job, exception=exc)
            return
        finally:
            self._batch_s = time.monotonic() - start
        for job, result in zip(jobs, results, strict=True):
            _resolve(job, result=result)
        if self.on_batch is not None:
            self.on_batch(jobs, results, self._batch_s)


def _resolve(job: Job, result: Any = None, exception: BaseException | None = None) -> None:
    def settle() -> None:
        if job.future is None or job.future.done():
            return
        if exception is not None:
            job.future.set_exception(exception)
        else:
            job.future.set_result(result)
        if job.events is not None:
            job.events.put_nowait(None)  # the stream's end: its result is in the future

    if job.loop is not None and not job.loop.is_closed():
        job.loop.call_soon_threadsafe(settle)
