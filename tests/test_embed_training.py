"""Fine-tuning embeddings through nlpkit's recipe machinery with sentence-transformers'
Trainer: scored pairs (CosineSimilarityLoss, STS metrics), anchor/positive pairs
(MultipleNegativesRankingLoss), resume, and the saved folder read back by nlpkit.embed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from transformers import TrainerCallback

import nlpkit
from nlpkit.errors import InputError
from nlpkit.tasks.embed.pooling import read_pooling
from tests.conftest import DATA, ROOT
from tests.tiny_models import SENTENCES, build_bert_encoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> str:
    return str(build_bert_encoder(tmp_path_factory.mktemp("encoder") / "st"))


def sts_recipe(folder: Path, model: str, **training) -> Path:
    recipe = yaml.safe_load((ROOT / "recipes" / "stsb-minilm.yaml").read_text())
    recipe["model"] = model
    recipe["data"].update(
        train_file=str(DATA / "stsb" / "train.tsv.gz"),
        eval_file=str(DATA / "stsb" / "validation.tsv.gz"),
        max_train_samples=48,
        max_eval_samples=24,
    )
    recipe["training"].update(batch_size=8, logging_steps=1, **training)
    recipe["output_dir"] = str(folder / "run")
    recipe.pop("search")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_scored_pairs_train_resume_and_read_back(encoder, tmp_path):
    recipe = sts_recipe(tmp_path, encoder, max_steps=4, eval_strategy="steps", eval_steps=2)
    with pytest.raises(KeyboardInterrupt):
        nlpkit.finetune(recipe, progress=False, callbacks=[StopAt(3)])
    result = nlpkit.finetune(recipe, resume=True, progress=False)
    assert (result.resumed_from_step, result.global_step) == (2, 4)
    assert set(result.metrics) == {"loss", "spearman", "pearson"}
    assert -1 <= result.metrics["spearman"] <= 1
    assert result.saved_check["min_cosine"] >= 0.999
    run = Path(result.output_dir)
    assert read_pooling(run, "run").declared  # a sentence-transformers folder, as nlpkit reads it
    logged = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert any("eval_spearman" in row for row in logged)
    vectors = nlpkit.embed(SENTENCES[:3], model=str(run))
    assert vectors.shape == (3, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert "read back by `nlpkit embed`" in (run / "README.md").read_text()


def test_anchor_positive_pairs_train_with_in_batch_negatives(encoder, tmp_path):
    rows = [{"query": s, "answer": s.replace(" .", " !")} for s in SENTENCES[:40]]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {
        "task": "feature-extraction",
        "model": encoder,
        "data": {
            "train_file": str(tmp_path / "pairs.jsonl"),
            "text_column": "query",
            "text_pair_column": "answer",
        },
        "training": {"max_steps": 3, "batch_size": 8, "logging_steps": 1, "eval_strategy": "no"},
        "output_dir": str(tmp_path / "run"),
    }
    result = nlpkit.finetune(recipe_file(tmp_path, recipe), progress=False)
    assert result.global_step == 3 and result.metrics == {}
    # in-batch negatives: cross-entropy over 8 candidates starts near ln 8, far above
    # what a cosine-vs-score regression (a squared error of values in [0, 1]) gives
    assert result.train_metrics["train_loss"] > 1.0


def test_pairs_need_two_text_columns(encoder, tmp_path):
    recipe = yaml.safe_load(sts_recipe(tmp_path, encoder, max_steps=1).read_text())
    recipe["data"]["text_pair_column"] = "nope"
    with pytest.raises(InputError, match="nope"):
        nlpkit.finetune(recipe_file(tmp_path, recipe, "bad.yaml"), progress=False)


def recipe_file(folder: Path, recipe: dict, name: str = "r.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(recipe))
    return path
