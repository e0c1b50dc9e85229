"""Progress as the CLI draws it, on stderr: the library reports, this module renders.

Task functions call ``advance(n)`` per batch (``progress_bar``); ``nlpkit finetune``
sends TrainEvents (``train_reporter``). On a terminal both are live rich bars; in a
log file or a pipe a row bar is left out and training writes one plain line per
logging step: ``train step 2/6 (33%) | epoch 0.33 | loss 0.6931 | elapsed 0:00:03 |
ETA 0:00:06``, which `nohup nlpkit finetune ... > log` can be read by.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from nlpkit.cli.render import out

if TYPE_CHECKING:
    from nlpkit.training.callbacks import TrainEvent


@contextmanager
def progress_bar(total: int, description: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)`` for a bar over ``total`` texts; a no-op off a terminal."""
    console = out.console(stderr=True)
    if not enabled or not console.is_terminal:  # a log file gets no bar (rich adds a '\n')
        yield lambda _n: None
        return
    from rich import progress as bars

    with bars.Progress(*_row_columns(), console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.update(task, advance=n)


def _row_columns(*extra: Any) -> tuple[Any, ...]:
    from rich import progress as bars

    return (
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        *extra,
        bars.TimeElapsedColumn(),
        bars.TimeRemainingColumn(),
    )


JOB_LINE_EVERY_S = 10.0


class JobProgress:
    """A batch job's ``progress(done, total)``: one bar over all rows on a terminal
    (done/total, rows/s, elapsed, ETA), else a plain line every 10 s for a log file."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.bar: Any = None
        self.task: Any = None
        self.first: tuple[float, int] | None = None  # (time, rows done) at the first report
        self.last_line = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.first is None or self.first[1] == done:  # the clock starts as rows flow
            self.first = (now, done)
        start, done_before = self.first
        rate = (done - done_before) / (now - start) if now > start else 0.0
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, rate=f"{rate:,.0f} rows/s")
        elif rate and now - self.last_line >= JOB_LINE_EVERY_S and done < total:
            self.last_line = now
            eta = clock((total - done) / rate)
            out.note(
                f"{self.title} rows {done}/{total} ({done / max(total, 1):.0%}) | "
                f"{rate:,.0f} rows/s | ETA {eta}"
            )

    def __enter__(self) -> JobProgress:
        console = out.console(stderr=True)
        if console.is_terminal:
            from rich import progress as bars

            rate = bars.TextColumn("{task.fields[rate]}")
            self.bar = bars.Progress(*_row_columns(rate), console=console, transient=True)
            self.task = self.bar.add_task(self.title, total=None, rate="")
            self.bar.start()
        self.last_line = time.monotonic()  # the first plain line comes after 10 s
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def eval_line(event: TrainEvent) -> str:
    shown = ", ".join(f"{key} {value:.4f}" for key, value in event.metrics.items())
    return f"eval at step {event.step}: {shown}"


def train_line(event: TrainEvent) -> str:
    """A logging step as one plain line."""
    percent = f" ({event.step / event.total:.0%})" if event.total else ""
    parts = [f"step {event.step}/{event.total}{percent}", f"epoch {event.epoch:.2f}"]
    parts += [f"loss {event.loss:.4f}", f"elapsed {clock(event.elapsed)}"]
    parts.append(f"ETA {clock(event.eta)}")
    return "train " + " | ".join(parts)


def plain_report(event: TrainEvent) -> None:
    """Lines for a log file: logging steps, evaluations and messages; no bar."""
    if event.kind == "log" and event.loss is not None:
        out.note(train_line(event))
    elif event.kind == "eval":
        out.note(eval_line(event))
    elif event.kind == "message":
        out.note(event.text)


class LiveTrainBar:
    """step / total, epoch, last loss, last eval score, elapsed and ETA on one live line."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, event: TrainEvent) -> None:
        if event.kind == "start":
            self.start(event)
        elif event.kind == "message":
            self.say(event.text)
        elif self.bar is None:
            return
        elif event.kind == "eval":
            self.say(eval_line(event))
            if event.score is not None:
                self.update(event, score=f"{event.metric} {event.score:.4f}")
        elif event.kind == "end":
            self.stop()
        else:
            loss = {} if event.loss is None else {"loss": f"{event.loss:.4f}"}
            self.update(event, **loss)

    def say(self, text: str) -> None:
        """A line above the live bar (or alone when none is drawn)."""
        if self.bar is None:
            out.note(text)
        else:
            self.bar.console.print(text, markup=False, highlight=False)

    def start(self, event: TrainEvent) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.stop()
        self.bar = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(bar_width=20),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("epoch {task.fields[epoch]:.2f}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[score]}"),
            TextColumn("{task.fields[elapsed]} ETA {task.fields[eta]}"),
            console=out.console(stderr=True),
        )
        score = f"{event.metric} -" if event.metric else ""
        self.task = self.bar.add_task(
            "train",
            total=event.total,
            completed=event.step,
            **self.fields(event),
            loss="-",
            score=score,
        )
        self.bar.start()

    @staticmethod
    def fields(event: TrainEvent) -> dict[str, Any]:
        return {"epoch": event.epoch, "elapsed": clock(event.elapsed), "eta": clock(event.eta)}

    def update(self, event: TrainEvent, **fields: str) -> None:
        self.bar.update(self.task, completed=event.step, **self.fields(event), **fields)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@contextmanager
def train_reporter() -> Iterator[Callable[[TrainEvent], None]]:
    """A reporter for ``finetune(report=...)``: a live bar on a terminal, else plain lines.
    A bar still drawn when the block ends (an error, Ctrl-C) is stopped first."""
    if not sys.stderr.isatty():
        yield plain_report
        return
    live = LiveTrainBar()
    try:
        yield live
    finally:
        live.stop()
