"""Chat models: prompts through the tokenizer's chat template, and token streaming."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nlpkit.errors import NlpkitWarning, UsageError
from nlpkit.tasks.batching import tokenize_truncated

if TYPE_CHECKING:  # annotations only: the loader is not imported for them
    from nlpkit.models.load import LoadedModel


def has_chat_template(loaded: LoadedModel) -> bool:
    return bool(getattr(loaded.tokenizer, "chat_template", None))


def use_chat(loaded: LoadedModel, chat: bool | None) -> bool:
    """``chat=None`` means: use the template when the model has one."""
    available = has_chat_template(loaded)
    if chat and not available:
        raise UsageError(
            f"model '{loaded.name}' has no chat template; pass chat=False to continue plain text",
            param="chat",
        )
    return available if chat is None else chat


def prompt_ids(
    loaded: LoadedModel,
    texts: Sequence[str],
    chat: bool | None,
    system: str | None,
    max_length: int,
) -> list[list[int]]:
    """Token ids per prompt: a user turn of the chat template, or the plain text."""
    if use_chat(loaded, chat):
        return fit_prompts(loaded, texts, lambda text: chat_ids(loaded, text, system), max_length)
    if system:
        raise UsageError(
            "system needs a chat model (one whose tokenizer has a chat template)", param="system"
        )
    return tokenize_truncated(loaded, texts, max_length)


def chat_ids(loaded: LoadedModel, text: str, system: str | None = None) -> list[int]:
    """``text`` as the user's turn, ending where the assistant's reply begins."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    return messages_ids(loaded, messages)


def messages_ids(loaded: LoadedModel, messages: Sequence[dict[str, str]]) -> list[int]:
    """A whole conversation (``role``/``content`` dicts), ending where the assistant's
    next reply begins."""
    tokenizer = loaded.tokenizer
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template writes the special tokens itself; adding more would double the BOS.
    return tokenizer(rendered, add_special_tokens=False)["input_ids"]


def fit_prompts(
    loaded: LoadedModel,
    texts: Sequence[str],
    render: Callable[[str], list[int]],
    max_length: int,
) -> list[list[int]]:
    """``render(text)`` per text; a text too long is cut at its end so the prompt around it
    (template, instruction) stays whole. Warns once when any text was cut."""
    rows, cut = [], 0
    for text in texts:
        ids = render(text)
        if len(ids) > max_length:
            ids = _shorten(loaded, text, render, max_length)
            cut += 1
        rows.append(ids)
    if cut:
        warnings.warn(
            f"{cut} of {len(rows)} texts were too long for the model's {max_length}-token "
            "prompt and were truncated",
            NlpkitWarning,
            stacklevel=3,
        )
    return rows


def _shorten(loaded: LoadedModel, text: str, render, max_length: int) -> list[int]:
    """Drop tokens from the end of ``text`` until its rendered prompt fits."""
    content = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
    keep, ids = len(content), render(text)
    while len(ids) > max_length and keep > 0:
        keep = max(0, keep - (len(ids) - max_length))
        ids = render(loaded.tokenizer.decode(content[:keep]))
    return ids


def make_streamer(loaded: LoadedModel, callback: Callable[[str], None]):
    """A transformers TextStreamer that hands each finished piece of text to ``callback``."""
    from transformers import TextStreamer

    class CallbackStreamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                callback(text)

    return CallbackStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
