"""Evaluate a saved model on a recipe's eval split, or on a data file, with offline metrics.

    from nlpkit import evaluate_model
    metrics = evaluate_model("runs/sst2-minilm", data="dev.tsv")

The data mapping (task, columns, max_length) comes from ``recipe``, else from
the recipe.yaml that `nlpkit finetune` saved in the model folder, else from
``task`` and the default column names (change them with overrides).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nlpkit.errors import InputError, UsageError
from nlpkit.recipe import Recipe, apply_override, load_recipe, parse_overrides, validate_recipe
from nlpkit.recipe_checks import TASKS
from nlpkit.recipe_errors import SourceMap
from nlpkit.safety import load_policy
from nlpkit.training.outputs import RECIPE_FILE


def evaluate_model(
    model: str | Path,
    recipe: str | Path | None = None,
    data: str | Path | None = None,
    task: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    batch_size: int | None = None,
) -> dict[str, float]:
    """Metrics of ``model`` on the eval split (loss, then the task's metrics)."""
    plan = evaluation_recipe(model, recipe, data, task, overrides, batch_size)
    from nlpkit.training import data as datasets_
    from nlpkit.training import model as models
    from nlpkit.training import trainer as trainers

    raw = datasets_.load_raw(plan, splits=("eval",))
    if "eval" not in raw:
        raise InputError("no evaluation data: pass a data file, or a recipe with data.eval_file")
    with load_policy(allow_pickle=plan.allow_pickle):
        network, tokenizer = models.load_for_task(
            plan.task, plan.model, trust_remote_code=plan.trust_remote_code
        )
    names = None
    if plan.task == "text-classification":
        id2label = network.config.id2label or {}
        names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(network.config.num_labels)]
    encoded = datasets_.tokenize(plan, tokenizer, raw["eval"], "eval", names)
    with tempfile.TemporaryDirectory(prefix="nlpkit-eval-") as scratch:
        args = trainers.training_arguments(plan, Path(scratch), trainers.resolve_precision(plan))
        trainer = trainers.build_trainer(plan, network, tokenizer, args, None, encoded)
        metrics = trainers.final_metrics(plan, trainer)
    return {**metrics, "samples": len(encoded)}


def evaluation_recipe(
    model: str | Path,
    recipe: str | Path | None = None,
    data: str | Path | None = None,
    task: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    batch_size: int | None = None,
) -> Recipe:
    """The recipe evaluation follows, with ``model`` (as saved, merged) and ``data`` swapped in."""
    saved = Path(model) / RECIPE_FILE
    if recipe is None and data is None and not saved.is_file():
        raise UsageError(
            f"{model} has no {RECIPE_FILE} from `nlpkit finetune`; "
            "pass --recipe FILE or --data FILE"
        )
    changes: dict[str, Any] = {".".join(k): v for k, v in parse_overrides(overrides)}
    changes.update({"model": str(model), "lora": None, "training.load_best_model_at_end": False})
    if data is not None:
        changes.update({"data.dataset": None, "data.train_file": None, "data.eval_file": str(data)})
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
    source = SourceMap("<evaluate>", {})
    for key, value in parse_overrides(changes):
        apply_override(base, key, value, source)
    return validate_recipe(base, source, for_training=False)
