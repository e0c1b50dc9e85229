"""Build a built-in adapter model (sentiment, entities): the MiniLM base with nlpkit's
LoRA adapter and trained head merged in.

Importing peft costs seconds; the merged model, saved once into the model store,
reloads as a plain safetensors folder without it (README: built-in model).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

from nlpkit.errors import ModelLoadError, first_line
from nlpkit.models.builtin import BuiltinAdapter


def merge_adapter(builtin: BuiltinAdapter, folder: Path) -> None:
    """Save the merged model and its tokenizer to ``folder`` (a model store entry)."""
    model, tokenizer = merged_model(builtin)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def merged_model(builtin: BuiltinAdapter) -> tuple[Any, Any]:
    """(model, tokenizer): the base, with the adapter (LoRA + trained head) merged in."""
    import transformers
    from peft import PeftModel

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    base = builtin.base_path()
    if base is None:
        raise ModelLoadError(
            f"built-in model '{builtin.name}' needs its base model: {builtin.install_hint}"
        )
    options = {"local_files_only": True}
    try:
        config = transformers.AutoConfig.from_pretrained(builtin.folder, **options)
        tokenizer = transformers.AutoTokenizer.from_pretrained(base, **options)
        # Quiet: the report on the (replaced) untrained head, libraries' deprecation notes.
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            head = getattr(transformers, config.architectures[0])  # the adapter's head
            model = head.from_pretrained(base, config=config, use_safetensors=True, **options)
            merged = PeftModel.from_pretrained(model, builtin.folder).merge_and_unload()
    except Exception as exc:  # peft and transformers raise many types for damaged files
        first = first_line(exc)
        raise ModelLoadError(
            f"built-in model '{builtin.name}': cannot merge its adapter ({first}); "
            f"reinstall nlpkit and {builtin.pip_name}"
        ) from exc
    return merged.eval(), tokenizer
