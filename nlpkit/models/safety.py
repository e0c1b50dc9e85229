"""What nlpkit agrees to load: data, not code.

Model folders are read as safetensors; pickle checkpoints (``*.bin``, ``*.pt``) can
run code when unpickled, so they load only with ``allow_pickle``. A model's own
Python code (``trust_remote_code``) runs only when asked for, with a warning.

    from nlpkit import classify, load_policy
    with load_policy(allow_pickle=True):
        classify(["hi"], model="./old-checkpoint")

The CLI sets the policy from ``--trust-remote-code`` / ``--allow-pickle``; a recipe
can set ``trust_remote_code: true``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import ModelLoadError

PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
PICKLE_HINT = (
    "pickle files can run code when loaded: if you trust their source pass --allow-pickle "
    "(Python: nlpkit.load_policy(allow_pickle=True)), or convert them to safetensors"
)


@dataclass(frozen=True)
class LoadPolicy:
    trust_remote_code: bool = False
    allow_pickle: bool = False


_DEFAULT = LoadPolicy()
_POLICY: ContextVar[LoadPolicy | None] = ContextVar("nlpkit_load_policy", default=None)


def current_policy() -> LoadPolicy:
    return _POLICY.get() or _DEFAULT


@contextmanager
def load_policy(
    trust_remote_code: bool = False, allow_pickle: bool = False
) -> Iterator[LoadPolicy]:
    """Within the block, models load with these permissions (both off by default)."""
    policy = LoadPolicy(trust_remote_code, allow_pickle)
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


def pretrained_options(name: str, trust_remote_code: bool = False) -> dict[str, Any]:
    """from_pretrained keywords under the current policy; warns when remote code is on."""
    policy = current_policy()
    remote = trust_remote_code or policy.trust_remote_code
    if remote:
        from nlpkit.errors import NlpkitWarning

        warnings.warn(
            f"trust_remote_code is on: model '{name}' may run Python code from its files; "
            "use it only with models whose source you trust",
            NlpkitWarning,
            stacklevel=3,
        )
    return {"trust_remote_code": remote, "use_safetensors": None if policy.allow_pickle else True}


def check_model_folder(folder: str | Path, name: str) -> None:
    """A local folder must hold config.json and weights nlpkit may load; fail with the fix."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"model '{name}': no config.json in {folder}; a model folder holds config.json "
            "and model.safetensors (as save_pretrained writes them)"
        )
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_PATTERNS for p in folder.glob(pattern))
    if not pickles:
        raise ModelLoadError(
            f"model '{name}': no weights in {folder} (expected model.safetensors); "
            "copy the weights there or save the model again with save_pretrained"
        )
    if not current_policy().allow_pickle:
        raise ModelLoadError(
            f"model '{name}': only pickle weights ({', '.join(pickles[:3])}) in {folder}; "
            + PICKLE_HINT
        )


def explain_load_error(text: str) -> str:
    """Add the pickle hint to transformers' message when a Hub repo lacks safetensors."""
    if "safetensors" in text and not current_policy().allow_pickle:
        return f"{text}; if the model has only pickle weights: {PICKLE_HINT}"
    return text
