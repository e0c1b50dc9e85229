"""Progress of the task functions: a callback that the caller renders, or tqdm's bar.

The task functions take ``progress=``: False (silent), a callable ``on_batch(n)``
called after each batch with the number of texts it finished (the CLI passes one and
draws its own bar over a whole input; a server could count the same way), or True
for Python users: tqdm's bar, as the rest of the Hugging Face stack shows (a notebook
widget in Jupyter, nothing when stderr is a log file). The library draws nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = bool | Callable[[int], None]


@contextmanager
def progress_bar(
    total: int, description: str, enabled: Progress
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: the callback itself when ``enabled`` is one, tqdm's
    ``update`` when it is True, else a no-op."""
    if callable(enabled):
        yield enabled
        return
    if not enabled:
        yield lambda _n: None
        return
    from tqdm.auto import tqdm

    # disable=None: no bar when stderr is not a terminal (a log file would get '\r' lines)
    with tqdm(total=total, desc=description, unit="text", leave=False, disable=None) as bar:
        yield bar.update
