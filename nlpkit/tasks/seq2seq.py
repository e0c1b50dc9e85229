"""Seq2seq generation over AutoModelForSeq2SeqLM, because transformers 5 removed
the summarization and translation pipelines. T5-style models get their task prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from nlpkit.models.load import LoadedModel, load_model
from nlpkit.tasks.batching import tokenize_truncated
from nlpkit.tasks.generate import check_generation_args, run_generation
from nlpkit.tasks.progress import Progress


def seq2seq_generate(
    texts: Sequence[str],
    model: str,
    prefix: str,
    max_new_tokens: int | None,
    num_beams: int | None,
    batch_size: int,
    device: str,
    dtype: str,
    progress: Progress,
    description: str,
    gguf_file: str | None = None,
    device_map: str | None = None,
) -> list[str]:
    """Generated text per input; unset options fall back to the model's generation_config."""
    check_generation_args(max_new_tokens)
    loaded = load_model("seq2seq", model, device, dtype, gguf_file=gguf_file, device_map=device_map)
    prefixed = [prefix + text for text in texts] if needs_prefix(loaded) else list(texts)
    ids = tokenize_truncated(loaded, prefixed, loaded.max_input_tokens)
    options = {"max_new_tokens": max_new_tokens, "num_beams": num_beams}
    options = {key: value for key, value in options.items() if value is not None}
    outputs = run_generation(loaded, ids, batch_size, progress, description, **options)
    return [text.strip() for text, _count in outputs]


def needs_prefix(loaded: LoadedModel) -> bool:
    """T5-family models were trained with task prefixes such as 'summarize: '."""
    return loaded.model.config.model_type in ("t5", "mt5", "umt5", "longt5")
