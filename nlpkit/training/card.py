"""The run's model card (README.md) and its loss / metric curves (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nlpkit.recipe.schema import Recipe
from nlpkit.tasks.pieces import pieces_of


def model_card(recipe: Recipe, summary: dict[str, Any]) -> str:
    """A Hub-style card: metadata header, results, data, hyper-parameters, usage."""
    out = Path(recipe.output_dir)
    header: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": recipe.task,
        "tags": ["nlpkit", *(["peft", "lora"] if recipe.lora else [])],
    }
    if not Path(recipe.model).is_absolute() and not recipe.model.startswith("package:"):
        header["base_model"] = recipe.model
    if recipe.data.dataset:
        header["datasets"] = [recipe.data.dataset]
    metrics = summary.get("metrics", {})
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        "",
        f"# {out.name}",
        "",
        f"`{recipe.model}` fine-tuned for **{recipe.task}** by nlpkit from the recipe "
        "saved beside this card (`recipe.yaml`); `nlpkit finetune recipe.yaml` reruns it.",
        "",
        "## Evaluation",
        "",
        *_table(("metric", "value"), [(k, _number(v)) for k, v in metrics.items()]),
        "",
        *_saved_check(summary.get("saved_model_check")),
        "## Data",
        "",
        *_table(("split", "source", "rows"), _data_rows(recipe, summary)),
        "",
        "## Training",
        "",
        *_table(("setting", "value"), _hyperparameters(recipe, summary)),
        "",
        "## Use",
        "",
        pieces_of(recipe.task).card_usage().format(dir=out),
    ]
    return "\n".join(lines)


def _saved_check(check: dict[str, Any] | None) -> list[str]:
    """The card's line on the saved folder reloaded as inference loads it (verify.py)."""
    if not check:
        return []
    if "summary" in check:  # a task that checks its own kind of model words it itself
        return [check["summary"], ""]
    return [
        f"This folder, reloaded as `nlpkit` loads it for inference, predicts what the model "
        f"predicted in training at {check['agreement']:.2%} of {check['positions']} scored "
        f"positions of {check['rows']} eval rows (loss {_number(check['loss_trained'])} as "
        f"trained, {_number(check['loss_saved'])} saved).",
        "",
    ]


def _table(head: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _data_rows(recipe: Recipe, summary: dict[str, Any]) -> list[tuple]:
    data = recipe.data
    if data.dataset:
        name = f"{data.dataset} ({data.dataset_config})" if data.dataset_config else data.dataset
        sources = {"train": f"{name}:{data.train_split}", "eval": f"{name}:{data.eval_split}"}
    else:
        sources = {
            "train": Path(data.train_file or "").name,
            "eval": Path(data.eval_file or "").name,
        }
    rows = summary.get("rows", {})
    return [(split, sources[split], rows[split]) for split in ("train", "eval") if split in rows]


def _hyperparameters(recipe: Recipe, summary: dict[str, Any]) -> list[tuple]:
    train = recipe.training
    rows = [
        ("steps", summary.get("global_step")),
        ("epochs", train.epochs if train.max_steps is None else f"max_steps {train.max_steps}"),
        ("learning rate", train.learning_rate),
        ("batch size", f"{train.batch_size} x {train.gradient_accumulation_steps} accumulation"),
        ("warmup ratio", train.warmup_ratio),
        ("weight decay", train.weight_decay),
        ("max length", recipe.data.max_length),
        ("seed", train.seed),
        ("precision", summary.get("precision", train.precision)),
    ]
    if recipe.lora:
        lora = recipe.lora
        rows.append(("LoRA", f"r={lora.r}, alpha={lora.alpha}, dropout={lora.dropout}"))
        rows.append(("LoRA targets", f"`{lora.target_modules}`"))
        rows.append(("adapter", "adapter/ (the main folder holds the merged model)"))
    return rows


def plot_curves(log_history: list[dict[str, Any]], metric: str, path: Path) -> bool:
    """Training and eval loss, and the eval metric, against the step; False if nothing to plot."""
    train = [(row["step"], row["loss"]) for row in log_history if "loss" in row]
    evals = [(row["step"], row["eval_loss"]) for row in log_history if "eval_loss" in row]
    scores = [
        (row["step"], row[f"eval_{metric}"]) for row in log_history if f"eval_{metric}" in row
    ]
    if not train and not evals:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = 2 if scores and metric != "loss" else 1
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels + 1, 3.6), squeeze=False)
    loss_axis = axes[0][0]
    for points, label in ((train, "train loss"), (evals, "eval loss")):
        if points:
            loss_axis.plot(
                *zip(*points, strict=True), marker="." if len(points) < 30 else None, label=label
            )
    loss_axis.set(xlabel="step", ylabel="loss", title="loss")
    loss_axis.legend()
    if panels == 2:
        axes[0][1].plot(*zip(*scores, strict=True), marker="o", color="tab:green")
        axes[0][1].set(xlabel="step", ylabel=metric, title=f"eval {metric}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
