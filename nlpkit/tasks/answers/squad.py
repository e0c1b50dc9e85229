"""Exact match and F1 as the official SQuAD v1.1 evaluation script computes them.

Answers are compared after normalization (lower case, no punctuation, no articles
a/an/the, single spaces); F1 counts shared tokens. A question scores its best over
its gold answers, and the totals are percentages, as the script prints them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def squad_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """``exact_match`` and ``f1`` (0-100) of predicted answers against each question's
    gold answers (the best match counts)."""
    exact = f1 = 0.0
    for prediction, truths in zip(predictions, references, strict=True):
        truths = list(truths) or [""]
        exact += max(exact_match_score(prediction, truth) for truth in truths)
        f1 += max(f1_score(prediction, truth) for truth in truths)
    total = max(len(predictions), 1)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}
