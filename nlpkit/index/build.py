"""`nlpkit index build` and `index add`: rows in, an index folder out, written whole.

Texts are embedded by a batch job (nlpkit/batch: sharded, resumable after a kill)
in a hidden work folder beside the index (``.myindex.building``); the FAISS index,
the rows and the manifest are written there and the folder is renamed into place
at the end. An existing index is replaced only with ``overwrite`` (build) or by
``index add``, which writes the grown index beside the old one and swaps them.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nlpkit.index.vectors as vx
from nlpkit.errors import InputError, OutputError
from nlpkit.index.manifest import VECTORS, IndexManifest, part_name, read_manifest
from nlpkit.index.models import check_model, model_name, pooling_name
from nlpkit.index.rows import write_part

EMBEDDING_COLUMN = "embedding"  # what the embed task's rows call the vector
TEXT_COLUMN = "text"


@dataclass(frozen=True)
class IndexResult:
    """A built or grown index: its folder, manifest, rows added and skipped."""

    path: Path
    manifest: IndexManifest
    added: int
    skipped: int
    seconds: float
    skipped_file: Path | None = None


def build_index(
    input_file: str | Path,
    output: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    vector_column: str | None = None,
    model: str | None = None,
    kind: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    skip_bad_rows: bool = False,
    **job_options: Any,
) -> IndexResult:
    """Embed every row of ``input_file`` and index the vectors in the folder ``output``.

    ``vector_column``: the file already holds the vectors (``nlpkit embed -o x.parquet``
    writes them; ``model`` names the model that made them). ``kind``: ``auto`` (exact
    below ``APPROX_FROM`` rows, IVF above), ``flat`` or ``ivf``. ``skip_bad_rows``: rows
    without text are left out (listed in ``skipped.jsonl``) instead of stopping the
    build. ``job_options`` go to the batch job (``batch_size``, ``engine``, ``progress``...).
    """
    started = time.monotonic()
    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; pass --overwrite to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # as a run folder's parents are made
    except OSError as exc:
        raise OutputError(f"{out}: cannot write there ({exc.strerror})") from None
    source = RowsIn(Path(input_file), text_column, id_column, vector_column, skip_bad_rows)
    pick_model = model_name(model)
    vx.pick_kind(1_000_000, kind)  # a bad kind fails before any embedding
    given = source.check()
    work = _work_folder(out, "building", resume, overwrite)
    table, skipped = source.vector_table(given, work, pick_model, resume, job_options)
    vectors, rows = _split(table, vector_column, None)
    index, layout = vx.build_vectors(vectors, vx.pick_kind(len(vectors), kind))
    manifest = IndexManifest(
        model=pick_model,
        pooling=pooling_name(pick_model, vector_column),
        dimension=int(vectors.shape[1]),
        count=len(vectors),
        kind=layout.kind,
        library=vx.library_version(),
        text_column=text_column or TEXT_COLUMN,
        id_column=id_column,
        nlist=layout.nlist,
        nprobe=layout.nprobe,
        parts=[part_name(0)],
    )
    _swap_into_place(_stage(work, index, rows, manifest, old=None), out)
    kept = _keep_skipped(work, out / "skipped.jsonl", skipped)
    shutil.rmtree(work)
    return IndexResult(out, read_manifest(out), len(vectors), skipped, _since(started), kept)


def add_to_index(
    index: str | Path,
    input_file: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    vector_column: str | None = None,
    model: str | None = None,
    resume: bool = False,
    skip_bad_rows: bool = False,
    **job_options: Any,
) -> IndexResult:
    """Embed the rows of ``input_file`` with the index's model and add them to ``index``.
    The grown index is written beside the old one and swapped in whole."""
    started = time.monotonic()
    folder = Path(index)
    manifest = read_manifest(folder)
    if model is not None:
        check_model(manifest.model, model_name(model), folder)
    id_column = id_column or manifest.id_column
    source = RowsIn(Path(input_file), text_column, id_column, vector_column, skip_bad_rows)
    given = source.check()
    if given is not None:
        _split(given, vector_column, manifest.dimension)  # a wrong dimension fails here
    work = _work_folder(folder, "adding", resume, overwrite=False)
    table, skipped = source.vector_table(given, work, manifest.model, resume, job_options)
    vectors, rows = _split(table, vector_column, manifest.dimension)
    grown = vx.read_vectors(folder / VECTORS, vx.Layout(manifest.kind), writable=True)
    grown.add(vectors)
    parts = [*manifest.parts, part_name(len(manifest.parts))]
    new = replace(manifest, count=grown.ntotal, parts=parts)
    _swap_into_place(_stage(work, grown, rows, new, old=folder), folder)
    kept = _keep_skipped(work, folder / f"skipped-{len(parts) - 1:05d}.jsonl", skipped)
    shutil.rmtree(work)
    return IndexResult(folder, read_manifest(folder), len(vectors), skipped, _since(started), kept)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _work_folder(out: Path, doing: str, resume: bool, overwrite: bool) -> Path:
    """The hidden folder an unfinished build or add keeps its embedded shards in."""
    work = out.parent / f".{out.name}.{doing}"
    if work.exists() and not resume:
        if not overwrite:
            raise OutputError(
                f"{work}: an unfinished {doing.removesuffix('ing')} of {out}; pass --resume "
                "to continue it" + (", or --overwrite to start over" if doing == "building" else "")
            )
        shutil.rmtree(work)
    work.mkdir(exist_ok=True)
    return work


@dataclass(frozen=True)
class RowsIn:
    """The rows to index and how to read them."""

    path: Path
    text_column: str | None
    id_column: str | None
    vector_column: str | None
    skip_bad_rows: bool

    def check(self) -> Any:
        """Every check on the input that needs no model, before any folder is made;
        the input's table when it holds the vectors already."""
        if self.vector_column is not None:
            return _given_vectors(self.path, self.vector_column)
        _check_text_column(self.path, self.text_column)
        if not self.skip_bad_rows:
            _refuse_bad_rows(self.path, self.text_column)
        return None

    def vector_table(
        self, given: Any, work: Path, model: str, resume: bool, job_options: dict[str, Any]
    ) -> tuple[Any, int]:
        """(arrow table with a vector column, rows skipped): the given table, or the embed
        job's output (resumed from the shards in ``work``)."""
        import pyarrow.parquet as pq

        if given is not None:
            return given, 0
        output = work / "vectors.parquet"
        unfinished = output.with_name(output.name + ".parts").exists()
        if not (resume and output.is_file() and not unfinished):
            from nlpkit.batch.job import run_job
            from nlpkit.tasks.embed import TASK

            result = run_job(
                TASK.command,
                self.path,
                output,
                text_column=self.text_column,
                id_column=self.id_column,
                resume=resume and unfinished,
                overwrite=True,
                model=model,
                normalize=True,
                **job_options,
            )
            if not result.rows:
                shutil.rmtree(work)
                raise InputError(f"{self.path}: no row has text to index")
        skipped = output.with_name("vectors.errors.jsonl")
        count = sum(1 for _ in skipped.open(encoding="utf-8")) if skipped.is_file() else 0
        return pq.read_table(output), count


def _given_vectors(path: Path, column: str) -> Any:
    import pyarrow.parquet as pq

    if path.suffix.lower() != ".parquet":
        raise InputError(f"{path}: vector_column= reads a parquet file", param="vector_column")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    if column not in table.column_names:
        names = ", ".join(map(repr, table.column_names))
        raise InputError(f"{path}: no column '{column}'; columns are {names}")
    return table


def _check_text_column(path: Path, text_column: str | None) -> None:
    """A parquet text column must hold text: numbers or lists are refused here, by name."""
    if path.suffix.lower() != ".parquet" or not path.is_file():
        return  # other files: the batch job reads them and names bad rows
    import pyarrow as pa

    from nlpkit.batch.rows import RowSource

    source = RowSource(path, text_column)
    name = source.text_name(source.columns())
    import pyarrow.parquet as pq

    kind = pq.ParquetFile(path).schema_arrow.field(name).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError(
            f"{path}: column '{name}' holds {kind}, not text; pass --text-column with a "
            "column of text",
            param="text_column",
        )


def _refuse_bad_rows(path: Path, text_column: str | None) -> None:
    """The first row without text (empty, null, a list), by name, before any embedding."""
    from nlpkit.batch.rows import RowSource

    for row in RowSource(path, text_column, carried=()).rows():
        if row.error is not None:
            raise InputError(
                f"{row.where}: {row.error}; fix the row, or pass skip_bad_rows=True to leave "
                "such rows out",
                param="skip_bad_rows",
            )


def _split(table: Any, vector_column: str | None, dimension: int | None) -> tuple[Any, Any]:
    """(float32 unit vectors [n, dim], the other columns) of ``table``."""
    import numpy as np

    name = vector_column or EMBEDDING_COLUMN
    lists = table[name].combine_chunks()
    lengths = set(np.unique(lists.value_lengths().to_numpy(zero_copy_only=False)).tolist())
    if len(lengths) != 1 or lists.null_count:
        raise InputError(f"column '{name}': every row needs a vector of one length")
    width = lengths.pop()
    if dimension is not None and width != dimension:
        raise InputError(
            f"vectors of dimension {width} cannot join an index of dimension {dimension}; "
            "embed them with the index's model",
        )
    flat = np.asarray(lists.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    vectors = flat.reshape(len(table), width)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12)), table.drop_columns([name])


def _stage(work: Path, index: Any, rows: Any, manifest: IndexManifest, old: Path | None) -> Path:
    """The new index folder, complete, in ``work``: old parts linked, new files written,
    the manifest last."""
    staging = work / "index"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    if old is not None:
        for name in manifest.parts[:-1]:
            os.link(old / name, staging / name)
    write_part(rows, staging / manifest.parts[-1])
    vx.write_vectors(index, staging / VECTORS)
    (staging / "manifest.json").write_text(manifest.with_files(staging).to_json(), "utf-8")
    return staging


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an existing ``out`` is moved aside first, then removed."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old)


def _keep_skipped(work: Path, kept: Path, skipped: int) -> Path | None:
    """The skipped rows' list, moved into the index folder (it is not part of the index)."""
    if not skipped:
        return None
    os.replace(work / "vectors.errors.jsonl", kept)
    return kept
