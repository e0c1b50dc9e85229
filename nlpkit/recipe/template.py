"""Commented starter recipes for `nlpkit recipe init TASK`, written from the schema itself.

Every key appears with its default and its description, so a starter never
drifts from what the validator accepts; optional keys are commented out.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from nlpkit.recipe.checks import TASK_FIELDS, TASK_METRICS
from nlpkit.recipe.schema import DataConfig, LoraConfig, Recipe, TrainingConfig

STARTERS: dict[str, dict[str, Any]] = {
    "text-classification": {
        "model": "google-bert/bert-base-uncased",
        "data": {
            "dataset": "nyu-mll/glue",
            "dataset_config": "sst2",
            "text_column": "sentence",
            "label_names": ["negative", "positive"],
        },
        "training": {"learning_rate": 2e-5, "batch_size": 32},
    },
    "summarization": {
        "model": "google-t5/t5-small",
        "data": {
            "dataset": "EdinburghNLP/xsum",
            "source_column": "document",
            "target_column": "summary",
            "source_prefix": "summarize: ",
            "max_length": 512,
            "max_target_length": 64,
        },
        "training": {"learning_rate": 3e-4, "batch_size": 8},
    },
    "translation": {
        "model": "Helsinki-NLP/opus-mt-en-ro",
        "data": {
            "dataset": "wmt/wmt16",
            "dataset_config": "ro-en",
            "source_column": "translation.en",
            "target_column": "translation.ro",
        },
        "training": {"learning_rate": 5e-5, "batch_size": 16},
    },
    "text-generation": {
        "model": "openai-community/gpt2",
        "data": {
            "dataset": "Salesforce/wikitext",
            "dataset_config": "wikitext-2-raw-v1",
            "max_length": 256,
        },
        "training": {"learning_rate": 5e-5, "batch_size": 8},
    },
}
_ALL: set[str] = set()  # marker: every key of the section
LOCAL_FILES_NOTE = (
    "Or local files instead of a Hub dataset (relative paths resolve against this file's\n"
    "folder): train_file: data/train.csv, eval_file: data/dev.csv (csv/tsv/json/jsonl/parquet);\n"
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
    ]
    return "\n".join(lines) + "\n"


def _data_keys(task: str) -> set[str]:
    return {key for key in DataConfig.model_fields if task in TASK_FIELDS.get(key, (task,))}


def _training_values(task: str, starter: dict[str, Any]) -> dict[str, Any]:
    return {"metric_for_best_model": TASK_METRICS[task][0], **starter["training"]}


def _section(model: type[BaseModel], values: dict[str, Any], keys: set[str]) -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        if keys is not _ALL and name not in keys:
            continue
        value = values.get(name, field.default)
        comment = f"  # {field.description}" if field.description else ""
        prefix = "# " if value is None else ""
        shown = "null" if value is None else _scalar(value)
        lines.append(f"  {prefix}{name}: {shown}{comment}")
    return lines


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def _comment_block(text: str, indent: int) -> list[str]:
    return [" " * indent + "# " + line for line in text.splitlines()]
