"""Metrics by name: built-ins offline under `evaluate`'s keys, local metric scripts through
`evaluate.load`, and a Hub-only name that fails at once offline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nlpkit.errors import RecipeError
from tests.conftest import invoke, run_nlpkit
from tests.test_finetune import classification_data, data_dir, recipe_file  # noqa: F401

# One `import` per line: evaluate reads them to check the script's dependencies.
AGREEMENT = '''"""A test metric: the share of predictions equal to their reference."""

import datasets
import evaluate


class Agreement(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="share of equal pairs",
            citation="",
            inputs_description="label ids",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        same = sum(p == r for p, r in zip(predictions, references))
        return {"agreement": same / len(references), "pairs": len(references)}
'''


@pytest.fixture
def agreement(tmp_path) -> Path:
    path = tmp_path / "agreement.py"
    path.write_text(AGREEMENT, encoding="utf-8")
    return path


def test_builtin_names_agree_with_scikit_learn_under_evaluates_keys():
    from sklearn import metrics as sk

    from nlpkit.training.named_metrics import load_metrics, score

    predictions, references = [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 1]
    names = ["accuracy", "f1", "precision", "recall", "exact_match"]
    result = score(load_metrics(names), predictions, references)
    assert result == pytest.approx(
        {
            "accuracy": sk.accuracy_score(references, predictions),
            "f1": sk.f1_score(references, predictions),
            "precision": sk.precision_score(references, predictions),
            "recall": sk.recall_score(references, predictions),
            "exact_match": 4 / 6,
        }
    )
    three = score(load_metrics(["f1"]), [0, 1, 2, 2], [0, 1, 1, 2])
    assert three["f1"] == pytest.approx(sk.f1_score([0, 1, 1, 2], [0, 1, 2, 2], average="macro"))


def test_text_metrics_keep_evaluates_keys_and_prefix_shared_ones():
    from nlpkit.training.named_metrics import load_metrics, score

    predictions = ["the cat sat on the mat", "a dog ran"]
    references = ["the cat sat on a mat", "a dog ran fast"]
    result = score(load_metrics(["rouge", "sacrebleu", "chrf"]), predictions, references)
    assert set(result) == {
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
        "sacrebleu_score",
        "chrf_score",
    }
    assert 0 < result["rouge1"] <= 1  # evaluate's scale for ROUGE
    assert 0 < result["chrf_score"] <= 100 and 0 < result["sacrebleu_score"] <= 100


def test_a_local_metric_script_runs_offline(agreement):
    from nlpkit.training.named_metrics import load_metrics, score

    result = score(load_metrics([str(agreement), "accuracy"]), [1, 0, 1], [1, 1, 1])
    assert result == pytest.approx({"agreement": 2 / 3, "pairs": 3, "accuracy": 2 / 3})


def test_a_hub_only_metric_fails_at_once_offline(tiny, tmp_path, capsys, monkeypatch):
    from nlpkit.training.named_metrics import load_metrics

    start = time.perf_counter()
    with pytest.raises(RecipeError) as error:
        load_metrics(["bertscore"])
    assert time.perf_counter() - start < 1
    message = str(error.value)
    assert "Hub is offline" in message and "accuracy, f1" in message and "./my_metric.py" in message
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\ngood\t1\nbad\t0\n", encoding="utf-8")
    args = ["evaluate", "--model", tiny["bert"], "--task", "text-classification"]
    code, _, err = invoke(capsys, monkeypatch, *args, "--data", str(data), "--metric", "bertscore")
    assert code == 2 and "bertscore is a Hub metric" in err
    assert "--metrics" not in err  # the flag is --metric; the message names the metric


def test_a_missing_metric_script_is_named():
    from nlpkit.training.named_metrics import load_metrics

    with pytest.raises(RecipeError, match="no such metric folder or script: ./absent.py"):
        load_metrics(["./absent.py"])


def test_recipe_metrics_score_a_run_and_pick_the_best(tiny, data_dir, tmp_path, agreement):  # noqa: F811
    from nlpkit import finetune

    training = {"eval_strategy": "steps", "eval_steps": 2, "load_best_model_at_end": True}
    path = recipe_file(
        tmp_path,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={**training, "metric_for_best_model": "agreement"},
        metrics=["f1", "./agreement.py"],  # relative to the recipe's folder
    )
    result = finetune(path, progress=False)
    assert {"f1", "agreement", "pairs", "loss"} <= set(result.metrics)
    assert "accuracy" not in result.metrics  # the list replaces the task's metrics
    log = (tmp_path / "run" / "train_log.jsonl").read_text(encoding="utf-8")
    assert '"eval_agreement"' in log


def test_metrics_problems_are_recipe_problems(tiny, data_dir, tmp_path):  # noqa: F811
    from nlpkit import load_recipe

    data = classification_data(data_dir)
    path = recipe_file(tmp_path, "text-classification", tiny["bert"], data, metrics=["rouge"])
    with pytest.raises(RecipeError, match="metrics.0: rouge does not score text-classification"):
        load_recipe(path)
    path = recipe_file(tmp_path, "text-classification", tiny["bert"], data, metrics=[])
    with pytest.raises(RecipeError, match="metrics: lists no metric"):
        load_recipe(path)
    training = {"metric_for_best_model": "accuracy"}
    path = recipe_file(
        tmp_path, "text-classification", tiny["bert"], data, metrics=["f1"], training=training
    )
    with pytest.raises(RecipeError, match="'accuracy' is not a text-classification metric"):
        load_recipe(path)


def test_cli_evaluate_with_metric_flags(tiny, tmp_path, agreement):
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\ngood\t1\nbad\t0\nfine\t1\n", encoding="utf-8")
    args = ["evaluate", "--model", tiny["bert"], "--task", "text-classification", "--data"]
    result = run_nlpkit(
        *args, str(data), "--metric", "f1", "--metric", "./agreement.py", "-f", "json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"f1", "agreement", "pairs", "loss", "samples"} <= set(metrics)
    assert metrics["pairs"] == 3


def test_a_translation_run_scored_by_named_text_metrics(tiny, data_dir, tmp_path):  # noqa: F811
    from nlpkit import evaluate_model, finetune

    data = {
        "train_file": str(data_dir / "pairs.jsonl"),
        "eval_file": str(data_dir / "pairs.jsonl"),
        "source_column": "translation.en",
        "target_column": "translation.ro",
        "max_length": 32,
        "max_target_length": 16,
        "max_eval_samples": 8,
    }
    training = {"max_steps": 2, "generation_max_length": 8}
    path = recipe_file(
        tmp_path,
        "translation",
        tiny["marian"],
        data,
        training=training,
        metrics=["sacrebleu", "chrf", "exact_match"],
    )
    result = finetune(path, progress=False)
    assert {"sacrebleu_score", "chrf_score", "exact_match", "gen_len", "loss"} <= set(
        result.metrics
    )
    again = evaluate_model(result.output_dir, metrics=["rouge"])
    assert {"rouge1", "rougeLsum"} <= set(again) and "sacrebleu_score" not in again
