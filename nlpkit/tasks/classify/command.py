"""`nlpkit classify`: parse, call classify, render."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.inputs.readers import text_arguments
from nlpkit.models.builtin import BUILTIN_CLASSIFIER
from nlpkit.models.resolve import DEFAULT_MODELS

CLASSIFY_DEFAULT_HELP = (
    f"{BUILTIN_CLASSIFIER} (built in, offline: MiniLM fine-tuned on SST-2 by nlpkit, "
    f"negative/positive); e.g. {DEFAULT_MODELS['classify']} from the Hub"
)


@with_task_options
def classify_cmd(
    texts: opt.Texts = None,
    model: opt.model_option(CLASSIFY_DEFAULT_HELP) = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Labels to show per text.")] = 1,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Comma-separated label names, for models without them.",
            show_default=False,
        ),
    ] = None,
    backend: opt.BackendOption = opt.Backend.auto,
    label_column: bopt.LabelColumn = None,
    *,
    shared: TaskOptions,
) -> None:
    """Label texts with a text-classification model (sentiment by default).

    Example: nlpkit classify "I love Python!" "This is awful" --top-k 2
    """
    from nlpkit.tasks.classify import classify

    names = [name.strip() for name in labels.split(",")] if labels else None
    shared.score_against(label_column)
    options = {"model": model, "top_k": top_k, "labels": names, "backend": backend.value}
    shared.run(classify, text_arguments(texts or []), "classify", **options)
