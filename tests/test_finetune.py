"""Fine-tuning end to end on tiny models: every task, LoRA, resume, overwrite, evaluate.

Runs are a handful of steps on a few dozen rows; the point is the plumbing
(datasets -> Trainer -> metrics -> a folder that loads), not the accuracy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from nlpkit.errors import OutputError, TrainingError, UsageError
from tests.conftest import invoke, run_nlpkit
from tests.tiny_models import SENTENCES

POSITIVE = ("great", "wonderful", "amazing", "fine")
LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Tiny train/dev files: sentiment TSV, nested translation JSONL, summaries CSV."""
    folder = tmp_path_factory.mktemp("data")
    rows = [(s, LABELS[any(w in s for w in POSITIVE)]) for s in SENTENCES]
    tsv = "sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in rows)
    (folder / "train.tsv").write_text(tsv, encoding="utf-8")
    (folder / "dev.tsv").write_text("\n".join(tsv.splitlines()[:25]) + "\n", encoding="utf-8")
    with (folder / "pairs.jsonl").open("w", encoding="utf-8") as handle:
        for s in SENTENCES[:48]:
            handle.write(json.dumps({"translation": {"en": s, "ro": s.upper()}}) + "\n")
    lines = "".join(f'"{s} {s}","{s}"\n' for s in SENTENCES[:48])
    (folder / "docs.csv").write_text("document,summary\n" + lines, encoding="utf-8")
    return folder


def recipe_file(folder: Path, task: str, model: str, data: dict, **sections) -> Path:
    """A recipe for a few quick steps; ``sections`` replace or extend its parts."""
    training = {"max_steps": 4, "batch_size": 8, "logging_steps": 2, "eval_strategy": "no"}
    training.update(sections.pop("training", {}))
    content = {"task": task, "model": model, "data": data, "training": training}
    content.update(output_dir=str(folder / "run"), **sections)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def classification_data(data_dir: Path, **extra) -> dict:
    return {
        "train_file": str(data_dir / "train.tsv"),
        "eval_file": str(data_dir / "dev.tsv"),
        "text_column": "sentence",
        "label_names": LABELS,
        "max_length": 32,
        **extra,
    }


@pytest.fixture(scope="module")
def classifier_run(tiny, data_dir, tmp_path_factory) -> Path:
    """One real `nlpkit finetune` subprocess; later tests use the folder it saves."""
    folder = tmp_path_factory.mktemp("cli-run")
    path = recipe_file(
        folder,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={
            "max_steps": 6,
            "eval_strategy": "steps",
            "eval_steps": 3,
            "load_best_model_at_end": True,
        },
    )
    result = run_nlpkit("finetune", str(path), "--set", "training.learning_rate=1e-3")
    assert result.returncode == 0, result.stderr
    assert "eval accuracy" in result.stdout and "eval at step 3" in result.stderr
    return folder / "run"


def test_cli_run_saves_a_complete_folder(classifier_run):
    names = {entry.name for entry in classifier_run.iterdir()}
    expected = {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "recipe.yaml",
        "metrics.json",
        "train_log.jsonl",
        "README.md",
        "training_curves.png",
    }
    assert expected <= names and "checkpoints" not in names
    config = json.loads((classifier_run / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    metrics = json.loads((classifier_run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["global_step"] == 6 and 0 <= metrics["metrics"]["accuracy"] <= 1
    saved = yaml.safe_load((classifier_run / "recipe.yaml").read_text(encoding="utf-8"))
    assert saved["training"]["learning_rate"] == 1e-3  # the --set value, resolved
    log = [json.loads(line) for line in (classifier_run / "train_log.jsonl").open()]
    assert [row["step"] for row in log if "loss" in row] == [2, 4, 6]
    assert (classifier_run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "pipeline_tag: text-classification" in (classifier_run / "README.md").read_text()


def test_saved_folder_works_with_classify_and_pipeline(classifier_run):
    from transformers import pipeline

    result = run_nlpkit(
        "classify", "--model", str(classifier_run), "the plot was awful", "-f", "json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["label"] in LABELS
    assert "no label names" not in result.stderr
    prediction = pipeline("text-classification", model=str(classifier_run))("my day was great")
    assert prediction[0]["label"] in LABELS


def test_evaluate_saved_run_on_a_file_and_on_its_own_recipe(classifier_run, data_dir):
    from nlpkit import evaluate_model

    on_file = evaluate_model(classifier_run, data=data_dir / "train.tsv")
    assert on_file["samples"] == len(SENTENCES) and 0 <= on_file["accuracy"] <= 1
    on_recipe = evaluate_model(classifier_run)  # the eval split of the recipe it saved
    assert on_recipe["samples"] == 24 and set(on_recipe) >= {"loss", "accuracy", "f1_macro"}


def test_cli_evaluate_with_a_recipe(classifier_run, tmp_path, capsys, monkeypatch):
    recipe = str(classifier_run / "recipe.yaml")
    args = ("evaluate", "--model", str(classifier_run), "--recipe", recipe, "-f", "json")
    code, out, err = invoke(capsys, monkeypatch, *args, "--set", "data.max_eval_samples=10")
    assert code == 0, err
    assert json.loads(out)["samples"] == 10
    code, _, err = invoke(capsys, monkeypatch, "evaluate", "--model", str(tmp_path))
    assert code == 2 and "pass --recipe FILE or --data FILE" in err


def test_an_interrupted_final_save_leaves_no_model(tiny, tmp_path, monkeypatch):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlpkit.training.outputs import save_final_model

    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"])
    tokenizer = AutoTokenizer.from_pretrained(tiny["bert"])

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tokenizer, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        save_final_model(model, tokenizer, tmp_path, lora=False)
    assert list(tmp_path.iterdir()) == []  # weights were written, but only to the temp folder


def test_overwrite_protection(classifier_run, tmp_path):
    from nlpkit import finetune

    path = classifier_run / "recipe.yaml"
    with pytest.raises(OutputError, match="not empty; pass --overwrite"):
        finetune(path)
    with pytest.raises(UsageError, match="pass only one"):
        finetune(path, overwrite=True, resume=True)
    stranger = tmp_path / "not-a-run"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious", encoding="utf-8")
    with pytest.raises(OutputError, match="not an nlpkit run folder"):
        finetune(path, overrides={"output_dir": str(stranger)}, overwrite=True)
    assert (stranger / "thesis.tex").exists()


def test_overwrite_replaces_a_previous_run(tiny, data_dir, tmp_path):
    from nlpkit import finetune

    path = recipe_file(
        tmp_path,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={"max_steps": 2},
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text("old: run\n", encoding="utf-8")
    (run / "stale.txt").write_text("from the old run", encoding="utf-8")
    result = finetune(path, overwrite=True, progress=False)
    assert result.global_step == 2 and "accuracy" in result.metrics
    assert not (run / "stale.txt").exists() and (run / "config.json").exists()


class _Crash(Exception):
    pass


def _crash_at(step: int):
    from transformers import TrainerCallback

    class CrashAt(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise _Crash(f"simulated crash at step {step}")

    return CrashAt()


def test_resume_after_an_interrupted_run(tiny, data_dir, tmp_path, capsys, monkeypatch):
    from nlpkit import finetune

    path = recipe_file(
        tmp_path,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={"max_steps": 6, "save_strategy": "steps", "save_steps": 3},
    )
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="stopped at step 5.*--resume"):
        finetune(path, progress=False, callbacks=[_crash_at(5)])
    assert not (run / "config.json").exists()  # no final model, let alone a half one
    assert (run / "checkpoints" / "checkpoint-3").is_dir()
    with pytest.raises(TrainingError, match=r"training.learning_rate: 5e-05 -> 0.1"):
        finetune(path, overrides={"training.learning_rate": 0.1}, resume=True)
    code, out, err = invoke(capsys, monkeypatch, "finetune", str(path), "--resume")
    assert code == 0, err
    assert "resuming from checkpoint-3 (step 3)" in err
    assert "resumed from step" in out and (run / "config.json").exists()
    log = [json.loads(line) for line in (run / "train_log.jsonl").open()]
    # the crashed run logged steps 2 and 4; its step-4 line went when resuming from 3
    assert [row["step"] for row in log if "loss" in row] == [2, 4, 6]
    saved = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    weights = (run / "model.safetensors").stat().st_mtime_ns
    code, out, err = invoke(capsys, monkeypatch, "finetune", str(path), "--resume")
    assert code == 0, err
    assert f"nothing to resume: the run in {run} already finished" in err
    assert "resumed from step" in out and "eval accuracy" in out  # the usual summary
    again = finetune(path, resume=True)
    assert again.already_finished and again.global_step == 6 and again.resumed_from_step == 3
    assert again.metrics == saved["metrics"] and again.rows == saved["rows"]
    assert (run / "model.safetensors").stat().st_mtime_ns == weights  # nothing trained again
    with pytest.raises(TrainingError, match=r"training.learning_rate: 5e-05 -> 0.1"):
        finetune(path, overrides={"training.learning_rate": 0.1}, resume=True)


def test_apply_lora_leaves_the_recipe_as_written(tiny):
    """peft appends to modules_to_save; the recipe (and so recipe.yaml) must not change."""
    from nlpkit.recipe.schema import Recipe
    from nlpkit.training.model import apply_lora, load_for_task

    recipe = Recipe.model_validate(
        {
            "task": "text-classification",
            "model": tiny["bert"],
            "data": {"train_file": "train.tsv"},
            "lora": {"target_modules": ["query", "value"], "modules_to_save": ["classifier"]},
            "output_dir": "run",
        }
    )
    before = recipe.model_dump()
    targets, saved = recipe.lora.target_modules, recipe.lora.modules_to_save
    network, _ = load_for_task(recipe.task, recipe.model, LABELS)
    wrapped = apply_lora(network, recipe)
    assert recipe.model_dump() == before
    assert targets == ["query", "value"] and saved == ["classifier"]
    assert "classifier" in wrapped.peft_config["default"].modules_to_save


def test_lora_saves_adapter_and_a_merged_model_that_agrees(tiny, data_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlpkit import finetune

    lora = {
        "r": 4,
        "alpha": 8,
        "target_modules": r".*encoder.*\.(query|key|value|dense)$",
        "modules_to_save": ["classifier", "pooler"],
    }
    path = recipe_file(
        tmp_path,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={"learning_rate": 1e-2},
        lora=lora,
    )
    result = finetune(path, progress=False)
    run = Path(result.output_dir)
    assert result.adapter_dir == str(run / "adapter")
    written = yaml.safe_load((run / "recipe.yaml").read_text(encoding="utf-8"))
    assert written["lora"]["modules_to_save"] == ["classifier", "pooler"]  # as the recipe says
    from nlpkit.atomic import umask

    modes = {p.name: p.stat().st_mode & 0o777 for p in run.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o666 & ~umask()}, modes  # safetensors writes 0600
    finished = finetune(path, resume=True)  # the saved recipe still matches: nothing to resume
    assert finished.already_finished and finished.adapter_dir == result.adapter_dir
    again = finetune(path, overwrite=True, progress=False)  # the seed covers the LoRA init too
    assert again.metrics["loss"] == result.metrics["loss"]
    assert (run / "adapter" / "adapter_config.json").exists()
    assert result.trainable_parameters < result.total_parameters
    tokenizer = AutoTokenizer.from_pretrained(run)
    batch = tokenizer(
        ["the food was bad .", "python is amazing ."], return_tensors="pt", padding=True
    )
    merged = AutoModelForSequenceClassification.from_pretrained(run).eval()
    base = AutoModelForSequenceClassification.from_pretrained(tiny["bert"])
    untrained_pooler = base.bert.pooler.dense.weight.detach().clone()
    adapted = PeftModel.from_pretrained(base, run / "adapter").eval()
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, adapted(**batch).logits, atol=1e-5)
    assert not torch.allclose(merged.bert.pooler.dense.weight, untrained_pooler)  # trained


@pytest.mark.parametrize(
    ("task", "model", "file", "columns", "metrics"),
    [
        (
            "summarization",
            "t5",
            "docs.csv",
            {
                "source_column": "document",
                "target_column": "summary",
                "source_prefix": "summarize: ",
            },
            {"rouge1", "rouge2", "rougeL"},
        ),
        (
            "translation",
            "marian",
            "pairs.jsonl",
            {"source_column": "translation.en", "target_column": "translation.ro"},
            {"bleu", "chrf"},
        ),
    ],
)
def test_seq2seq_tasks_train_generate_and_score(
    tiny, data_dir, tmp_path, task, model, file, columns, metrics
):
    from transformers import AutoModelForSeq2SeqLM

    from nlpkit import finetune

    data = {
        "train_file": str(data_dir / file),
        "eval_file": str(data_dir / file),
        "max_length": 32,
        "max_target_length": 16,
        "max_eval_samples": 8,
        **columns,
    }
    path = recipe_file(
        tmp_path,
        task,
        tiny[model],
        data,
        training={"eval_strategy": "epoch", "generation_max_length": 8},
    )
    result = finetune(path, progress=False)
    assert metrics <= set(result.metrics) and result.rows == {"train": 48, "eval": 8}
    loaded = AutoModelForSeq2SeqLM.from_pretrained(result.output_dir)
    assert loaded.config.is_encoder_decoder


def test_causal_lm_with_lora_reports_perplexity(tiny, data_dir, tmp_path):
    from transformers import pipeline

    from nlpkit import finetune

    data = {
        "train_file": str(data_dir / "train.tsv"),
        "eval_file": str(data_dir / "dev.tsv"),
        "text_column": "sentence",
        "max_length": 24,
    }
    path = recipe_file(
        tmp_path,
        "text-generation",
        tiny["gpt2"],
        data,
        training={"eval_strategy": "epoch", "metric_for_best_model": "perplexity"},
        lora={"r": 4},
    )
    result = finetune(path, progress=False)
    assert result.metrics["perplexity"] == pytest.approx(math.exp(result.metrics["loss"]))
    assert (Path(result.output_dir) / "adapter" / "adapter_model.safetensors").exists()
    generator = pipeline("text-generation", model=result.output_dir)
    assert generator("the movie", max_new_tokens=3)[0]["generated_text"].startswith("the movie")


def test_data_problems_name_the_key_and_columns(tiny, data_dir, tmp_path):
    from nlpkit import finetune
    from nlpkit.errors import InputError

    data = classification_data(data_dir, text_column="sentense")
    path = recipe_file(tmp_path, "text-classification", tiny["bert"], data)
    with pytest.raises(InputError, match="data.text_column: no column 'sentense'.*sentence"):
        finetune(path, progress=False)
    data = classification_data(data_dir, label_names=["bad", "good"])
    path = recipe_file(tmp_path, "text-classification", tiny["bert"], data)
    with pytest.raises(InputError, match="label '(negative|positive)' is not one of bad, good"):
        finetune(path, progress=False)
    assert not (tmp_path / "run").exists()  # nothing written for a run that never started


def test_hub_dataset_offline_fails_fast_with_the_fix(tiny, tmp_path):
    from nlpkit import finetune
    from nlpkit.errors import InputError

    data = {"dataset": "nyu-mll/glue", "dataset_config": "sst2", "text_column": "sentence"}
    path = recipe_file(tmp_path, "text-classification", tiny["bert"], data)
    with pytest.raises(InputError, match="data.train_file / data.eval_file"):
        finetune(path, progress=False)


@pytest.mark.slow
def test_two_process_ddp_run_on_cpu(tiny, data_dir, tmp_path):
    """torchrun with 2 CPU processes (gloo): rank 0 alone writes and reports; losses not doubled."""
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    path = recipe_file(
        tmp_path,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={"use_cpu": True},
    )
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command = [*launcher, "-m", "nlpkit", "finetune", str(path), "-f", "json"]
    result = subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)  # one report, from rank 0
    assert summary["global_step"] == 4 and summary["metrics"]["loss"] < 1.0
    assert (tmp_path / "run" / "config.json").exists()


def test_finetune_reports_events_and_prints_nothing(tiny, data_dir, tmp_path, capsys):
    """The library reports TrainEvents to a callback; without one, progress=True shows
    transformers' own bar (the Trainer's default), and nothing of nlpkit's is drawn."""
    from nlpkit import finetune

    path = recipe_file(
        tmp_path,
        "text-classification",
        tiny["bert"],
        classification_data(data_dir),
        training={"eval_strategy": "steps", "eval_steps": 2},
    )
    events = []
    finetune(path, report=events.append)
    assert capsys.readouterr().out == ""  # stdout stays for results
    kinds = [event.kind for event in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert [e.step for e in events if e.kind == "step"] == [1, 2, 3, 4]
    logs = [e for e in events if e.kind == "log"]
    assert [(e.step, e.total) for e in logs] == [(2, 4), (4, 4)]
    assert all(isinstance(e.loss, float) and e.elapsed >= 0 and e.eta >= 0 for e in logs)
    evals = [e for e in events if e.kind == "eval"]
    assert [e.step for e in evals] == [2, 4] and evals[0].metric == "accuracy"
    assert evals[0].score == evals[0].metrics["accuracy"] and "loss" in evals[0].metrics
    assert not any(key.endswith("_runtime") for e in evals for key in e.metrics)
    finetune(path, overwrite=True)
    assert "4/4" in capsys.readouterr().err  # transformers' tqdm bar


# What you trained is what you serve (training/verify.py): every fine-tune reloads its
# saved folder the way inference loads it and compares predictions with the model as trained.


def _lora(tiny, data_dir, folder):
    lora = {"r": 4, "alpha": 8, "target_modules": ["query", "value"]}
    data = classification_data(data_dir)
    return recipe_file(folder, "text-classification", tiny["bert"], data, lora=lora)


def test_a_run_records_that_its_saved_folder_predicts_as_trained(tiny, data_dir, tmp_path):
    from nlpkit import finetune

    result = finetune(_lora(tiny, data_dir, tmp_path), progress=False)
    check = json.loads((tmp_path / "run" / "metrics.json").read_text())["saved_model_check"]
    assert check == result.saved_check and check["rows"] == 24 and check["positions"] == 24
    assert check["agreement"] == 1.0
    assert check["loss_saved"] == pytest.approx(check["loss_trained"], abs=1e-4)
    assert check["metrics_saved"]["accuracy"] == check["metrics_trained"]["accuracy"]
    assert (
        "predicts what the model predicted in training at 100.00%"
        in (tmp_path / "run" / "README.md").read_text()
    )


def test_a_save_that_changes_the_predictions_fails_the_run(tiny, data_dir, tmp_path, monkeypatch):
    """The head saved with its sign flipped: every prediction of the saved folder flips."""
    from safetensors.torch import load_file, save_file

    from nlpkit import finetune
    from nlpkit.training import outputs

    original = outputs.save_final_model

    def broken_save(model, tokenizer, out, lora):
        adapter = original(model, tokenizer, out, lora)
        weights = load_file(out / "model.safetensors")
        for name in [name for name in weights if name.startswith("classifier.")]:
            weights[name] = -weights[name]
        save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
        return adapter

    monkeypatch.setattr(outputs, "save_final_model", broken_save)
    with pytest.raises(TrainingError, match="predicts differently from the model as trained"):
        finetune(_lora(tiny, data_dir, tmp_path), progress=False)
