"""Every task in the table is reachable from the CLI, the recipe schema and the Python API."""

from __future__ import annotations

import typing

import pytest

import nlpkit
from nlpkit.models.builtin import BUILTIN_MODELS
from nlpkit.recipe.checks import TASK_FIELDS, TASK_METRICS
from nlpkit.recipe.schema import DataConfig, Recipe
from nlpkit.tasks.table import LOADER_CLASSES, TASKS, task_named
from tests.conftest import invoke


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_the_cli_has_the_command(task, capsys, monkeypatch):
    code, out, _ = invoke(capsys, monkeypatch, task.command, "--help")
    assert code == 0 and "--model" in out


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_the_python_api_has_the_function(task):
    assert callable(getattr(nlpkit, task.command))
    assert getattr(nlpkit, task.command).__module__ == f"nlpkit.tasks.{task.module}"


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_the_recipe_schema_reads_the_entry(task):
    assert task.name in typing.get_args(Recipe.model_fields["task"].annotation)
    assert TASK_METRICS[task.name] == task.metrics
    assert set(task.data_fields) <= set(DataConfig.model_fields)
    assert all(task.name in TASK_FIELDS[key] for key in task.data_fields)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_loaders_and_models_exist(task):
    import transformers
    from peft import TaskType

    assert hasattr(transformers, LOADER_CLASSES[task.loader])
    assert task.peft_task_type is None or hasattr(TaskType, task.peft_task_type)
    assert task.offline_model is None or task.offline_model in BUILTIN_MODELS


def test_a_task_is_found_by_either_name():
    assert task_named("classify") is task_named("text-classification")
    with pytest.raises(KeyError, match="known: text-classification"):
        task_named("sentiment")
