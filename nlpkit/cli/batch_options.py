"""Options of batch jobs (--input FILE --output FILE), declared once for every task command."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

PANEL = "Batch job (--input FILE --output FILE.jsonl|csv|parquet)"


class EngineName(StrEnum):
    local = "local"
    ray = "ray"


Resume = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue the job that a killed or interrupted run left beside --output "
        "(start one if there is none).",
        rich_help_panel=PANEL,
    ),
]
Processes = Annotated[
    int,
    typer.Option(
        "--processes",
        min=1,
        metavar="N",
        help="Worker processes on this machine, each with its own model copy (one per GPU).",
        rich_help_panel=PANEL,
    ),
]
Engine = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        metavar="local|ray",
        help="local: this machine; ray: Ray Data on a cluster (RAY_ADDRESS, --ray-address) "
        'or a local one; pip install "nlpkit[ray]".',
        rich_help_panel=PANEL,
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDR",
        help="The Ray cluster to run on (default: RAY_ADDRESS, else a local one).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        metavar="N",
        help="Ray actors, each loading the model once.",
        rich_help_panel=PANEL,
    ),
]
GpusPerWorker = Annotated[
    float,
    typer.Option(
        "--gpus-per-worker",
        min=0,
        metavar="N",
        help="GPUs each Ray actor takes (fractions share a GPU).",
        rich_help_panel=PANEL,
    ),
]
IdColumn = Annotated[
    str | None,
    typer.Option(
        "--id-column",
        metavar="COLUMN",
        help="The input column naming each row: carried into every output row and error.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Strict = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Stop at the first empty or unreadable row, before any model work, instead of "
        "listing such rows in OUTPUT_STEM.errors.jsonl.",
        rich_help_panel=PANEL,
    ),
]
ShardRows = Annotated[
    int,
    typer.Option(
        "--shard-rows",
        min=1,
        metavar="N",
        help="Rows per shard: the most work a kill can lose.",
        rich_help_panel=PANEL,
    ),
]
LabelColumn = Annotated[
    str | None,
    typer.Option(
        "--label-column",
        metavar="COLUMN",
        help="Gold labels (names or ids): accuracy and F1 go to OUTPUT_STEM.metrics.json.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
ReferenceColumn = Annotated[
    str | None,
    typer.Option(
        "--reference-column",
        metavar="COLUMN",
        help="Reference texts: ROUGE (summarize) or BLEU/chrF (translate) go to "
        "OUTPUT_STEM.metrics.json.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
