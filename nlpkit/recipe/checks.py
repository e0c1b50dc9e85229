"""Rules of a recipe that span several keys, and the files and folders it names.

Kept apart from the schema in nlpkit/recipe.py; like it, this imports nothing heavy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from nlpkit.errors import RecipeError
from nlpkit.recipe.metric_names import BUILTIN_METRICS, result_keys
from nlpkit.recipe.problems import Problem
from nlpkit.tasks.table import BY_NAME
from nlpkit.tasks.table import TASKS as TASK_TABLE

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

DATA_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".txt": "text",
    ".conll": "conll",  # word-per-line column files, read by the tasks that tag words
}
COMPRESSED = ".gz"  # datasets decompresses gzip files by their name
TASK_METRICS = {task.name: task.metrics for task in TASK_TABLE}
HEADERLESS_SUFFIXES = (".csv", ".tsv")  # the formats data.column_names applies to
PACKAGE_SCHEME = "package:"
# data.* key -> the tasks that read it
TASK_FIELDS = {
    key: tuple(task.name for task in TASK_TABLE if key in task.data_fields)
    for key in dict.fromkeys(key for task in TASK_TABLE for key in task.data_fields)
}


class AnswerFields(BaseModel):
    """The data keys of question answering (part of the recipe's ``data`` section), kept
    here beside the rule between them: windows must share fewer tokens than they hold."""

    question_column: str = Field("question", description="question column")
    context_column: str = Field("context", description="context (passage) column")
    answers_column: str = Field("answers", description="{text: [...], answer_start: [...]} column")
    stride: int = Field(
        32, gt=0, description="tokens a long context's windows share (< max_length)"
    )
    n_best_size: int = Field(20, gt=0, description="eval: best starts and ends read per window")
    max_answer_length: int = Field(30, gt=0, description="eval: longest answer, in tokens")


def check_recipe(recipe: Recipe, for_training: bool = True) -> list[Problem]:
    """Rules that span several keys, and files that must exist."""
    problems = [
        *_check_model(recipe.model),
        *_check_data(recipe, for_training),
        *_check_training(recipe),
        *_check_metrics(recipe),
    ]
    if recipe.lora and BY_NAME[recipe.task].peft_task_type is None:
        problems.append(Problem(("lora",), f"LoRA is not available for {recipe.task}"))
    if recipe.lora and isinstance(recipe.lora.target_modules, str):
        try:
            re.compile(recipe.lora.target_modules)
        except re.error as exc:
            problems.append(Problem(("lora", "target_modules"), f"invalid regex ({exc})"))
    return problems


def _check_model(model: str) -> list[Problem]:
    if model.startswith(PACKAGE_SCHEME):
        try:
            resolve_model_reference(model)
        except RecipeError as exc:
            return [Problem(("model",), str(exc))]
    elif model.lower().endswith(".gguf") and not Path(model).is_file():
        return [Problem(("model",), f"no such GGUF file: {model}")]
    elif Path(model).is_absolute() and not Path(model).is_dir() and not _is_gguf(model):
        return [Problem(("model",), f"no such folder: {model}")]
    return []


def resolve_model_reference(model: str) -> str:
    """``package:NAME/SUBDIR`` as a folder (or .gguf file) path; the package is found, never
    imported."""
    from nlpkit.models.resolve import (
        package_folder,  # the one resolver, shared with the task commands
    )

    if not model.startswith(PACKAGE_SCHEME):
        return model
    return package_folder(model, error=RecipeError)


def _is_gguf(path: str) -> bool:
    """A GGUF file works as a model: it is converted once into nlpkit's model store."""
    return path.lower().endswith(".gguf") and Path(path).is_file()


def _check_data(recipe: Recipe, for_training: bool) -> list[Problem]:
    data, problems = recipe.data, []
    if data.dataset and data.train_file:
        problems.append(Problem(("data", "train_file"), "set either data.dataset or local files"))
    if for_training and not data.dataset and not data.train_file:
        problems.append(Problem(("data",), "needs data.dataset (Hub) or data.train_file (local)"))
    if data.dataset and data.eval_file:
        problems.append(Problem(("data", "eval_file"), "with data.dataset, use data.eval_split"))
    for key in ("train_file", "eval_file") if for_training else ("eval_file",):
        value = getattr(data, key)
        if value and data_suffix(value) not in DATA_SUFFIXES:
            formats = ", ".join(DATA_SUFFIXES)
            problems.append(Problem(("data", key), f"unsupported file type; use {formats}"))
        elif value and Path(value).is_dir():
            problems.append(Problem(("data", key), f"is a folder, expected a file: {value}"))
        elif value and not Path(value).is_file():
            problems.append(Problem(("data", key), f"no such file: {value}"))
    for key in sorted(data.model_fields_set & set(TASK_FIELDS)):
        if recipe.task not in TASK_FIELDS[key]:
            tasks = " or ".join(TASK_FIELDS[key])
            problems.append(Problem(("data", key), f"only used by {tasks}, not {recipe.task}"))
    if recipe.task in TASK_FIELDS.get("stride", ()) and data.stride >= data.max_length:
        message = f"must be smaller than data.max_length ({data.max_length}): windows share it"
        problems.append(Problem(("data", "stride"), message))
    if data.label_names is not None and len(set(data.label_names)) < 2:
        problems.append(Problem(("data", "label_names"), "needs at least two distinct names"))
    return problems + _check_column_names(recipe)


def _check_column_names(recipe: Recipe) -> list[Problem]:
    """Names for the columns of headerless csv/tsv files: unique, and holding the task's columns."""
    data, key = recipe.data, ("data", "column_names")
    names = data.column_names
    if names is None:
        return []
    if not names:
        return [Problem(key, "names no columns; list them in file order, e.g. [text, label]")]
    problems = []
    if any(not name.strip() for name in names):
        problems.append(Problem(key, "has an empty name; name every column of the file"))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(Problem(key, f"names {', '.join(repeated)} more than once"))
    if data.dataset:
        problems.append(
            Problem(key, "only for local csv/tsv files; a Hub dataset names its columns")
        )
    files = [file for file in (data.train_file, data.eval_file) if file]
    others = [Path(file).name for file in files if data_suffix(file) not in HEADERLESS_SUFFIXES]
    if others:
        problems.append(
            Problem(key, f"only for csv/tsv files without a header row, not {', '.join(others)}")
        )
    for field, spec in task_columns(recipe).items():
        if spec not in names:
            problems.append(
                Problem(
                    key,
                    f"has no column '{spec}' for data.{field}; name a column {spec} "
                    f"or set data.{field} to one of {', '.join(dict.fromkeys(names))}",
                )
            )
    return problems


def data_suffix(path: str | Path) -> str:
    """The format's suffix, lowercased, seen through a ``.gz`` (``train.jsonl.gz``: .jsonl)."""
    path = Path(path)
    if path.suffix.lower() == COMPRESSED:
        path = path.with_suffix("")
    return path.suffix.lower()


def open_text(path: str | Path, errors: str = "strict"):
    """A data file opened as UTF-8 text (a BOM skipped), gzip-compressed or not."""
    if Path(path).suffix.lower() == COMPRESSED:
        import gzip

        return gzip.open(path, "rt", encoding="utf-8-sig", errors=errors, newline="")
    return Path(path).open(encoding="utf-8-sig", errors=errors, newline="")


def task_columns(recipe: Recipe) -> dict[str, str]:
    """The data keys naming the columns that the recipe's task reads, with their values."""
    keys = (
        "text_column",
        "text_pair_column",
        "label_column",
        "source_column",
        "target_column",
        "tokens_column",
        "tags_column",
        "question_column",
        "context_column",
        "answers_column",
    )
    specs = {key: getattr(recipe.data, key) for key in keys if recipe.task in TASK_FIELDS[key]}
    return {key: spec for key, spec in specs.items() if spec is not None}


def metric_choices(recipe: Recipe) -> list[str] | None:
    """The keys an evaluation reports, hence the metric_for_best_model choices; None when
    the recipe lists a metric that is not built in (its keys are known when it runs)."""
    if recipe.metrics is None:
        return list(TASK_METRICS[recipe.task])
    keys = result_keys(recipe.metrics)
    return None if keys is None else [*keys, "loss"]


def _check_metrics(recipe: Recipe) -> list[Problem]:
    """Each built-in metric scores the task's outputs; a causal LM has only its loss."""
    if recipe.metrics is None:
        return []
    if not recipe.metrics:
        return [Problem(("metrics",), "lists no metric; remove it for the task's own")]
    loader = BY_NAME[recipe.task].loader
    fits = [name for name, spec in BUILTIN_METRICS.items() if loader in spec.loaders]
    problems = []
    for index, name in enumerate(recipe.metrics):
        spec = BUILTIN_METRICS.get(name)
        if (spec and loader not in spec.loaders) or (not spec and loader == "causal"):
            problems.append(
                Problem(
                    ("metrics", index),
                    f"{name} does not score {recipe.task}; use {' or '.join(fits)}",
                )
            )
    return problems


def _check_training(recipe: Recipe) -> list[Problem]:
    train, problems = recipe.training, []
    if train.eval_strategy != "no" and not recipe.has_eval:
        problems.append(
            Problem(
                ("training", "eval_strategy"),
                "evaluation needs data.eval_file (or data.eval_split); "
                "add one or set training.eval_strategy: no",
            )
        )
    choices = metric_choices(recipe)
    if choices is not None and recipe.metric not in choices:
        choices = ", ".join(choices)
        problems.append(
            Problem(
                ("training", "metric_for_best_model"),
                f"'{recipe.metric}' is not a {recipe.task} metric; use one of {choices}",
            )
        )
    if (train.load_best_model_at_end or train.early_stopping_patience) and (
        train.eval_strategy == "no"
    ):
        problems.append(
            Problem(
                ("training", "eval_strategy"),
                "load_best_model_at_end and early stopping need eval_strategy steps or epoch",
            )
        )
    if (
        train.save_strategy
        and train.load_best_model_at_end
        and train.save_strategy != train.eval_strategy
    ):
        problems.append(
            Problem(("training", "save_strategy"), "must match eval_strategy to keep the best")
        )
    save_steps = train.save_steps or train.eval_steps
    steps_eval = train.eval_strategy == "steps" and train.eval_steps
    if train.load_best_model_at_end and steps_eval and save_steps % train.eval_steps:
        problems.append(Problem(("training", "save_steps"), "must be a multiple of eval_steps"))
    return problems
