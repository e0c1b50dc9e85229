"""The manifest a model store entry carries: what it was made from, so a later run knows
whether the entry is current (built-in entries: a key of their contents; converted
files: their path, size and mtime)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nlpkit.models.builtin import BuiltinAdapter, BuiltinModel

MANIFEST = "nlpkit-model.json"


def read_manifest(folder: Path) -> dict | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_current(folder: Path, source: Path, key: str | None = None) -> bool:
    """A complete entry made of these contents (``key``), or else from this very file
    (same path, size and mtime)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    if key is not None:
        return manifest.get("key") == key
    stat = source.stat()
    return manifest.get("source") == str(source) and manifest.get("source_stat") == [
        stat.st_size,
        stat.st_mtime_ns,
    ]


def write_manifest(
    folder: Path, source: Path, key: str | None, builtin: BuiltinModel | BuiltinAdapter | None
) -> None:
    import transformers

    manifest: dict = {"created": time.strftime("%Y-%m-%d %H:%M:%S")}
    if builtin is not None:
        # no path: the entry is shared by every install made of the same files
        manifest |= {"source": builtin.source_label, "builtin": builtin.name, "key": key}
    else:
        stat = source.stat()
        manifest |= {"source": str(source), "source_stat": [stat.st_size, stat.st_mtime_ns]}
    manifest["transformers"] = transformers.__version__
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
