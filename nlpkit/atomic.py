"""Files written whole or not at all, with the permissions the user's umask gives.

Every file nlpkit writes (task outputs, run folders, the model store) goes through
here: a temp file beside the target, renamed onto it when complete, so a reader
never sees half a file. ``tempfile.mkstemp`` makes 0600 files and ``mkdtemp``
0700 folders; they are widened to what ``open()`` would have given (0666 or 0777
less the umask), so an output file reads like any other file the user makes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly process-wide)
    os.umask(mask)
    return mask


def temp_beside(path: Path) -> tuple[int, Path]:
    """An open temp file in ``path``'s folder, with umask permissions: (fd, temp path)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~umask())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, Path(tmp)


def temp_dir_beside(folder: Path, prefix: str) -> Path:
    """A new hidden folder inside ``folder`` with umask permissions (renamed into place later)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    os.chmod(tmp, 0o777 & ~umask())
    return tmp


def widen_to_umask(folder: Path) -> None:
    """Give everything under ``folder`` the permissions the umask gives: libraries that
    save models (safetensors) write their files 0600, like ``mkstemp``."""
    mask = umask()
    for path in [Path(folder), *Path(folder).rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


@contextmanager
def atomic_write(
    path: Path,
    mode: str = "w",
    keep_on: tuple[type[BaseException], ...] = (),
    temp: tuple[int, Path] | None = None,
) -> Iterator[IO]:
    """Yield a handle on a temp file that is renamed onto ``path`` when the block ends.

    An exception removes the temp file (no half-written output), except those in
    ``keep_on``: what was written so far is renamed into place before it propagates
    (Ctrl-C keeps the rows already done). ``temp`` is a ``temp_beside(path)`` result
    made earlier by a caller that checks the destination first.
    """
    fd, tmp = temp if temp is not None else temp_beside(path)
    text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    try:
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
    except keep_on:
        os.replace(tmp, path)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        handle.write(text)
