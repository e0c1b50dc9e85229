"""Offline metrics agree with scikit-learn, rouge-score and sacrebleu called directly."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpkit.training.metrics import (
    accuracy,
    bleu_chrf,
    classification_metrics,
    classification_scorer,
    f1_macro,
    generation_scorer,
    perplexity,
    rouge,
)

labels = st.lists(st.integers(0, 3), min_size=1, max_size=40)


@settings(deadline=None, max_examples=60)  # the first example pays for importing scikit-learn
@given(st.data())
def test_accuracy_and_macro_f1_match_scikit_learn(data):
    from sklearn.metrics import accuracy_score, f1_score

    references = data.draw(labels)
    predictions = data.draw(
        st.lists(st.integers(0, 3), min_size=len(references), max_size=len(references))
    )
    assert accuracy(predictions, references) == pytest.approx(
        accuracy_score(references, predictions)
    )
    expected = f1_score(
        references, predictions, average="macro", labels=[0, 1, 2, 3], zero_division=0
    )
    assert f1_macro(predictions, references, labels=range(4)) == pytest.approx(expected)


def test_classification_metrics_known_values():
    metrics = classification_metrics([1, 1, 0, 0], [1, 0, 0, 0], num_labels=2)
    assert metrics["accuracy"] == 0.75
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_rouge_matches_rouge_score_and_bounds():
    from rouge_score import rouge_scorer

    predictions = ["the cat sat on the mat", "a quick brown fox"]
    references = ["the cat is on the mat", "the fast brown fox jumps"]
    scores = rouge(predictions, references)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = np.mean(
        [
            scorer.score(r, p)["rougeL"].fmeasure
            for p, r in zip(predictions, references, strict=True)
        ]
    )
    assert scores["rougeL"] == pytest.approx(100 * expected)
    assert rouge(["same words here"], ["same words here"])["rouge2"] == pytest.approx(100)
    assert rouge(["alpha"], ["omega"])["rouge1"] == 0


def test_bleu_and_chrf_match_sacrebleu():
    import sacrebleu

    predictions = ["the cat sat on the mat today", "hello there my friend"]
    references = ["the cat sat on the mat", "hello my dear friend"]
    scores = bleu_chrf(predictions, references)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, [references]).score)
    assert bleu_chrf(references, references)["bleu"] == pytest.approx(100)


def test_perplexity():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(20)) == pytest.approx(20)
    assert perplexity(1e6) == math.inf


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        accuracy([0, 1], [0])


def test_classification_scorer_takes_logits():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    scorer = classification_scorer(num_labels=2)
    result = scorer(SimpleNamespace(predictions=logits, label_ids=np.array([1, 0, 0])))
    assert result["accuracy"] == pytest.approx(2 / 3)


def test_generation_scorer_decodes_and_ignores_padding(tiny):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny["t5"])
    ids = tokenizer(["the movie is great .", "the plot was bad ."], padding=True)["input_ids"]
    labels = np.array(ids)
    labels[labels == tokenizer.pad_token_id] = -100  # as DataCollatorForSeq2Seq pads labels
    scorer = generation_scorer(tokenizer, bleu_chrf)
    result = scorer(SimpleNamespace(predictions=np.array(ids), label_ids=labels))
    assert result["bleu"] == pytest.approx(100) and result["chrf"] == pytest.approx(100)
    assert result["gen_len"] > 0
    summary = generation_scorer(tokenizer, rouge)(
        SimpleNamespace(predictions=np.array(ids), label_ids=labels)
    )
    assert summary["rougeL"] == pytest.approx(100)
