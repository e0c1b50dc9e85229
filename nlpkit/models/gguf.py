"""Convert a GGUF file into a transformers safetensors folder (a model store entry).

Reading GGUF through transformers dequantizes every tensor and rebuilds the tokenizer
(about 45 s for SmolLM2-135M on two CPU cores); the saved folder reloads in under a
second, so ``nlpkit.models.store`` does this once per file.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from nlpkit.errors import ModelLoadError, first_line


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
