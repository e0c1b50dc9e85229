"""nlpkit: Hugging Face models as everyday NLP tools.

    from nlpkit import classify, generate, summarize, translate

Attributes load lazily so that `import nlpkit` (and the CLI's --help) stays
instant; torch and transformers are imported on first real use.
"""

from __future__ import annotations

import importlib
from typing import Any

from nlpkit.tasks.table import TASKS

__version__ = "0.1.0"

# each task's function (from the task table: plain data, imports nothing heavy), then the rest
_EXPORTS = {
    **{task.command: f"nlpkit.tasks.{task.module}" for task in TASKS},
    "similarity": "nlpkit.tasks.embed.similarity",
    "Embedding": "nlpkit.results",
    "collect_env": "nlpkit.env",
    "finetune": "nlpkit.training.run",
    "FinetuneResult": "nlpkit.training.run",
    "evaluate_model": "nlpkit.training.evaluate",
    "tune": "nlpkit.training.tune",
    "TuneResult": "nlpkit.training.tune",
    "optimize": "nlpkit.training.optimize",
    "load_recipe": "nlpkit.recipe.schema",
    "Recipe": "nlpkit.recipe.schema",
    "Classification": "nlpkit.results",
    "LabelScore": "nlpkit.results",
    "Generation": "nlpkit.results",
    "Summary": "nlpkit.results",
    "Translation": "nlpkit.results",
    "Entity": "nlpkit.results",
    "Entities": "nlpkit.results",
    "Answer": "nlpkit.results",
    "AnswerSpan": "nlpkit.results",
    "NlpkitError": "nlpkit.errors",
    "load_policy": "nlpkit.models.safety",
    "run_job": "nlpkit.batch.job",
    "build_index": "nlpkit.index",
    "add_to_index": "nlpkit.index",
    "open_index": "nlpkit.index",
    "search": "nlpkit.index",
    "SearchHit": "nlpkit.index",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nlpkit' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
