"""Content digests of model files, remembered by path, size, mtime and inode.

Built-in model store entries are named by what they are made of (the digests of
their files), so two installs of nlpkit that share ``$NLPKIT_HOME`` find the same
entry. Hashing the 91 MB MiniLM weights takes a noticeable part of a second, so each
install hashes a file once and then trusts the file's ``stat`` (as git's index does):
a one-sentence command pays a few ``stat`` calls and one small JSON read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from nlpkit.atomic import atomic_write

CACHE_FILE = "digests.json"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def digests(paths: Iterable[Path], cache_folder: Path) -> list[str]:
    """The sha256 of each of ``paths``, in order; unchanged files come from the cache in
    ``cache_folder`` (written back, atomically, when a file had to be hashed). A cache
    that cannot be read or written only costs hashing again."""
    cache_path = cache_folder / CACHE_FILE
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    found, changed = [], False
    for path in paths:
        resolved = os.path.realpath(path)
        stamp = _stamp(Path(resolved))
        known = cache.get(resolved)
        if not (isinstance(known, list) and known[:3] == stamp and len(known) == 4):
            cache[resolved] = [*stamp, file_digest(Path(resolved))]
            changed = True
        found.append(cache[resolved][3])
    if changed:
        _save(cache_path, cache)
    return found


def _save(cache_path: Path, cache: dict) -> None:
    # Forget files that are gone (an uninstalled venv), so the cache stays small.
    kept = {path: entry for path, entry in cache.items() if os.path.exists(path)}
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache_path) as handle:
            handle.write(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only store: the digests are computed again next time


def content_key(parts: dict[str, object]) -> str:
    """One hex digest of a JSON-able description (file digests, versions)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
