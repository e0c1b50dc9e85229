"""`nlpkit summarize`: parse, call summarize, render."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.inputs.readers import text_arguments
from nlpkit.models.builtin import BUILTIN_GENERATOR
from nlpkit.models.resolve import DEFAULT_MODELS

SUMMARIZE_DEFAULT_HELP = f"{DEFAULT_MODELS['summarize']}; offline: --model {BUILTIN_GENERATOR}"


@with_task_options
def summarize_cmd(
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TEXT|FILE",
            help="Texts or .txt files (a file is one document); '-' reads stdin.",
            show_default=False,
        ),
    ] = None,
    model: opt.model_option(SUMMARIZE_DEFAULT_HELP, gguf=True) = None,
    max_new_tokens: opt.MaxNewTokens = None,
    num_beams: opt.NumBeams = None,
    gguf_file: opt.GgufFile = None,
    reference_column: bopt.ReferenceColumn = None,
    *,
    shared: TaskOptions,
) -> None:
    """Summarize documents with a seq2seq model (BART, T5...) or a chat model (smollm2).

    Example: nlpkit summarize article.txt --max-new-tokens 60
    """
    from nlpkit.tasks.generate import check_generation_args
    from nlpkit.tasks.summarize import summarize

    check_generation_args(max_new_tokens)
    documents = text_arguments(texts or [], documents=True)
    options = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, "gguf_file": gguf_file}
    shared.score_against(reference_column)
    shared.run(summarize, documents, "summarize", model=model, **options)
