"""The local model store: GGUF files and built-in adapters made once into safetensors folders.

Reading a GGUF file through transformers dequantizes every tensor and rebuilds
the tokenizer (about 45 s for SmolLM2-135M on two CPU cores); the same weights
saved as safetensors reload in under a second. So the first use of a GGUF file
converts it into ``$NLPKIT_HOME/models/NAME`` (default: the user cache folder)
and later uses load that folder; the built-in sentiment adapter is merged into
its base model the same way. An entry is written into a hidden folder in
the store and renamed into place only when complete, so a crash or a corrupt
file never leaves half an entry behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nlpkit.atomic import temp_dir_beside, widen_to_umask
from nlpkit.errors import ModelLoadError, ModelNotFoundError, OutputError, UsageError, first_line
from nlpkit.models.backends import INT8_FILE, chosen_file, onnx_available, onnx_folder
from nlpkit.models.builtin import BUILTIN_MODELS, BuiltinAdapter, BuiltinModel

HOME_ENV = "NLPKIT_HOME"
MANIFEST = "nlpkit-model.json"
PARTIAL_PREFIX = ".partial-"
STALE_PARTIAL_S = 24 * 3600
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreEntry:
    """One converted model: ``path`` is a folder that from_pretrained reads."""

    name: str
    source: str
    path: Path
    size_bytes: int
    created: str


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
    """The store name of a GGUF file: a built-in's own name, else stem + path hash."""
    resolved = gguf.resolve()
    for builtin in BUILTIN_MODELS.values():
        if builtin.source_path() == resolved:
            return builtin.name
    stem = re.sub(r"[^a-z0-9._-]+", "-", resolved.stem.lower()).strip("-.") or "model"
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


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
        folder.name, manifest.get("source", "?"), folder, size, manifest.get("created", "")
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


def list_models() -> list[ModelInfo]:
    """Built-in models (converted or not), then every other converted GGUF file."""
    entries = {entry.name: entry for entry in list_entries()}
    rows = [_builtin_row(b, entries.pop(name, None)) for name, b in BUILTIN_MODELS.items()]
    return rows + [_row(entry, "converted") for entry in entries.values()]


def _row(entry: StoreEntry, kind: str, status: str = "ready", source: str = "") -> ModelInfo:
    size = _mb(entry.size_bytes)
    path = str(entry.path)
    return ModelInfo(entry.name, kind, status, source or entry.source, size, path, backend(path))


def backend(folder: str) -> str:
    """What `classify --backend auto` runs for this folder: onnx int8, onnx fp32 or torch."""
    chosen = chosen_file(folder)
    if chosen is None:
        return "torch"
    return "onnx int8" if chosen.name == INT8_FILE else "onnx fp32"


def _builtin_row(builtin: BuiltinModel | BuiltinAdapter, entry: StoreEntry | None) -> ModelInfo:
    later = "onnx at first use" if builtin.task == "classify" and onnx_available() else "torch"
    if entry is not None:
        row = _row(entry, "built-in", source=builtin.source_label)
        return row if onnx_folder(entry.path) else dataclasses.replace(row, backend=later)
    source = builtin.source_path()
    if source is None:
        status = f"not installed: {builtin.install_hint}"
        return ModelInfo(builtin.name, "built-in", status, builtin.source_label, 0, "")
    status = "converts on first use" if isinstance(builtin, BuiltinModel) else "merges on first use"
    size = _mb(source.stat().st_size)
    path = str(source)
    return ModelInfo(builtin.name, "built-in", status, builtin.source_label, size, path, later)


def _mb(size_bytes: int) -> int:
    return round(size_bytes / 1e6)


def remove_model(name: str) -> ModelInfo:
    """Delete a converted model; its GGUF source (a built-in's package) is left alone."""
    builtin = BUILTIN_MODELS.get(name.lower())
    if builtin is not None and find_entry(builtin.name) is None:
        raise UsageError(
            f"'{builtin.name}' is built in and not in the store yet: nothing to remove "
            f"(its source goes with `pip uninstall {builtin.pip_name}`)"
        )
    entry = remove_entry(builtin.name if builtin else name)
    return _row(entry, "built-in" if builtin else "converted", "removed")


def remove_entry(name: str) -> StoreEntry:
    """Delete a converted model; its GGUF source is left alone."""
    entry = find_entry(name)
    if entry is None:
        known = ", ".join(e.name for e in list_entries()) or "none"
        raise UsageError(f"no converted model '{name}' in {models_dir()} (converted: {known})")
    # Rename first, so the entry disappears at once even if deleting takes a while.
    doomed = entry.path.with_name(f"{PARTIAL_PREFIX}{entry.name}-{os.getpid()}")
    os.replace(entry.path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return entry


def ensure_converted(gguf: Path) -> Path:
    """The store folder for ``gguf``, converting it first if needed (once)."""
    gguf = Path(gguf).expanduser().resolve()
    if not gguf.is_file():
        raise UsageError(f"'{gguf}': no such GGUF file")
    what = f"converting {gguf.name} into the model store, once (about a minute on CPU)"
    return ensure_entry(entry_name(gguf), gguf, convert_gguf, what)


def ensure_builtin(builtin: BuiltinModel | BuiltinAdapter) -> Path:
    """The store folder of a built-in model, converting or merging it first if needed."""
    source = builtin.source_path()
    if source is None:
        raise ModelNotFoundError(
            f"model '{builtin.name}' is built in but its package is not installed: "
            f"{builtin.install_hint}"
        )
    if isinstance(builtin, BuiltinModel):
        return ensure_converted(source)
    from nlpkit.models.builtin.merge import merge_adapter

    what = f"preparing the built-in model '{builtin.name}' in the model store, once (seconds)"
    build = lambda _source, folder: merge_adapter(builtin, folder)  # noqa: E731
    return ensure_entry(builtin.name, source, build, what)


def ensure_entry(name: str, source: Path, build: Callable[[Path, Path], None], what: str) -> Path:
    """The store folder ``name``, built from ``source`` by ``build(source, folder)`` once.

    The build is announced on the ``nlpkit`` logger (the CLI shows it), so the user
    knows why this first load takes a while. It writes into a hidden folder that is
    renamed into place when complete; an entry is rebuilt when ``source`` changes.
    """
    final = models_dir() / name
    if _is_current(final, source):
        return final
    logger.info("%s: %s", what, final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(final.parent)
        partial = temp_dir_beside(final.parent, f"{PARTIAL_PREFIX}{name}-")
    except OSError as exc:
        raise OutputError(
            f"model store {final.parent}: cannot write there ({exc.strerror}); "
            f"set {HOME_ENV} to a writable folder"
        ) from None
    try:
        build(source, partial)
        _write_manifest(partial, source)
        widen_to_umask(partial)
        _publish(partial, final, source)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _is_current(folder: Path, source: Path) -> bool:
    """A complete entry built from this very file (same path, size and mtime)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stat = source.stat()
    return manifest.get("source") == str(source) and manifest.get("source_stat") == [
        stat.st_size,
        stat.st_mtime_ns,
    ]


def _write_manifest(folder: Path, source: Path) -> None:
    import transformers

    stat = source.stat()
    manifest = {
        "source": str(source),
        "source_stat": [stat.st_size, stat.st_mtime_ns],
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "transformers": transformers.__version__,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _publish(partial: Path, final: Path, source: Path) -> None:
    """Rename the finished folder into place; an outdated entry is moved aside first."""
    if final.exists():
        if _is_current(final, source):
            return  # another process built the same entry meanwhile
        old = final.with_name(f"{PARTIAL_PREFIX}{final.name}-old-{os.getpid()}")
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(partial, final)
    except OSError:
        if not _is_current(final, source):  # else: another process won the race, same content
            raise


def _remove_stale_partials(folder: Path) -> None:
    """Leftovers of conversions killed mid-way (a live one is younger than a day)."""
    cutoff = time.time() - STALE_PARTIAL_S
    for path in folder.glob(f"{PARTIAL_PREFIX}*"):
        if path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Read ``gguf`` with transformers' own GGUF loader and save it as safetensors."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    options = {"gguf_file": gguf.name, "local_files_only": True}
    try:
        config = transformers.AutoConfig.from_pretrained(gguf.parent, **options)
        auto_class = (
            transformers.AutoModelForSeq2SeqLM
            if config.is_encoder_decoder
            else transformers.AutoModelForCausalLM
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, **options)
        # Dense weights: what safetensors stores and what CPU matmuls want.
        dense = transformers.GgufConfig(dequantize=True)
        with contextlib.redirect_stderr(io.StringIO()):  # the loader's own tqdm bar
            model = auto_class.from_pretrained(gguf.parent, quantization_config=dense, **options)
    except Exception as exc:  # the loader raises many types for a damaged file
        raise ModelLoadError(
            f"'{gguf}': cannot read this GGUF file ({first_line(exc)}); it may be truncated "
            "or corrupt (download it again), or its architecture is one transformers cannot load"
        ) from exc
    clear_gguf_state(model)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def clear_gguf_state(model) -> None:
    """Forget that the weights came from GGUF: they are plain tensors now.

    transformers keeps the GGUF quantizer on the model and refuses to save it
    ("quantized with gguf and is not serializable") unless it was dropped.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.is_quantized = False
