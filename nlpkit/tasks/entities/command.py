"""`nlpkit entities`: parse, call entities, render."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.inputs.readers import text_arguments
from nlpkit.models.resolve import DEFAULT_MODELS
from nlpkit.tasks.entities.aggregate import AGGREGATIONS

ENTITIES_DEFAULT_HELP = f"{DEFAULT_MODELS['entities']} (English: PER, ORG, LOC, MISC)"
Aggregation = StrEnum("Aggregation", {name: name for name in AGGREGATIONS})


@with_task_options
def entities_cmd(
    texts: opt.Texts = None,
    model: opt.model_option(ENTITIES_DEFAULT_HELP) = None,
    aggregation: Annotated[
        Aggregation,
        typer.Option(
            "--aggregation",
            metavar="|".join(AGGREGATIONS),
            help="How tokens become entities, as transformers' pipeline names it: simple "
            "groups adjacent tokens of one type; first, average and max settle each word's "
            "type first; none lists every tagged token.",
        ),
    ] = Aggregation.simple,
    backend: opt.BackendOption = opt.Backend.auto,
    label_column: bopt.LabelColumn = None,
    *,
    shared: TaskOptions,
) -> None:
    """Find named entities (people, places, organizations...) with their character offsets.

    Example: nlpkit entities "Angela Merkel visited Paris in 2019."
    """
    from nlpkit.tasks.entities import entities

    shared.score_against(label_column)  # gold tags, one per word of the text
    options = {"model": model, "aggregation": aggregation.value, "backend": backend.value}
    shared.run(entities, text_arguments(texts or []), "entities", **options)
