"""`training.report_to`: TensorBoard event files in the run folder; MLflow in a local store
with the Trainer's parameters and metrics and the model card; offline throughout."""

from __future__ import annotations

import importlib.util

import pytest

from nlpkit.errors import DependencyError
from tests.test_finetune import classification_data, data_dir, recipe_file  # noqa: F401


def tracked_recipe(folder, tiny, data, training: dict):
    return recipe_file(
        folder, "text-classification", tiny["bert"], classification_data(data), training=training
    )


def test_tensorboard_and_mlflow_record_a_run(tiny, data_dir, tmp_path, monkeypatch):  # noqa: F811
    from mlflow import MlflowClient

    from nlpkit import finetune

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)  # MLflow's artifact store (./mlruns) lands here
    training = {"eval_strategy": "steps", "eval_steps": 2, "report_to": ["tensorboard", "mlflow"]}
    finetune(tracked_recipe(tmp_path, tiny, data_dir, training), progress=False)
    run = tmp_path / "run"
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert not (run / "checkpoints").exists()

    client = MlflowClient(tracking_uri=store)
    [logged] = client.search_runs([client.get_experiment_by_name("Default").experiment_id])
    assert logged.data.params["learning_rate"] == "5e-05"
    assert {"eval_accuracy", "loss"} <= set(logged.data.metrics)
    artifacts = {item.path for item in client.list_artifacts(logged.info.run_id)}
    assert {"README.md", "metrics.json"} <= artifacts


def test_a_missing_tracker_names_the_install(tiny, data_dir, tmp_path, monkeypatch):  # noqa: F811
    from nlpkit import finetune

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    path = tracked_recipe(tmp_path, tiny, data_dir, {"report_to": ["mlflow"]})
    with pytest.raises(
        DependencyError, match=r'report_to: mlflow needs it: pip install "nlpkit\[tracking\]"'
    ):
        finetune(path, progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_wandb_offline_keeps_each_finetune_in_a_run_of_its_own(
    tiny,
    data_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from nlpkit import finetune

    monkeypatch.setenv("WANDB_MODE", "offline")  # the network guard fails any upload try
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    training = {"eval_strategy": "steps", "eval_steps": 2, "report_to": ["wandb"]}
    path = tracked_recipe(tmp_path, tiny, data_dir, training)
    finetune(path, progress=False)
    finetune(path, overrides={"output_dir": str(tmp_path / "second")}, progress=False)
    records = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(records) == 2  # the first run was ended, not continued by the second
    assert all(b"eval/accuracy" in record.read_bytes() for record in records)
