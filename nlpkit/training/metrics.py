"""Offline metrics: accuracy and macro-F1, ROUGE, sacreBLEU and chrF, perplexity.

Computed with rouge-score and sacrebleu directly, never through `evaluate`,
whose metric scripts live on the Hub. Scores of 0-100 stay on that scale
(ROUGE is reported x100 like sacreBLEU); accuracy and F1 are fractions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> float:
    check_lengths(predictions, references)
    if not references:
        return 0.0
    return sum(p == r for p, r in zip(predictions, references, strict=True)) / len(references)


def f1_macro(
    predictions: Sequence[int], references: Sequence[int], labels: Sequence[int] | None = None
) -> float:
    """Unweighted mean of per-label F1; a label never predicted nor present scores 0."""
    check_lengths(predictions, references)
    labels = sorted(set(references) | set(predictions)) if labels is None else list(labels)
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(p == label and r == label for p, r in zip(predictions, references, strict=True))
        fp = sum(p == label and r != label for p, r in zip(predictions, references, strict=True))
        fn = sum(p != label and r == label for p, r in zip(predictions, references, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def classification_metrics(
    predictions: Sequence[int], references: Sequence[int], num_labels: int | None = None
) -> dict[str, float]:
    labels = range(num_labels) if num_labels else None
    return {
        "accuracy": accuracy(predictions, references),
        "f1_macro": f1_macro(predictions, references, labels),
    }


def rouge(
    predictions: Sequence[str],
    references: Sequence[str],
    keys: Sequence[str] = ("rouge1", "rouge2", "rougeL"),
) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure x100, stemmed, as the summarization papers report it."""
    from rouge_score import rouge_scorer

    check_lengths(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score(reference, prediction)
        for key in keys:
            totals[key] += scores[key].fmeasure
    count = max(len(references), 1)
    return {key: 100 * total / count for key, total in totals.items()}


def bleu_chrf(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus sacreBLEU and chrF (0-100), one reference per prediction."""
    import sacrebleu

    check_lengths(predictions, references)
    refs = [list(references)]
    return {
        "bleu": sacrebleu.corpus_bleu(list(predictions), refs).score,
        "chrf": sacrebleu.corpus_chrf(list(predictions), refs).score,
    }


def perplexity(mean_loss: float) -> float:
    """exp of the mean token cross-entropy (inf when it overflows)."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf


def check_lengths(predictions: Sequence[Any], references: Sequence[Any]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")


Score = Callable[[list, list], dict[str, float]]  # (predictions, references) -> metrics


def classification_scorer(
    num_labels: int, score: Score | None = None
) -> Callable[[Any], dict[str, float]]:
    """A Trainer `compute_metrics` for (logits, label ids); ``score`` replaces the
    task's own metrics (a recipe's `metrics:` list)."""

    def compute(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        predicted = logits.argmax(axis=-1).tolist()
        if score is not None:
            return score(predicted, labels.tolist())
        return classification_metrics(predicted, labels.tolist(), num_labels)

    return compute


def generation_scorer(tokenizer, score: Score) -> Callable[[Any], dict[str, float]]:
    """A Seq2SeqTrainer `compute_metrics` for generated ids (predict_with_generate),
    scoring the decoded texts with ``score`` (the task's metrics or a recipe's list)."""
    import numpy as np

    def compute(eval_pred) -> dict[str, float]:
        predictions, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        pad = tokenizer.pad_token_id or 0
        predictions = np.where(predictions < 0, pad, predictions)
        labels = np.where(labels < 0, pad, labels)
        decoded = tokenizer.batch_decode(predictions, skip_special_tokens=True)
        references = tokenizer.batch_decode(labels, skip_special_tokens=True)
        results = score([d.strip() for d in decoded], [r.strip() for r in references])
        lengths = [int(np.count_nonzero(row != pad)) for row in predictions]
        results["gen_len"] = sum(lengths) / max(len(lengths), 1)
        return results

    return compute
