"""The local model store: GGUF files and built-in adapters made once into safetensors folders.

Reading a GGUF file through transformers dequantizes every tensor and rebuilds
the tokenizer (about 45 s for SmolLM2-135M on two CPU cores); the same weights
saved as safetensors reload in under a second. So the first use of a GGUF file
converts it into ``$NLPKIT_HOME/models/NAME`` (default: the user cache folder)
and later uses load that folder; the built-in sentiment adapter is merged into
its base model the same way. An entry is written into a hidden folder in
the store and renamed into place only when complete, so a crash or a corrupt
file never leaves half an entry behind.

A built-in model's entry is named by what it is made of (``sentiment-<digest>``: the
digests of its files and ``FORMAT_VERSION``), not by where nlpkit is installed, so
every clone and virtualenv sharing ``$NLPKIT_HOME`` uses one entry, and an entry never
changes once published. A file lock per entry makes concurrent first uses wait for
the one that prepares it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nlpkit.atomic import temp_dir_beside, widen_to_umask
from nlpkit.errors import ModelNotFoundError, OutputError, UsageError
from nlpkit.models.backends import (
    INT8_FILE,
    chosen_file,
    int8_summary,
    onnx_available,
    onnx_folder,
    read_report,
)
from nlpkit.models.builtin import (
    BUILTIN_MODELS,
    Builtin,
    BuiltinAdapter,
    BuiltinFolder,
    BuiltinModel,
)
from nlpkit.models.digests import content_key, digests
from nlpkit.models.gguf import convert_gguf
from nlpkit.models.manifest import MANIFEST, is_current, write_manifest

HOME_ENV = "NLPKIT_HOME"
PARTIAL_PREFIX = ".partial-"
LOCKS = "locks"  # beside models/, which holds entries only
STALE_PARTIAL_S = 24 * 3600
# What a built-in entry holds: bump when the merge, the conversion, the ONNX export or
# the int8 recipes change, so every install makes the new entry instead of reusing one.
FORMAT_VERSION = 3
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreEntry:
    """One converted model: ``path`` is a folder that from_pretrained reads."""

    name: str
    source: str
    path: Path
    size_bytes: int
    created: str
    builtin: str = ""  # the built-in model it holds, if any


def nlpkit_home() -> Path:
    """``$NLPKIT_HOME``, else the user cache folder (e.g. ~/.cache/nlpkit)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("nlpkit", appauthor=False))


def models_dir() -> Path:
    return nlpkit_home() / "models"


def entry_name(gguf: Path) -> str:
    """The store name of a GGUF file: a built-in's content-named entry, else stem + path
    hash."""
    resolved = gguf.resolve()
    builtin = _builtin_for(resolved)
    if builtin is not None:
        return builtin_entry_name(builtin)
    stem = re.sub(r"[^a-z0-9._-]+", "-", resolved.stem.lower()).strip("-.") or "model"
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


def _builtin_for(gguf: Path) -> BuiltinModel | BuiltinAdapter | None:
    return next((b for b in BUILTIN_MODELS.values() if b.source_path() == gguf), None)


def builtin_key(builtin: BuiltinModel | BuiltinAdapter) -> str:
    """The digest of what a built-in entry is made of: its files' contents (not their
    paths) and FORMAT_VERSION."""
    files = builtin.content_files()
    found = digests(files.values(), nlpkit_home())
    parts = {
        "format": FORMAT_VERSION,
        "builtin": builtin.name,
        "files": dict(zip(files, found, strict=True)),
    }
    return content_key(parts)


def builtin_entry_name(builtin: BuiltinModel | BuiltinAdapter) -> str:
    """``NAME-<12 hex digits of builtin_key>``: one entry per content, shared by installs."""
    return f"{builtin.name}-{builtin_key(builtin)[:12]}"


def find_entry(name: str) -> StoreEntry | None:
    """The complete entry called ``name``, or None."""
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        return None
    return _read_entry(models_dir() / name)


def list_entries() -> list[StoreEntry]:
    """Complete entries, by name; hidden partial folders are not entries."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    entries = (_read_entry(path) for path in sorted(folder.iterdir()))
    return [entry for entry in entries if entry is not None]


def _read_entry(folder: Path) -> StoreEntry | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return StoreEntry(
        folder.name,
        manifest.get("source", "?"),
        folder,
        size,
        manifest.get("created", ""),
        manifest.get("builtin", ""),
    )


@dataclass(frozen=True)
class ModelInfo:
    """One row of `nlpkit models`."""

    name: str
    kind: str
    status: str
    source: str
    size_mb: int
    path: str
    backend: str = "torch"
    int8_recipe: str = ""  # the recipe the gate kept, and the CPU it ran on


def list_models() -> list[ModelInfo]:
    """Built-in models (made or not), then every other entry: GGUF conversions, and
    built-in entries that other files (another nlpkit version) made."""
    entries = {entry.name: entry for entry in list_entries()}
    rows = []
    for builtin in BUILTIN_MODELS.values():
        name = builtin_entry_name(builtin) if builtin.source_path() is not None else ""
        rows.append(_builtin_row(builtin, entries.pop(name, None)))
    for entry in entries.values():
        if _made_by_builtin(entry):
            rows.append(_row(entry, "built-in", "outdated"))
        else:
            rows.append(_row(entry, "converted"))
    return rows


def _made_by_builtin(entry: StoreEntry) -> bool:
    """A built-in's entry: named in its manifest, or by its name alone (earlier nlpkit
    named entries ``sentiment`` and ``smollm2`` and kept one per install path)."""
    return bool(entry.builtin) or entry.name in BUILTIN_MODELS


def _row(entry: StoreEntry, kind: str, status: str = "ready", source: str = "") -> ModelInfo:
    size = _mb(entry.size_bytes)
    path = str(entry.path)
    return ModelInfo(entry.name, kind, status, source or entry.source, size, path, *backend(path))


def backend(folder: str) -> tuple[str, str]:
    """What `classify --backend auto` runs for this folder (onnx int8, onnx fp32 or torch),
    and for int8 the recipe the gate kept and the CPU it was gated on."""
    chosen = chosen_file(folder)
    if chosen is None:
        return "torch", ""
    if chosen.name != INT8_FILE:
        return "onnx fp32", ""
    return "onnx int8", int8_summary(read_report(chosen.parent))


def _builtin_row(builtin: Builtin, entry: StoreEntry | None) -> ModelInfo:
    first_use = getattr(builtin, "prepares_onnx", False) and onnx_available()
    later = "onnx at first use" if first_use else "torch"
    if entry is not None:
        row = _row(entry, "built-in", source=builtin.source_label)
        row = dataclasses.replace(row, name=builtin.name)
        return row if onnx_folder(entry.path) else dataclasses.replace(row, backend=later)
    source = builtin.source_path()
    if source is None:
        status = f"not installed: {builtin.install_hint}"
        return ModelInfo(builtin.name, "built-in", status, builtin.source_label, 0, "")
    status = {BuiltinModel: "converts", BuiltinFolder: "links"}.get(type(builtin), "merges")
    status += " on first use"
    size = _mb(source.stat().st_size)
    path = str(source)
    return ModelInfo(builtin.name, "built-in", status, builtin.source_label, size, path, later)


def _mb(size_bytes: int) -> int:
    return round(size_bytes / 1e6)


def remove_model(name: str) -> ModelInfo:
    """Delete a store entry; its source (a GGUF file, a built-in's package) is left alone.
    A built-in's name removes the entry this install uses."""
    builtin = BUILTIN_MODELS.get(name.lower())
    if builtin is None:
        entry = remove_entry(name)
        return _row(entry, "built-in" if _made_by_builtin(entry) else "converted", "removed")
    entry = builtin_entry_name(builtin) if builtin.source_path() is not None else None
    if entry is None or find_entry(entry) is None:
        entry = builtin.name  # an older nlpkit's entry, named like the built-in
    if find_entry(entry) is None:
        raise UsageError(
            f"'{builtin.name}' is built in and not in the store yet: nothing to remove "
            f"(its source goes with `pip uninstall {builtin.pip_name}`)"
        )
    return dataclasses.replace(_row(remove_entry(entry), "built-in", "removed"), name=builtin.name)


def remove_entry(name: str) -> StoreEntry:
    """Delete a converted model; its GGUF source is left alone."""
    entry = find_entry(name)
    if entry is None:
        known = ", ".join(e.name for e in list_entries()) or "none"
        raise UsageError(f"no converted model '{name}' in {models_dir()} (converted: {known})")
    # Rename first, so the entry disappears at once even if deleting takes a while; under
    # its lock, so no process is adding its ONNX export meanwhile.
    with entry_lock(entry.name):
        doomed = entry.path.with_name(f"{PARTIAL_PREFIX}{entry.name}-{os.getpid()}")
        os.replace(entry.path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return entry


def ensure_converted(gguf: Path) -> Path:
    """The store folder for ``gguf``, converting it first if needed (once)."""
    gguf = Path(gguf).expanduser().resolve()
    if not gguf.is_file():
        raise UsageError(f"'{gguf}': no such GGUF file")
    builtin = _builtin_for(gguf)
    if builtin is not None:
        return ensure_builtin(builtin)
    what = f"converting {gguf.name} into the model store, once (about a minute on CPU)"
    return ensure_entry(entry_name(gguf), gguf, convert_gguf, what)


def ensure_builtin(builtin: BuiltinModel | BuiltinAdapter) -> Path:
    """The store folder of a built-in model, converting or merging it first if needed;
    every install with the same files shares it."""
    source = builtin.source_path()
    if source is None:
        raise ModelNotFoundError(
            f"model '{builtin.name}' is built in but its package is not installed: "
            f"{builtin.install_hint}"
        )
    if isinstance(builtin, BuiltinModel):
        what = f"converting {source.name} into the model store, once (about a minute on CPU)"
        build = lambda gguf, folder: convert_gguf(gguf, folder)  # noqa: E731 (patched in tests)
    elif isinstance(builtin, BuiltinFolder):
        what = f"linking the built-in model '{builtin.name}' into the model store, once"
        build = lambda _source, folder: builtin.link_into(folder)  # noqa: E731
    else:
        from nlpkit.models.builtin.merge import merge_adapter

        what = f"preparing the built-in model '{builtin.name}' in the model store, once (seconds)"
        build = lambda _source, folder: merge_adapter(builtin, folder)  # noqa: E731
    key = builtin_key(builtin)
    name = f"{builtin.name}-{key[:12]}"
    return ensure_entry(name, source, build, what, key=key, builtin=builtin)


def ensure_entry(
    name: str,
    source: Path,
    build: Callable[[Path, Path], None],
    what: str,
    key: str | None = None,
    builtin: BuiltinModel | BuiltinAdapter | None = None,
) -> Path:
    """The store folder ``name``, built from ``source`` by ``build(source, folder)`` once.

    The build is announced on the ``nlpkit`` logger (the CLI shows it), so the user
    knows why this first load takes a while. It runs under the entry's lock and writes
    into a hidden folder renamed into place when complete. An entry with a ``key`` (a
    built-in's content digest) is current while its key matches; one without is rebuilt
    when ``source`` changes (path, size or mtime).
    """
    final = models_dir() / name
    if is_current(final, source, key):
        return final
    with entry_lock(name):
        if is_current(final, source, key):
            return final  # another process made it while this one waited
        logger.info("%s: %s", what, final)
        partial = _new_partial(final)
        try:
            build(source, partial)
            write_manifest(partial, source, key, builtin)
            widen_to_umask(partial)
            _publish(partial, final)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return final


@contextlib.contextmanager
def entry_lock(name: str) -> Iterator[None]:
    """Hold the lock of store entry ``name``: another process (or thread) preparing the
    same entry waits here, and is told why on the ``nlpkit`` logger."""
    from filelock import FileLock, Timeout

    folder = nlpkit_home() / LOCKS
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(folder / f"{name}.lock", is_singleton=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info("waiting for another nlpkit process preparing %s", models_dir() / name)
            lock.acquire()
    except OSError as exc:
        raise _unwritable(folder, exc) from None
    try:
        yield
    finally:
        lock.release()


def _unwritable(folder: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"model store {folder}: cannot write there ({exc.strerror}); "
        f"set {HOME_ENV} to a writable folder"
    )


def _new_partial(final: Path) -> Path:
    """A hidden folder to build ``final`` in. Under the entry's lock, earlier partial
    folders of the same entry are leftovers of killed processes."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        for leftover in final.parent.glob(f"{PARTIAL_PREFIX}{final.name}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        _remove_stale_partials(final.parent)
        return temp_dir_beside(final.parent, f"{PARTIAL_PREFIX}{final.name}-")
    except OSError as exc:
        raise _unwritable(final.parent, exc) from None


def _publish(partial: Path, final: Path) -> None:
    """Rename the finished folder into place (under the entry's lock); an outdated
    entry is moved aside first."""
    if final.exists():
        old = final.with_name(f"{PARTIAL_PREFIX}{final.name}-old-{os.getpid()}")
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(partial, final)


def _remove_stale_partials(folder: Path) -> None:
    """Leftovers of conversions killed mid-way (a live one is younger than a day)."""
    cutoff = time.time() - STALE_PARTIAL_S
    for path in folder.glob(f"{PARTIAL_PREFIX}*"):
        if path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
