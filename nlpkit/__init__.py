"""nlpkit: Hugging Face models as everyday NLP tools.

    from nlpkit import classify, generate, summarize, translate

Attributes load lazily so that `import nlpkit` (and the CLI's --help) stays
instant; torch and transformers are imported on first real use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "classify": "nlpkit.tasks.classify",
    "generate": "nlpkit.tasks.generate",
    "summarize": "nlpkit.tasks.summarize",
    "translate": "nlpkit.tasks.translate",
    "collect_env": "nlpkit.env",
    "finetune": "nlpkit.finetune",
    "FinetuneResult": "nlpkit.finetune",
    "evaluate_model": "nlpkit.evaluation",
    "load_recipe": "nlpkit.recipe",
    "Recipe": "nlpkit.recipe",
    "Classification": "nlpkit.results",
    "LabelScore": "nlpkit.results",
    "Generation": "nlpkit.results",
    "Summary": "nlpkit.results",
    "Translation": "nlpkit.results",
    "NlpkitError": "nlpkit.errors",
    "load_policy": "nlpkit.safety",
}

__all__ = [*_EXPORTS, "__version__"]


class _Package(types.ModuleType):
    """`import nlpkit.finetune` sets the package attribute to the module; keep the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nlpkit' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
