"""Model resolution: defaults per task, local folders, GGUF files, the HF cache, and offline.

A model name is a local folder, a ``.gguf`` file, a built-in name (``sentiment``,
``smollm2``), ``package:NAME/SUBDIR`` (a folder inside an installed Python package),
a model in nlpkit's store, or a Hub id. A name that looks like a path (``./x``,
``runs/x`` when ``runs/`` exists, absolute) and is absent is ``no such folder``.
A Hub id works when it is already in the local cache or when the Hub answers;
otherwise we fail at once with the name and the fix, instead of waiting out
25-50 s of retries.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from nlpkit.errors import ModelNotFoundError, first_line
from nlpkit.models.builtin import (
    BUILTIN_MODELS,
    BuiltinModel,
    builtin_for_task,
    builtin_model,
)
from nlpkit.models.store import find_entry
from nlpkit.tasks.table import TASKS, TRANSLATION_MODEL_TEMPLATE

# command -> the Hub model it uses by default (translate's depends on the languages)
DEFAULT_MODELS = {
    task.command: task.default_model
    for task in TASKS
    if task.default_model != TRANSLATION_MODEL_TEMPLATE
}
HUB_PROBE_TIMEOUT_S = 1.5
PACKAGE_SCHEME = "package:"


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


def default_model(task: str) -> str:
    """The model a task uses when none is named: the installed built-in one, else a Hub id."""
    return builtin_for_task(task) or DEFAULT_MODELS[task]


def resolve_model(name: str, gguf_file: str | None = None) -> ModelSource:
    """Decide how to load ``name`` without downloading any weights yet.

    A built-in name or a GGUF file (``x.gguf``, a folder or Hub id with
    ``gguf_file``) resolves to its folder in the model store, made on first use.
    """
    if name.startswith(PACKAGE_SCHEME):
        return _resolve_path(name, package_folder(name), gguf_file)
    path = Path(name).expanduser()
    builtin = builtin_model(name)
    if builtin is not None and not gguf_file and not path.exists():
        from nlpkit.models.store import ensure_builtin

        return ModelSource(name, str(ensure_builtin(builtin)), local_files_only=True)
    if path.exists() or _looks_like_path(name):
        return _resolve_path(name, name, gguf_file)
    gguf = find_gguf(name, gguf_file)
    if gguf is not None:
        return _converted(name, gguf)
    stored = find_entry(name)
    if stored is not None:
        return ModelSource(name, str(stored.path), local_files_only=True)
    if is_cached(name):
        return ModelSource(name, name, local_files_only=True)
    require_hub(name)
    return ModelSource(name, name, local_files_only=False)


def _resolve_path(name: str, target: str, gguf_file: str | None) -> ModelSource:
    """A model given as a path (``target``; ``name`` as the user wrote it, for messages)."""
    path = Path(target).expanduser()
    gguf = find_gguf(target, gguf_file)
    if gguf is not None:
        return _converted(name, gguf)
    if path.is_dir():
        return ModelSource(name, str(path.resolve()), local_files_only=True)
    if path.exists():
        raise ModelNotFoundError(
            f"model '{name}': is a file, expected a model folder or a .gguf file"
        )
    raise _no_such_folder(name)


def _converted(name: str, gguf: Path) -> ModelSource:
    """A GGUF file's transformers folder in the model store, converted on first use."""
    from nlpkit.models.store import ensure_converted

    return ModelSource(name, str(ensure_converted(gguf)), local_files_only=True)


def _no_such_folder(name: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"no such folder: {name} (the model looks like a path; check it, "
        "or pass a Hub id like 'org/name')"
    )


def package_folder(reference: str, error: type[Exception] = ModelNotFoundError) -> str:
    """``package:NAME/SUBDIR`` as a folder (or .gguf file) path; the package is found with
    importlib, never imported. Recipes and the task commands both resolve it here."""
    name, _, subdir = reference.removeprefix(PACKAGE_SCHEME).partition("/")
    if not name.isidentifier():
        raise error(f"'{reference}': expected package:NAME/SUBDIR with a top-level package NAME")
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pip_name = name.replace("_", "-")
        raise error(f"package '{name}' is not installed (pip install {pip_name})")
    folder = Path(next(iter(spec.submodule_search_locations))) / subdir
    is_gguf = folder.suffix.lower() == ".gguf" and folder.is_file()
    if not folder.is_dir() and not is_gguf:
        raise error(f"package '{name}' has no folder '{subdir}' ({folder})")
    return str(folder)


def find_gguf(name: str, gguf_file: str | None = None) -> Path | None:
    """The GGUF file ``name`` (with ``gguf_file``) points at, or None for other models."""
    path = Path(name).expanduser()
    if gguf_file:
        if path.is_dir():
            return _existing_file(path / gguf_file, name)
        if _looks_like_path(name):
            raise _no_such_folder(name)
        return _hub_file(name, gguf_file)
    if name.lower().endswith(".gguf"):
        return _existing_file(path, name)
    builtin = builtin_model(name)
    if isinstance(builtin, BuiltinModel) and not path.exists():
        return builtin.gguf_path()
    return None


def _existing_file(path: Path, name: str) -> Path:
    if not path.is_file():
        raise ModelNotFoundError(f"model '{name}': no such GGUF file {path}")
    return path


def _hub_file(repo_id: str, filename: str) -> Path:
    """One file of a Hub repo, from the cache or downloaded (GGUF repos hold several)."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, filename)
    except ValueError:
        cached = None
    if isinstance(cached, str):
        return Path(cached)
    require_hub(f"{repo_id}/{filename}")
    try:
        return Path(hf_hub_download(repo_id, filename))
    except Exception as exc:  # not found, gated, network...
        first = first_line(exc)
        raise ModelNotFoundError(f"model '{repo_id}': cannot get {filename} ({first})") from exc


def require_hub(name: str) -> None:
    """Fail at once, with the fix, when the Hub cannot serve ``name``."""
    fix = "pass a local folder as model=, or run once with network access to download it"
    fix += _offline_hint(name)
    if hub_offline():
        raise ModelNotFoundError(
            f"model '{name}' is not in the local cache and the Hub is offline "
            f"(HF_HUB_OFFLINE=1); {fix}",
            param="model",
        )
    if not hub_reachable():
        raise ModelNotFoundError(
            f"model '{name}' is not in the local cache and {hub_endpoint()} cannot be reached; "
            f"{fix}",
            param="model",
        )


def _offline_hint(name: str) -> str:
    """Point users of a default Hub model at the built-in one, which needs no network, or
    at the shipped recipe that trains one offline."""
    task = next((task for task in TASKS if task.default_model == name), None)
    if task is None:  # not a default
        return ""
    if task.offline_model is None:
        recipe = task.offline_recipe
        return f"; or train one offline (in a checkout): nlpkit finetune {recipe}" if recipe else ""
    builtin = BUILTIN_MODELS[task.offline_model]
    if builtin.source_path() is not None:
        return f"; or use the built-in model offline: model='{builtin.name}'"
    return f"; or install the built-in offline model ({builtin.name}): {builtin.install_hint}"


def _looks_like_path(name: str) -> bool:
    """``./x``, ``../x``, ``~/x``, absolute, ``a/b/c``, or ``runs/x`` where ``runs/`` is a
    local folder: a Hub id is ``org/name``, and no org is named like a folder here."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).is_absolute():
        return True
    if os.sep != "/" and os.sep in name:
        return True
    head = name.split("/")[0]
    return "/" in name and Path(head).is_dir()


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
