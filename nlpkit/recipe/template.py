"""Commented starter recipes for `nlpkit recipe init TASK`, written from the schema itself.

Every key appears with its default and its description, so a starter never
drifts from what the validator accepts; optional keys are commented out. The
recipe keys table of docs/recipes.md comes from the same schema:

    python -m nlpkit.recipe.template --keys-table docs/recipes.md   # rewrite it there
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel

from nlpkit.recipe.checks import TASK_FIELDS, TASK_METRICS
from nlpkit.recipe.schema import DataConfig, LoraConfig, Recipe, TrainingConfig
from nlpkit.tasks.pieces import pieces_of
from nlpkit.tasks.table import TASKS

STARTERS: dict[str, dict[str, Any]] = {task.name: pieces_of(task).starter for task in TASKS}
_ALL: set[str] = set()  # marker: every key of the section
LOCAL_FILES_NOTE = (
    "Or local files instead of a Hub dataset (relative paths resolve against this file's\n"
    "folder): train_file: data/train.csv, eval_file: data/dev.csv (csv/tsv/json/jsonl/parquet,\n"
    "gzip-compressed too; CoNLL column files, .conll, for token-classification);\n"
    "a csv/tsv without a header row names its columns with column_names (below)"
)


def starter_recipe(task: str) -> str:
    """A commented YAML recipe for ``task`` that validates as written."""
    starter = STARTERS[task]
    slug = task.split("-")[-1]
    lines = [
        f"# nlpkit recipe: {task}. Check it: nlpkit recipe validate FILE",
        "# Run it: nlpkit finetune FILE   (override keys with --set training.epochs=1)",
        "",
        f"task: {task}  # {Recipe.model_fields['task'].description}",
        f"model: {starter['model']}  # {Recipe.model_fields['model'].description}",
        "",
        "data:",
        *_comment_block(LOCAL_FILES_NOTE, indent=2),
        *_section(DataConfig, starter["data"], _data_keys(task)),
        "",
        "training:",
        *_section(TrainingConfig, _training_values(task, starter), _ALL),
        "",
        "# LoRA (peft): uncomment to train small adapters instead of the whole model.",
        "# lora:",
        *("# " + line for line in _section(LoraConfig, {}, _ALL)),
        "",
        f"output_dir: runs/{slug}  # {Recipe.model_fields['output_dir'].description}",
        *_section(Recipe, {}, {"trust_remote_code", "allow_pickle"}, indent=""),
    ]
    return "\n".join(lines) + "\n"


def _data_keys(task: str) -> set[str]:
    return {key for key in DataConfig.model_fields if task in TASK_FIELDS.get(key, (task,))}


def _training_values(task: str, starter: dict[str, Any]) -> dict[str, Any]:
    return {"metric_for_best_model": TASK_METRICS[task][0], **starter["training"]}


def _section(
    model: type[BaseModel], values: dict[str, Any], keys: set[str], indent: str = "  "
) -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        if keys is not _ALL and name not in keys:
            continue
        value = values.get(name, field.default)
        comment = f"  # {field.description}" if field.description else ""
        prefix = "# " if value is None else ""
        shown = "null" if value is None else _scalar(value)
        lines.append(f"{indent}{prefix}{name}: {shown}{comment}")
    return lines


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def _comment_block(text: str, indent: int) -> list[str]:
    return [" " * indent + "# " + line for line in text.splitlines()]


KEYS_START, KEYS_END = "<!-- keys:start -->", "<!-- keys:end -->"


def keys_table() -> str:
    """The markdown table of every recipe key: key, default, description (docs/recipes.md)."""
    rows = ["| key | default | description |", "|---|---|---|"]
    sections = []
    for name, field in Recipe.model_fields.items():
        section = _section_model(field.annotation)
        if section is not None:
            sections.append((f"{name}.", section))
        else:
            rows.append(_key_row(name, field))
    for prefix, section in sections:
        for name, field in section.model_fields.items():
            only = TASK_FIELDS.get(name) if prefix == "data." else None
            rows.append(_key_row(prefix + name, field, f" ({', '.join(only)})" if only else ""))
    return "\n".join(rows) + "\n"


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The section class of a field typed ``Section`` or ``Section | None``."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _key_row(key: str, field: Any, tasks: str = "") -> str:
    if field.is_required():
        default = "required"
    elif field.default is None:
        default = "—"
    else:
        default = f"`{_scalar(field.default)}`"
    description = (field.description or "").replace("|", "\\|") + tasks
    return f"| `{key}` | {default} | {description} |"


def with_keys_table(document: str) -> str:
    """``document`` with the text between the keys markers replaced by ``keys_table()``."""
    head, start, rest = document.partition(KEYS_START)
    _, end, tail = rest.partition(KEYS_END)
    if not (start and end):
        raise ValueError(f"no {KEYS_START} ... {KEYS_END} markers")
    return f"{head}{KEYS_START}\n{keys_table()}{KEYS_END}{tail}"


if __name__ == "__main__":  # python -m nlpkit.recipe.template --keys-table [DOC.md ...]
    docs = [Path(arg) for arg in sys.argv[1:] if arg != "--keys-table"]
    for doc in docs:
        doc.write_text(with_keys_table(doc.read_text(encoding="utf-8")), encoding="utf-8")
    if not docs:
        sys.stdout.write(keys_table())
