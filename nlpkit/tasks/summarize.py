"""Summarization with seq2seq models (BART, T5, Pegasus...)."""

from __future__ import annotations

from collections.abc import Sequence

from nlpkit.models import DEFAULT_MODELS
from nlpkit.results import Summary
from nlpkit.tasks.seq2seq import seq2seq_generate

T5_PREFIX = "summarize: "


def summarize(
    texts: str | Sequence[str],
    model: str | None = None,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str = "auto",
    progress: bool = False,
) -> list[Summary]:
    """Summarize each text; unset options use the model's own generation settings."""
    items = [texts] if isinstance(texts, str) else list(texts)
    summaries = seq2seq_generate(
        items,
        model or DEFAULT_MODELS["summarize"],
        T5_PREFIX,
        max_new_tokens,
        num_beams,
        batch_size,
        device,
        dtype,
        progress,
        "summarize",
    )
    return [Summary(text=t, summary=s) for t, s in zip(items, summaries, strict=True)]
