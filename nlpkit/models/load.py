"""Load a model and tokenizer once per (kind, model, device, dtype) and reuse them.

Loading failures become ModelLoadError with the model name and the likely fix,
so the CLI never shows a transformers traceback for a bad folder.

The libraries' warnings and log chatter (FutureWarning, UserWarning, "Some weights
were not used...") stay out of the caller's output unless nlpkit's logger is at
DEBUG: ``nlpkit --debug``, or ``logging.basicConfig(level=logging.DEBUG)`` in Python.
nlpkit's own NlpkitWarning always goes through the caller's warning filters.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nlpkit.devices import check_device_map, resolve_device, resolve_dtype
from nlpkit.errors import ModelLoadError, NlpkitWarning, first_line
from nlpkit.models.resolve import ModelSource, resolve_model
from nlpkit.models.safety import (
    check_model_folder,
    current_policy,
    explain_load_error,
    pretrained_options,
)
from nlpkit.tasks.table import LOADER_CLASSES

_CACHE: dict[tuple, LoadedModel] = {}
LIMIT_FALLBACK = 512
LIBRARIES = ("transformers", "torch", "huggingface_hub", "tokenizers", "accelerate", "peft")
_LIBRARY_MODULES = rf"({'|'.join(LIBRARIES)}|safetensors|gguf)(\.|$)"
_quiet: dict[str, Any] = {"depth": 0}
_QUIET_LOCK = threading.Lock()


def set_library_verbosity() -> None:
    """transformers logs errors only, unless the caller asked for library output (DEBUG).

    Set at every load, both ways: transformers resets it at import, and an earlier
    quiet load must not silence a later caller who asked to see everything.
    """
    import transformers

    if library_output_wanted():
        transformers.utils.logging.set_verbosity_warning()
    else:
        transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # loading is quick; our own bar shows work


def library_output_wanted() -> bool:
    """True when the caller asked for library chatter: nlpkit's logger enabled for DEBUG."""
    return logging.getLogger("nlpkit").isEnabledFor(logging.DEBUG)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Within the block (or decorated call), library warnings and INFO/WARNING logs are dropped.

    Re-entrant and thread-safe: the outermost block saves and restores the warning
    filters and the library loggers' levels, so overlapping calls leave nothing behind.
    """
    with _QUIET_LOCK:
        if _quiet["depth"] == 0 and not library_output_wanted():
            _quiet["filters"] = warnings.catch_warnings()
            _quiet["filters"].__enter__()
            warnings.filterwarnings("ignore", module=_LIBRARY_MODULES)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            loggers = [logging.getLogger(name) for name in LIBRARIES]
            _quiet["levels"] = [(logger, logger.level) for logger in loggers]
            for logger in loggers:
                logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0 and "filters" in _quiet:
                _quiet.pop("filters").__exit__(None, None, None)
                for logger, level in _quiet.pop("levels"):
                    logger.setLevel(level)


@dataclass
class LoadedModel:
    name: str
    model: Any
    tokenizer: Any
    device: Any

    @property
    def max_input_tokens(self) -> int:
        """The longest input the model takes, from tokenizer and config."""
        limits = [self.tokenizer.model_max_length]
        config_limit = getattr(self.model.config, "max_position_embeddings", None)
        if config_limit:
            limits.append(config_limit)
        limit = min(limits)
        return limit if limit < 1_000_000 else LIMIT_FALLBACK


def load_model(
    kind: str,
    name: str,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    gguf_file: str | None = None,
    device_map: str | None = None,
) -> LoadedModel:
    """The cached model for this key, loading it on first use.

    A GGUF model is converted into the model store once and loaded from there.
    ``device_map="auto"`` lets accelerate spread the layers over the GPUs (and the
    CPU) for a model too large for one device; it replaces ``device``.
    """
    check_device_map(device_map, device)
    key = (kind, name, gguf_file, device, dtype, trust_remote_code, device_map, current_policy())
    if key not in _CACHE:
        with quiet_libraries():
            _CACHE[key] = _load(kind, name, device, dtype, trust_remote_code, gguf_file, device_map)
    return _CACHE[key]


def model_config(name: str, gguf_file: str | None = None, trust_remote_code: bool = False):
    """The model's config alone (cheap), to pick a code path before loading weights."""
    for key, loaded in _CACHE.items():
        if key[1:3] == (name, gguf_file):
            return loaded.model.config
    source = resolve_model(name, gguf_file)
    import transformers

    check_model_folder(source.path, name)
    try:
        with quiet_libraries():
            return transformers.AutoConfig.from_pretrained(
                source.path,
                local_files_only=source.local_files_only,
                trust_remote_code=trust_remote_code or current_policy().trust_remote_code,
            )
    except Exception as exc:
        raise ModelLoadError(f"model '{name}': cannot load ({first_line(exc)})") from exc


def _load(
    kind: str,
    name: str,
    device: str,
    dtype: str,
    trust_remote_code: bool,
    gguf_file: str | None,
    device_map: str | None = None,
) -> LoadedModel:
    source = resolve_model(name, gguf_file)  # first: an unreachable model fails before imports
    torch_device = resolve_device(device)  # with a device map: the best device, for the dtype
    placement = {"device_map": device_map} if device_map else {}
    dtype_option = {"dtype": resolve_dtype(dtype, torch_device)}
    model, tokenizer, info = from_pretrained(
        kind, name, source, trust_remote_code, **dtype_option, **placement
    )
    _check_fit(name, model, tokenizer, info)
    if device_map:  # accelerate placed the layers; inputs go where the first ones are
        return LoadedModel(name, model.eval(), tokenizer, model.device)
    model.to(torch_device).eval()
    return LoadedModel(name, model, tokenizer, torch_device)


def from_pretrained(
    kind: str, name: str, source: ModelSource, trust_remote_code: bool = False, **model_options
) -> tuple[Any, Any, dict]:
    """(model, tokenizer, loading info): the one place weights are read, for inference and
    training alike. Safetensors only and no model code unless the policy allows them; a
    model of the wrong family is refused before its weights are read."""
    import transformers

    set_library_verbosity()
    check_model_folder(source.path, name)
    safe = pretrained_options(name, trust_remote_code)
    options = {
        "local_files_only": source.local_files_only,
        "trust_remote_code": safe.pop("trust_remote_code"),
    }
    auto_class = getattr(transformers, LOADER_CLASSES[kind])
    try:
        config = transformers.AutoConfig.from_pretrained(source.path, **options)
        _check_kind(kind, name, config)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.path, **options)
        model, info = auto_class.from_pretrained(
            source.path, output_loading_info=True, **options, **safe, **model_options
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # any failure here means the folder cannot serve this task
        first = explain_load_error(first_line(exc))
        raise ModelLoadError(f"model '{name}': cannot load ({first})") from exc
    return model, tokenizer, info


def _check_kind(kind: str, name: str, config: Any) -> None:
    """Refuse a model of the wrong family before its weights are read."""
    if kind == "seq2seq" and not config.is_encoder_decoder:
        raise ModelLoadError(
            f"model '{name}' is a {config.model_type} model, not an encoder-decoder (seq2seq) "
            "model; use one like BART, T5, Pegasus or Marian (opus-mt)"
        )
    architectures = getattr(config, "architectures", None) or []
    if kind == "causal" and architectures and not any(map(_generates, architectures)):
        raise ModelLoadError(
            f"model '{name}' is a {architectures[0]}, not a text generator; "
            "pick a causal LM (GPT-2, Llama, smollm2...) or a seq2seq model for this task"
        )
    if kind == "causal" and config.is_encoder_decoder:
        raise ModelLoadError(
            f"model '{name}' is an encoder-decoder ({config.model_type}) model; "
            "use it with summarize or translate, or pick a causal LM for generate"
        )


def _generates(architecture: str) -> bool:
    return architecture.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))


def _check_fit(name: str, model: Any, tokenizer: Any, info: dict) -> None:
    vocab = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > vocab:
        raise ModelLoadError(
            f"model '{name}': tokenizer has {len(tokenizer)} tokens but the model embeds only "
            f"{vocab}; the tokenizer does not belong to this model"
        )
    missing = info.get("missing_keys") or []
    if missing:
        warnings.warn(
            f"model '{name}': {len(missing)} weights are not in the checkpoint and were "
            f"initialized randomly (e.g. {sorted(missing)[0]}); its outputs are untrained",
            NlpkitWarning,
            stacklevel=3,
        )


def forget(loaded: LoadedModel) -> None:
    """Drop one model from the cache (a check that loads a folder once, then lets it go)."""
    for key in [key for key, value in _CACHE.items() if value is loaded]:
        del _CACHE[key]


def clear_cache() -> None:
    """Forget loaded models (frees memory; the next call loads again)."""
    _CACHE.clear()
