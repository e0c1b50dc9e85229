"""Evaluate a saved model on a recipe's eval split, or on a data file, with offline metrics.

    from nlpkit import evaluate_model
    metrics = evaluate_model("runs/sst2-minilm", data="dev.tsv")

The data mapping (task, columns, max_length) comes from ``recipe``, else from
the recipe.yaml that `nlpkit finetune` saved in the model folder, else from
``task`` and the default column names (change them with overrides); there, the
text column is guessed as `nlpkit classify` guesses it (text, sentence, ...).
Whether a ``data`` file has a header row is the file's own: ``column_names``
names the columns of one without, else its first row is read as the header.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpkit.errors import InputError, UsageError
from nlpkit.inputs.readers import pick_text_column
from nlpkit.models.safety import load_policy
from nlpkit.recipe.checks import TASK_FIELDS
from nlpkit.recipe.problems import SourceMap
from nlpkit.recipe.schema import (
    Recipe,
    apply_override,
    load_recipe,
    parse_overrides,
    validate_recipe,
)
from nlpkit.tasks.pieces import pieces_of
from nlpkit.tasks.table import TASK_NAMES as TASKS
from nlpkit.training.outputs import RECIPE_FILE


def evaluate_model(
    model: str | Path,
    recipe: str | Path | None = None,
    data: str | Path | None = None,
    task: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    column_names: list[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> dict[str, float]:
    """Metrics of ``model`` on the eval split (loss, then the task's metrics).

    ``column_names`` names the columns of a csv/tsv file without a header row.
    ``metrics`` replaces the task's metrics (as a recipe's `metrics:` list does):
    built-in names, `evaluate` Hub names, or local metric scripts by path.
    """
    if metrics:
        metric_keys = {"metrics": list(metrics), "training.metric_for_best_model": None}
        overrides = {**_as_mapping(overrides), **metric_keys}
    plan = evaluation_recipe(model, recipe, data, task, overrides, batch_size, column_names)
    from nlpkit.training import data as datasets_
    from nlpkit.training import model as models
    from nlpkit.training import trainer as trainers
    from nlpkit.training.named_metrics import load_metrics

    scorers = load_metrics(plan.metrics) if plan.metrics else None

    raw = datasets_.load_raw(plan, splits=("eval",), column_hint=_column_names_option)
    if "eval" not in raw:
        raise InputError("no evaluation data: pass a data file, or a recipe with data.eval_file")
    if _guesses_text_column(plan):
        plan = _with_text_column(plan, raw["eval"].column_names)
    with load_policy(allow_pickle=plan.allow_pickle):
        network, tokenizer = models.load_for_task(
            plan.task, plan.model, trust_remote_code=plan.trust_remote_code
        )
    names = pieces_of(plan.task).saved_label_names(network.config)
    encoded = datasets_.tokenize(plan, tokenizer, raw["eval"], "eval", names)
    with tempfile.TemporaryDirectory(prefix="nlpkit-eval-") as scratch:
        args = trainers.training_arguments(plan, Path(scratch), trainers.resolve_precision(plan))
        trainer = trainers.build_trainer(
            plan, network, tokenizer, args, None, encoded, None, scorers
        )
        metrics = trainers.final_metrics(plan, trainer)
    return {**metrics, "samples": len(encoded)}


def evaluation_recipe(
    model: str | Path,
    recipe: str | Path | None = None,
    data: str | Path | None = None,
    task: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    column_names: list[str] | None = None,
) -> Recipe:
    """The recipe evaluation follows, with ``model`` (as saved, merged) and ``data`` swapped in."""
    saved = Path(model) / RECIPE_FILE
    if recipe is None and data is None and not saved.is_file():
        raise UsageError(
            f"{model} has no {RECIPE_FILE} from `nlpkit finetune`; "
            "pass --recipe FILE or --data FILE"
        )
    changes: dict[str, Any] = _as_mapping(overrides)
    changes.update({"model": str(model), "lora": None, "training.load_best_model_at_end": False})
    changes.update({"training.report_to": [], "search": None})  # an evaluation is not a run
    if data is not None:
        changes.update({"data.dataset": None, "data.train_file": None, "data.eval_file": str(data)})
        changes.setdefault("data.column_names", None)  # a new file: its own header, or none
    if column_names is not None:
        changes["data.column_names"] = list(column_names)
    if batch_size is not None:
        changes["training.eval_batch_size"] = batch_size
    if recipe is None and task is None and saved.is_file():
        recipe = saved
    if recipe is not None:
        if task is not None:
            changes["task"] = task
        return load_recipe(recipe, changes, for_training=False)
    if task is None:
        raise UsageError(
            f"{model} has no {RECIPE_FILE}: pass --task ({', '.join(TASKS)}) or --recipe FILE"
        )
    base: dict[str, Any] = {"task": task, "output_dir": str(model), "data": {}}
    guess = _guess_text_column(column_names) if column_names else None
    if guess and task in TASK_FIELDS["text_column"]:
        changes.setdefault("data.text_column", guess)
    source = SourceMap("<evaluate>", {})
    for key, value in parse_overrides(changes):
        apply_override(base, key, value, source)
    return validate_recipe(base, source, for_training=False)


def _as_mapping(overrides: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    return {".".join(key): value for key, value in parse_overrides(overrides)}


def _column_names_option(names: list[str]) -> str:
    return f"--column-names {','.join(names)}"


def _guesses_text_column(plan: Recipe) -> bool:
    """No recipe named the text column: guess it from the file, as `nlpkit classify` does."""
    named = "text_column" in plan.data.model_fields_set
    return plan.task in TASK_FIELDS["text_column"] and not named


def _guess_text_column(columns: list[str]) -> str | None:
    try:
        return pick_text_column(list(columns), None, Path("data"))
    except InputError:
        return None  # no obvious one: the default stays, and a missing column is named later


def _with_text_column(plan: Recipe, columns: list[str]) -> Recipe:
    guess = _guess_text_column(columns)
    if guess is None or guess == plan.data.text_column:
        return plan
    return plan.model_copy(update={"data": plan.data.model_copy(update={"text_column": guess})})
