"""`nlpkit index build|add`: embed a corpus into an index folder, add rows to one."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.cli.render import emit, out

if TYPE_CHECKING:
    from nlpkit.index import IndexResult

app = typer.Typer(
    name="index",
    help="Build a semantic-search index from a corpus, or add rows to one (see nlpkit search).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
Kind = StrEnum("Kind", {name: name for name in ("auto", "flat", "ivf")})

Corpus = Annotated[
    Path,
    typer.Option(
        "--input",
        "-i",
        metavar="FILE",
        show_default=False,
        help="The rows to index: .parquet, .csv, .tsv, .jsonl, .json or .txt.",
    ),
]
VectorColumn = Annotated[
    str | None,
    typer.Option(
        "--vector-column",
        metavar="COLUMN",
        show_default=False,
        help="A parquet column that already holds the vectors (nlpkit embed -o x.parquet "
        "writes 'embedding'); --model names the model that made them.",
    ),
]
SkipBadRows = Annotated[
    bool,
    typer.Option(
        "--skip-bad-rows",
        help="Leave out rows without text (listed in the index's skipped*.jsonl) instead "
        "of stopping at the first one.",
    ),
]
IndexModel = opt.model_option("minilm (built in, offline); the index keeps its name")


@app.command("build")
def build_cmd(
    input_file: Corpus,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="DIR", show_default=False, help="The index folder to make."
        ),
    ],
    text_column: opt.TextColumn = None,
    id_column: bopt.IdColumn = None,
    vector_column: VectorColumn = None,
    model: IndexModel = None,
    kind: Annotated[
        Kind,
        typer.Option(
            "--kind",
            metavar="auto|flat|ivf",
            help="flat: exact search; ivf: approximate (FAISS IVF, its nprobe calibrated "
            "on the corpus for recall@10 >= 0.99); auto: flat below 100,000 rows.",
        ),
    ] = Kind.auto,
    skip_bad_rows: SkipBadRows = False,
    resume: bopt.Resume = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the index folder if it exists.")
    ] = False,
    batch_size: opt.BatchSize = None,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    processes: bopt.Processes = 1,
    format: opt.Format = opt.OutputFormat.table,
) -> None:
    """Embed every row of a corpus and index the vectors for nlpkit search.

    Example: nlpkit index build -i corpus.parquet --text-column text -o myindex/
    """
    from nlpkit.index import build_index

    options = _job_options(batch_size, device, threads, processes)
    with _progress("index") as progress:
        result = build_index(
            input_file,
            output,
            text_column=text_column,
            id_column=id_column,
            vector_column=vector_column,
            model=model,
            kind=kind.value,
            resume=resume,
            overwrite=overwrite,
            skip_bad_rows=skip_bad_rows,
            progress=progress,
            **options,
        )
    _report(result, "built", format)


@app.command("add")
def add_cmd(
    index: Annotated[Path, typer.Argument(metavar="DIR", help="The index folder.")],
    input_file: Corpus,
    text_column: opt.TextColumn = None,
    id_column: bopt.IdColumn = None,
    vector_column: VectorColumn = None,
    model: opt.model_option("the index's model (another one is refused)") = None,
    skip_bad_rows: SkipBadRows = False,
    resume: bopt.Resume = False,
    batch_size: opt.BatchSize = None,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    processes: bopt.Processes = 1,
    format: opt.Format = opt.OutputFormat.table,
) -> None:
    """Embed more rows with the index's model and add them (the index is swapped whole).

    Example: nlpkit index add myindex/ -i more.parquet
    """
    from nlpkit.index import add_to_index

    options = _job_options(batch_size, device, threads, processes)
    with _progress("index add") as progress:
        result = add_to_index(
            index,
            input_file,
            text_column=text_column,
            id_column=id_column,
            vector_column=vector_column,
            model=model,
            resume=resume,
            skip_bad_rows=skip_bad_rows,
            progress=progress,
            **options,
        )
    _report(result, "added to", format)


def _job_options(
    batch_size: int | None, device: str, threads: int | None, processes: int
) -> dict[str, Any]:
    from nlpkit.batch.job import Engine
    from nlpkit.devices import check_device_name

    check_device_name(device)
    options: dict[str, Any] = {
        "device": device,
        "threads": threads,
        "engine": Engine(processes=processes),
    }
    if batch_size is not None:
        options["batch_size"] = batch_size
    return options


def _progress(title: str) -> Any:
    from nlpkit.cli.progress import JobProgress

    return JobProgress(title)


def _report(result: IndexResult, verb: str, format: opt.OutputFormat) -> None:
    manifest = result.manifest
    if format != opt.OutputFormat.table:
        emit(
            [
                {
                    "path": str(result.path),
                    "added": result.added,
                    "skipped": result.skipped,
                    "seconds": result.seconds,
                    **asdict(manifest),
                }
            ],
            format,
        )
        return
    layout = (
        f"ivf, {manifest.nlist} cells, nprobe {manifest.nprobe}"
        if manifest.kind == "ivf"
        else "flat (exact)"
    )
    out.result(
        f"{result.added} rows {verb} {result.path}: {manifest.count} vectors of dimension "
        f"{manifest.dimension}, {layout}, model {manifest.model}"
    )
    out.note(f"in {result.seconds:.1f} s")
    if result.skipped_file is not None:
        out.note(f"{result.skipped} rows without text left out -> {result.skipped_file}")
