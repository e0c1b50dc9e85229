"""Typed results returned by the Python API and rendered by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class Classification:
    text: str
    label: str
    score: float
    top: list[LabelScore] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    prompt: str
    text: str
    new_tokens: int


@dataclass(frozen=True)
class Summary:
    text: str
    summary: str


@dataclass(frozen=True)
class Translation:
    text: str
    translation: str


@dataclass(frozen=True)
class Entity:
    """A span of the input: ``text == input[start:end]`` (character offsets)."""

    text: str
    type: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Entities:
    text: str
    entities: list[Entity] = field(default_factory=list)


@dataclass(frozen=True)
class AnswerSpan:
    """A span of the context: ``answer == context[start:end]`` (character offsets)."""

    answer: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Answer:
    """The best span of a question's context (``answer`` empty, start = end = 0: no
    answer, with ``allow_no_answer``); with ``top_k`` > 1, ``top`` holds the best
    ``top_k`` spans, best first."""

    question: str
    answer: str
    start: int
    end: int
    score: float
    top: list[AnswerSpan] = field(default_factory=list)


@dataclass(frozen=True)
class Embedding:
    """A text's vector (numpy float32); files get it as a fixed-size list column."""

    text: str
    embedding: Any


@dataclass(frozen=True)
class EmbeddingPreview:
    """What `nlpkit embed` shows of a vector on screen."""

    text: str
    dimension: int
    norm: float
    first: str
