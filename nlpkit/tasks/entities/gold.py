"""Entities found in text, scored against gold IOB tags of its words.

The gold data of NER is a tag per word; ``nlpkit entities`` finds character spans in
text. To score one against the other, the text's words are its whitespace-separated
pieces (as CoNLL words joined by spaces are), and each word takes the tag of the
found entity that covers its first character: ``B-`` on the entity's first word,
``I-`` after. seqeval then scores entity-level F1 as training does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nlpkit.errors import InputError
from nlpkit.tasks.entities.training import OUTSIDE, entity_scores

WORD = re.compile(r"\S+")


def word_tags(text: str, entities: Iterable[Any]) -> list[str]:
    """One IOB2 tag per whitespace-separated word of ``text``, from found entities
    (``Entity`` objects or their dicts: start, end, type)."""
    spans = sorted((_get(e, "start"), _get(e, "end"), _get(e, "type")) for e in entities)
    tags, previous = [], None
    for word in WORD.finditer(text):
        covering = next((s for s in spans if s[0] <= word.start() < s[1]), None)
        if covering is None:
            tags.append(OUTSIDE)
        else:
            tags.append(("I-" if covering == previous else "B-") + covering[2])
        previous = covering
    return tags


def _get(entity: Any, key: str) -> Any:
    return entity[key] if isinstance(entity, dict) else getattr(entity, key)


def gold_tags(value: Any, names: Callable[[], Sequence[str]], words: int, row: int) -> list[str]:
    """A gold column's tags for one row: a list (or space-separated string) of tags or
    ids, one per word."""
    tags = value.split() if isinstance(value, str) else list(value)
    if len(tags) != words:
        raise InputError(
            f"row {row}: {len(tags)} gold tags for {words} words; the gold column needs one "
            "tag per whitespace-separated word of the text"
        )
    if all(isinstance(tag, int) or str(tag).isdigit() for tag in tags):
        labels = names()
        tags = [labels[int(tag)] for tag in tags]
    return [str(tag) for tag in tags]


def span_scores(
    texts: Sequence[str], found: Sequence[Iterable[Any]], gold: Sequence[Any], names: Callable
) -> dict[str, float]:
    """Entity precision/recall/F1 (overall and per type) and word accuracy of ``found``
    entities against ``gold`` tags."""
    predicted = [word_tags(text, entities) for text, entities in zip(texts, found, strict=True)]
    references = [
        gold_tags(tags, names, len(row), number)
        for number, (tags, row) in enumerate(zip(gold, predicted, strict=True), 1)
    ]
    return entity_scores(predicted, references)
