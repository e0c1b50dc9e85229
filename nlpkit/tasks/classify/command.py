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
    candidate_labels: Annotated[
        str | None,
        typer.Option(
            "--candidate-labels",
            help="Zero-shot: comma-separated labels to choose from, no training (with an "
            "NLI --model, or the built-in minilm embedding model by default).",
            show_default=False,
        ),
    ] = None,
    label_template: Annotated[
        str | None,
        typer.Option(
            "--label-template",
            help='Zero-shot: the sentence a label becomes ({} is the label); default "This '
            'example is {}." for NLI models, "This text is about {}." for embedding models.',
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

    Zero-shot: nlpkit classify --candidate-labels "sports,politics,business" "The match ended 2-1."
    """
    from nlpkit.tasks.classify import classify

    names = [name.strip() for name in labels.split(",")] if labels else None
    shared.score_against(label_column)
    options = {"model": model, "top_k": top_k, "labels": names, "backend": backend.value}
    if candidate_labels is not None:
        options["candidate_labels"] = candidate_labels.split(",")
    if label_template is not None:
        options["label_template"] = label_template
    shared.run(classify, text_arguments(texts or []), "classify", **options)
