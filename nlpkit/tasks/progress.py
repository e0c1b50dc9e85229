"""Progress of the task functions: a rich bar on stderr (stdout stays clean for pipes),
or a callback that a caller renders itself.

The task functions take ``progress=``: False (silent), True (this bar), or a callable
``on_batch(n)`` called after each batch with the number of texts it finished; the CLI
passes one so its own bar over a whole input advances batch by batch, and a server
could count the same way. The library never renders unless asked with True.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = bool | Callable[[int], None]


@contextmanager
def progress_bar(
    total: int, description: str, enabled: Progress
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: the bar's when ``enabled`` is True, the callback itself when
    it is one, else a no-op."""
    if callable(enabled):
        yield enabled
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:  # a log file gets no bar (rich adds a '\n')
        yield lambda _n: None
        return
    from rich import progress as bars

    columns = (
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        bars.TimeRemainingColumn(),
    )
    with bars.Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.update(task, advance=n)
