"""Checks shared by question answering's training and inference: a question needs a
non-empty context, windows need room for new context tokens."""

from __future__ import annotations

from typing import Any

from nlpkit.errors import InputError


def check_pair(question: Any, context: Any, row: str) -> tuple[str, str]:
    """A question and its context, both non-empty text."""
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"data: row {row}: no question (an empty or missing cell)")
    if not isinstance(context, str) or not context.strip():
        raise InputError(
            f"data: row {row}: the question has no context (an empty or missing cell); "
            "extractive answers are spans of a context"
        )
    return question.lstrip(), context


def check_stride(stride: int, max_length: int, where: str = "data.stride") -> None:
    if stride >= max_length:
        raise InputError(
            f"{where}: {stride} must be smaller than the window ({max_length} tokens): "
            "windows share stride tokens, so each must also hold new ones"
        )


def question_room(max_length: int, stride: int, special: int) -> int:
    """The most question tokens a window can hold and still have more context than the
    ``stride`` tokens it shares with the next (the tokenizer's own rule)."""
    return max_length - stride - special - 1
