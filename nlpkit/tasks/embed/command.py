"""`nlpkit embed`: parse, call embed, render (a preview on screen, whole vectors in files)."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.inputs.readers import text_arguments
from nlpkit.models.resolve import DEFAULT_MODELS

EMBED_DEFAULT_HELP = (
    "minilm (built in, offline: all-MiniLM-L6-v2, 384 dimensions); "
    f"e.g. {DEFAULT_MODELS['embed']} from the Hub"
)
Normalize = Annotated[
    bool,
    typer.Option(
        "--normalize/--no-normalize",
        help="Scale vectors to unit length (a dot product is then the cosine).",
    ),
]
Chunk = Annotated[
    bool,
    typer.Option(
        "--chunk",
        help="Read a text longer than the model's input in windows and average their "
        "vectors (default: cut it at the model's limit, with a warning).",
    ),
]


@with_task_options
def embed_cmd(
    texts: opt.Texts = None,
    model: opt.model_option(EMBED_DEFAULT_HELP) = None,
    normalize: Normalize = True,
    chunk: Chunk = False,
    backend: opt.BackendOption = opt.Backend.auto,
    *,
    shared: TaskOptions,
) -> None:
    """Turn texts into sentence vectors (embeddings): a preview on screen, whole vectors
    in --output files (parquet: one fixed-size list column).

    Example: nlpkit embed "I love Python!"
    """
    from nlpkit.tasks.embed import embed_preview, embed_rows

    screen = shared.output is None and shared.format == opt.OutputFormat.table
    options = {"model": model, "normalize": normalize, "chunk": chunk, "backend": backend.value}
    shared.run(
        embed_preview if screen else embed_rows, text_arguments(texts or []), "embed", **options
    )


def similarity_cmd(
    texts: Annotated[list[str], typer.Argument(help="Two or more texts ('-' reads stdin).")],
    model: opt.model_option(EMBED_DEFAULT_HELP) = None,
    backend: opt.BackendOption = opt.Backend.auto,
    threads: opt.Threads = None,
    format: opt.Format = opt.OutputFormat.table,
) -> None:
    """Score how alike texts are in meaning (cosine of their sentence vectors, -1 to 1):
    one score for two texts, a matrix for more.

    Example: nlpkit similarity "A man is playing guitar." "Someone plays an instrument."
    """
    from nlpkit.cli.render import emit
    from nlpkit.tasks.embed.similarity import similarity, similarity_rows

    items = text_arguments(texts)
    scores = similarity(items, model=model, backend=backend.value, threads=threads)
    emit(similarity_rows(items, scores), format, title="similarity")
