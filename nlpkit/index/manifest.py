"""An index folder and its manifest: what was indexed, with what, in which files.

    myindex/
      manifest.json      model, pooling, dimension, metric, count, layout, library, files
      vectors.faiss      the FAISS index (ids 0..count-1, in row order)
      rows-00000.parquet the rows' text, id and other columns, in the same order
      rows-00001.parquet ...one more part per `nlpkit index add`

The manifest is written last and records every file's size, so a missing or
truncated file is named before anything reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from nlpkit.errors import InputError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
METRIC = "cosine"  # unit vectors, inner product
REBUILD = "rebuild it with nlpkit index build --overwrite"


@dataclass(frozen=True)
class IndexManifest:
    """Everything a search needs to know before it embeds a query."""

    model: str
    pooling: str
    dimension: int
    count: int
    kind: str  # flat | ivf
    library: str  # e.g. "faiss-cpu 1.15.1"
    text_column: str
    id_column: str | None = None
    nlist: int | None = None
    nprobe: int | None = None
    metric: str = METRIC
    parts: list[str] = field(default_factory=list)  # rows parquet files, in order
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes
    format_version: int = FORMAT_VERSION

    def with_files(self, folder: Path) -> IndexManifest:
        """This manifest with the current sizes of its folder's files."""
        names = [VECTORS, *self.parts]
        return replace(self, files={name: (folder / name).stat().st_size for name in names})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def part_name(number: int) -> str:
    return f"rows-{number:05d}.parquet"


def read_manifest(folder: str | Path) -> IndexManifest:
    """The manifest of the index in ``folder``, after checking its files are whole."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such index folder; make one with nlpkit index build")
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = IndexManifest(**data)
    except FileNotFoundError:
        raise InputError(f"{folder}: not an nlpkit index (no {MANIFEST}); {REBUILD}") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a readable index manifest ({exc}); {REBUILD}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise InputError(
            f"{folder}: index format {manifest.format_version}, this nlpkit reads "
            f"{FORMAT_VERSION}; {REBUILD}"
        )
    _check_files(folder, manifest)
    return manifest


def _check_files(folder: Path, manifest: IndexManifest) -> None:
    for name, size in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: missing from the index; {REBUILD}")
        found = path.stat().st_size
        if found != size:
            raise InputError(
                f"{path}: {found} bytes, the manifest recorded {size} (truncated or "
                f"changed); {REBUILD}"
            )
