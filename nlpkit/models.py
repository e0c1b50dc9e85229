"""Model resolution: defaults per task, local folders, the HF cache, and offline.

A model name is either a local folder or a Hub id. A Hub id works when it is
already in the local cache or when the Hub answers; otherwise we fail at once
with the name and the fix, instead of waiting out 25-50 s of retries.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from nlpkit.errors import ModelNotFoundError

DEFAULT_MODELS = {
    "classify": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    "generate": "openai-community/gpt2",
    "summarize": "sshleifer/distilbart-cnn-12-6",
}
TRANSLATION_MODEL_TEMPLATE = "Helsinki-NLP/opus-mt-{src}-{tgt}"
HUB_PROBE_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from: ``path`` is what from_pretrained receives."""

    name: str
    path: str
    local_files_only: bool

    @property
    def is_local_folder(self) -> bool:
        return Path(self.path).is_dir()


def default_translation_model(src: str, tgt: str) -> str:
    return TRANSLATION_MODEL_TEMPLATE.format(src=src, tgt=tgt)


def resolve_model(name: str) -> ModelSource:
    """Decide how to load ``name`` without downloading anything yet."""
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelSource(name, str(path.resolve()), local_files_only=True)
    if path.exists():
        raise ModelNotFoundError(f"model '{name}': is a file, expected a model folder")
    if _looks_like_path(name):
        raise ModelNotFoundError(
            f"model '{name}': no such folder; check the path or pass a Hub id like 'org/model'"
        )
    if is_cached(name):
        return ModelSource(name, name, local_files_only=True)
    if hub_offline():
        raise ModelNotFoundError(
            f"model '{name}' is not in the local cache and the Hub is offline (HF_HUB_OFFLINE=1); "
            "pass --model with a local folder, or run once with network access to download it"
        )
    if not hub_reachable():
        raise ModelNotFoundError(
            f"model '{name}' is not in the local cache and {hub_endpoint()} cannot be reached; "
            "pass --model with a local folder, or run once with network access to download it"
        )
    return ModelSource(name, name, local_files_only=False)


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name
    )


def is_cached(repo_id: str) -> bool:
    """True when the Hub cache already holds this model's config."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """One TCP connect to the Hub, bounded in time even when DNS hangs."""
    url = urlparse(hub_endpoint())
    host, port = url.hostname or "huggingface.co", url.port or 443
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
