"""`nlpkit translate`: parse, pick the language pair's model, call translate, render."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.cli.render import out
from nlpkit.inputs.readers import text_arguments
from nlpkit.models.resolve import TRANSLATION_MODEL_TEMPLATE


@with_task_options
def translate_cmd(
    texts: opt.Texts = None,
    src: Annotated[str, typer.Option("--src", help="Source language code (ISO 639-1).")] = "en",
    tgt: Annotated[str, typer.Option("--tgt", help="Target language code (ISO 639-1).")] = "de",
    model: opt.model_option(TRANSLATION_MODEL_TEMPLATE) = None,
    max_new_tokens: opt.MaxNewTokens = None,
    num_beams: opt.NumBeams = None,
    reference_column: bopt.ReferenceColumn = None,
    *,
    shared: TaskOptions,
) -> None:
    """Translate texts with a seq2seq model (opus-mt for the language pair by default).

    Example: nlpkit translate --src en --tgt de "How are you?"
    """
    from nlpkit.tasks.generate import check_generation_args
    from nlpkit.tasks.translate import pick_translation_model, translate

    check_generation_args(max_new_tokens)
    source = shared.source(text_arguments(texts or []))
    shared.score_against(reference_column)
    if not shared.job(source):  # a job lists bad rows in its errors file
        source.count()  # bad input fails before the model is named
    name = pick_translation_model(src, tgt, model)
    out.note(f"model: {name}")
    options = {"max_new_tokens": max_new_tokens, "num_beams": num_beams}
    shared.run(translate, source, "translate", src=src, tgt=tgt, model=name, **options)
