"""A job's parts folder: one file per done shard and a manifest naming the done ones.

    out.parquet.parts/
        manifest.json          the job's settings, the input's size and time, done shards
        00000.parquet          shard 0's output rows, in the output's format
        00003.errors.jsonl     shard 3's unreadable rows (only when it has some)

A shard file is written whole (a temp file renamed into place) before the manifest
names it, so after a kill -9 the manifest lists only complete shards; a shard file
the manifest does not name is redone. At the end the shards are joined, in order,
into the output (again through a temp file), and the folder is removed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nlpkit.atomic import atomic_write, write_text
from nlpkit.batch.predict import ShardOutput
from nlpkit.batch.writers import joined_schema, row_writer
from nlpkit.errors import OutputError, first_line

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Parts:
    """The parts folder beside ``output``."""

    output: Path
    fmt: str

    @property
    def folder(self) -> Path:
        return self.output.with_name(self.output.name + ".parts")

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OutputError(
                f"{self.folder / MANIFEST}: unreadable ({first_line(exc)}); "
                "remove the folder or pass --overwrite to start over"
            ) from None
        return manifest if manifest.get("version") == MANIFEST_VERSION else None

    def start(self, manifest: dict[str, Any]) -> None:
        """A fresh folder holding ``manifest`` (anything there before is removed)."""
        self.remove()
        self.folder.mkdir()
        self.save(manifest)

    def save(self, manifest: dict[str, Any]) -> None:
        write_text(self.folder / MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")

    def shard_file(self, index: int) -> Path:
        return self.folder / f"{index:05d}.{self.fmt}"

    def errors_file(self, index: int) -> Path:
        return self.folder / f"{index:05d}.errors.jsonl"

    def write(self, shard: ShardOutput) -> None:
        """The shard's rows and errors, each file whole or not at all."""
        with atomic_write(self.shard_file(shard.index), _mode(self.fmt)) as handle:
            writer = row_writer(handle, self.fmt)
            writer.write(shard.rows)
            writer.close()
        if shard.errors:
            with atomic_write(self.errors_file(shard.index)) as handle:
                writer = row_writer(handle, "jsonl")
                writer.write(shard.errors)

    def join(self, output: Path, shards: int) -> None:
        """The shards' rows, in order, as ``output`` (written through a temp file)."""
        with atomic_write(output, _mode(self.fmt)) as handle:
            if self.fmt == "parquet":
                _join_parquet(handle, [self.shard_file(i) for i in range(shards)])
            else:
                _join_text(handle, [self.shard_file(i) for i in range(shards)], self.fmt)

    def join_errors(self, path: Path, shards: int) -> None:
        files = [self.errors_file(i) for i in range(shards)]
        with atomic_write(path, "wb") as handle:
            for file in files:
                if file.exists():
                    with file.open("rb") as part:
                        shutil.copyfileobj(part, handle)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _mode(fmt: str) -> str:
    return "wb" if fmt == "parquet" else "w"


def _join_text(handle: IO[str], files: list[Path], fmt: str) -> None:
    """jsonl shards end to end; csv shards too, with the header of the first one only."""
    header_written = False
    for file in files:
        with file.open(encoding="utf-8", newline="") as part:
            if fmt == "csv":
                header = part.readline()
                if not header:
                    continue  # a shard whose rows were all unreadable
                if not header_written:
                    handle.write(header)
                    header_written = True
            shutil.copyfileobj(part, handle)


def _join_parquet(handle: IO[bytes], files: list[Path]) -> None:
    """The shards' row groups in order, under the first shard's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        # a shard whose lists were all empty holds list<null> where the others know the type
        schema = joined_schema([pq.read_schema(file) for file in files])
        for group in _row_groups(files):
            if writer is None:
                writer = pq.ParquetWriter(handle, schema)
            writer.write_table(group.cast(schema))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise OutputError(
            f"cannot join the shards as parquet ({first_line(exc)}): a column holds "
            "different types in different rows; write jsonl instead"
        ) from None
    if writer is None:
        pq.write_table(pa.table({}), handle)  # no rows: still a readable file
    else:
        writer.close()


def _row_groups(files: list[Path]) -> Iterator[Any]:
    import pyarrow.parquet as pq

    for file in files:
        part = pq.ParquetFile(file)
        for group in range(part.num_row_groups):
            table = part.read_row_group(group)
            if table.num_rows:
                yield table
