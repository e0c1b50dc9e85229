"""Summarization: seq2seq models (BART, T5, Pegasus...) or instruct causal LMs.

transformers 5 has no summarization pipeline. Encoder-decoder models generate
the summary directly; a causal LM is asked for one through its chat template
(or, without a template, with GPT-2's "TL;DR:" cue), so the built-in SmolLM2
summarizes offline.
"""

from __future__ import annotations

from collections.abc import Sequence

from nlpkit.devices import use_threads
from nlpkit.inputs.readers import text_list
from nlpkit.models.load import load_model, model_config, quiet_libraries
from nlpkit.models.resolve import DEFAULT_MODELS
from nlpkit.results import Summary
from nlpkit.tasks.chat import chat_ids, fit_prompts, has_chat_template
from nlpkit.tasks.generate import (
    check_generation_args,
    prepare_for_batching,
    run_generation,
    sampling_options,
)
from nlpkit.tasks.progress import Progress
from nlpkit.tasks.seq2seq import seq2seq_generate

T5_PREFIX = "summarize: "
INSTRUCTION = "Summarize the following text in one sentence:\n\n"
TLDR_SUFFIX = "\nTL;DR:"
CAUSAL_MAX_NEW_TOKENS = 60


@quiet_libraries()
def summarize(
    texts: str | Sequence[str],
    model: str | None = None,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    gguf_file: str | None = None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress = False,
    device_map: str | None = None,
    threads: int | None = None,
) -> list[Summary]:
    """Summarize each text; unset options use the model's own generation settings
    (a causal LM writes at most 60 new tokens unless told otherwise). ``threads``:
    CPU threads for torch (default: the cores no other process keeps busy)."""
    check_generation_args(max_new_tokens)
    items = text_list(texts)
    name = model or DEFAULT_MODELS["summarize"]
    encoder_decoder = model_config(name, gguf_file).is_encoder_decoder
    use_threads(threads)
    if encoder_decoder:
        summaries = seq2seq_generate(
            items,
            name,
            T5_PREFIX,
            max_new_tokens,
            num_beams,
            batch_size,
            device,
            dtype,
            progress,
            "summarize",
            gguf_file=gguf_file,
            device_map=device_map,
        )
    else:
        summaries = causal_summaries(
            items,
            name,
            max_new_tokens,
            num_beams,
            batch_size,
            device,
            dtype,
            progress,
            gguf_file,
            device_map,
        )
    return [Summary(text=t, summary=s) for t, s in zip(items, summaries, strict=True)]


def causal_summaries(
    texts: Sequence[str],
    model: str,
    max_new_tokens: int | None,
    num_beams: int | None,
    batch_size: int,
    device: str,
    dtype: str,
    progress: Progress,
    gguf_file: str | None = None,
    device_map: str | None = None,
) -> list[str]:
    """Greedy summaries from a decoder-only model, batched with left padding."""
    loaded = load_model("causal", model, device, dtype, gguf_file=gguf_file, device_map=device_map)
    prepare_for_batching(loaded)
    new_tokens = max_new_tokens or CAUSAL_MAX_NEW_TOKENS
    limit = max(1, loaded.max_input_tokens - new_tokens)
    if has_chat_template(loaded):
        ids = fit_prompts(loaded, texts, lambda t: chat_ids(loaded, INSTRUCTION + t), limit)
    else:
        tokenizer = loaded.tokenizer
        ids = fit_prompts(loaded, texts, lambda t: tokenizer(t + TLDR_SUFFIX)["input_ids"], limit)
    options = sampling_options(False, None, None, None, None)
    if num_beams:
        options["num_beams"] = num_beams
    outputs = run_generation(
        loaded, ids, batch_size, progress, "summarize", max_new_tokens=new_tokens, **options
    )
    return [_first_paragraph(text) for text, _count in outputs]


def _first_paragraph(text: str) -> str:
    """The summary proper: chat models sometimes add a blank line and commentary."""
    return text.strip().split("\n\n")[0].strip()
