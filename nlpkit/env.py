"""What `nlpkit env` reports: versions, devices, offline state, default models."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

from nlpkit import __version__
from nlpkit.models.builtin import BUILTIN_MODELS, BuiltinAdapter, BuiltinModel
from nlpkit.models.resolve import (
    DEFAULT_MODELS,
    TRANSLATION_MODEL_TEMPLATE,
    default_model,
    hub_offline,
    hub_reachable,
)

PACKAGES = ("torch", "transformers", "accelerate", "datasets", "peft", "tokenizers", "safetensors")


def collect_env(probe_hub: bool = True) -> dict[str, object]:
    """Everything a bug report needs, as plain data."""
    from nlpkit.devices import describe_devices
    from nlpkit.models.store import nlpkit_home

    offline = hub_offline()
    return {
        "nlpkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: _version(name) for name in PACKAGES},
        **describe_devices(),
        "hf_hub_offline": offline,
        "hub_reachable": (not offline and hub_reachable()) if probe_hub else None,
        "hf_home": os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")),
        "nlpkit_home": str(nlpkit_home()),
        **{f"model_{task}": default_model(task) for task in DEFAULT_MODELS},
        "model_translate": TRANSLATION_MODEL_TEMPLATE,
        **{f"builtin_{name}": _builtin_status(b) for name, b in BUILTIN_MODELS.items()},
    }


def _builtin_status(builtin: BuiltinModel | BuiltinAdapter) -> str:
    if builtin.source_path() is None:
        return f"not installed: {builtin.install_hint}"
    return builtin.description


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
