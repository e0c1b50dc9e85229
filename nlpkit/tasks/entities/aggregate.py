"""Token probabilities -> entities, as transformers' token-classification pipeline does.

The strategies are the pipeline's ``aggregation_strategy``: ``none`` (every token not
labelled O, with its B-/I- label), ``simple`` (adjacent tokens of one type grouped),
``first`` / ``average`` / ``max`` (a word takes the label of its first token, of its
averaged probabilities, or of its surest token, then words are grouped). Words are
told apart as the pipeline does: by the sub-word prefix (``##``) where the tokenizer
has one, else by a space before the token. Offsets index the input text; an entity's
text is always ``text[start:end]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nlpkit.errors import UsageError
from nlpkit.results import Entity
from nlpkit.tasks.entities.windows import TextTokens

AGGREGATIONS = ("simple", "first", "average", "max", "none")
OUTSIDE = "O"
SCORE_DIGITS = 6


@dataclass(frozen=True)
class Words:
    """How the tokenizer marks words: its sub-word prefix (None: spaces tell) and its
    unknown-token id (an unknown token is a word of its own)."""

    subword_prefix: str | None
    unk_id: int | None


@dataclass(frozen=True)
class Tagged:
    """A token or a word with its label: the unit that simple grouping joins."""

    label: str
    score: float
    start: int
    end: int


def check_aggregation(aggregation: str) -> str:
    if aggregation not in AGGREGATIONS:
        raise UsageError(
            f"unknown aggregation '{aggregation}'; use one of {', '.join(AGGREGATIONS)}",
            param="aggregation",
        )
    return aggregation


def words_of(tokenizer: Any) -> Words:
    """The word marks of a ``tokenizers`` Tokenizer."""
    model = tokenizer.model
    unk = getattr(model, "unk_token", None)
    unk_id = tokenizer.token_to_id(unk) if isinstance(unk, str) else None
    return Words(getattr(model, "continuing_subword_prefix", None) or None, unk_id)


def entities_of(
    tokens: TextTokens, names: list[str], aggregation: str, words: Words
) -> list[Entity]:
    """The entities of one text, in text order."""
    kept = [i for i, special in enumerate(tokens.special) if not special]
    if aggregation in ("simple", "none"):
        tagged = [_tagged(tokens, [i], names, "first") for i in kept]
    else:
        tagged = [_tagged(tokens, word, names, aggregation) for word in _words(tokens, kept, words)]
    if aggregation == "none":
        return [_entity(tokens.text, t.label, [t]) for t in tagged if t.label != OUTSIDE]
    groups = [(_type(group[0].label), group) for group in _groups(tagged)]
    return [_entity(tokens.text, kind, group) for kind, group in groups if kind != OUTSIDE]


def _words(tokens: TextTokens, kept: list[int], words: Words) -> list[list[int]]:
    """Token positions grouped into words."""
    grouped: list[list[int]] = []
    for i in kept:
        if grouped and _is_subword(tokens, i, words):
            grouped[-1].append(i)
        else:
            grouped.append([i])
    return grouped


def _is_subword(tokens: TextTokens, i: int, words: Words) -> bool:
    if tokens.ids[i] == words.unk_id:
        return False
    start, end = tokens.offsets[i]
    if words.subword_prefix is not None:  # "##ing" is longer than the "ing" it covers
        return len(tokens.tokens[i]) != end - start
    return start > 0 and " " not in tokens.text[start - 1 : start + 1]


def _tagged(tokens: TextTokens, positions: list[int], names: list[str], how: str) -> Tagged:
    """The label and score of one token, or of a word's tokens by ``how``."""
    import numpy as np

    probs = tokens.probs[positions]
    if how == "average":
        row = np.nanmean(probs, axis=0)
    elif how == "max":
        row = probs[int(probs.max(axis=1).argmax())]
    else:  # first (a single token is its own first)
        row = probs[0]
    best = int(row.argmax())
    start, end = tokens.offsets[positions[0]][0], tokens.offsets[positions[-1]][1]
    return Tagged(names[best], float(row[best]), start, end)


def _groups(tagged: list[Tagged]) -> list[list[Tagged]]:
    """Adjacent units of one type, a B- label starting a new group (the pipeline's rule;
    a label without a B-/I- prefix continues as I- would)."""
    groups: list[list[Tagged]] = []
    for unit in tagged:
        begins, kind = _prefix(unit.label)
        if groups and not begins and kind == _prefix(groups[-1][-1].label)[1]:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return groups


def _prefix(label: str) -> tuple[bool, str]:
    if label.startswith("B-"):
        return True, label[2:]
    return False, label[2:] if label.startswith("I-") else label


def _type(label: str) -> str:
    return label.split("-", 1)[-1]


def _entity(text: str, kind: str, group: list[Tagged]) -> Entity:
    import numpy as np

    start, end = group[0].start, group[-1].end
    score = float(np.mean([unit.score for unit in group]))
    return Entity(text[start:end], kind, start, end, round(score, SCORE_DIGITS))
