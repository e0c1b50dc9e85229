"""Cheap facts for `nlpkit plan`: training rows, parameter counts, a memory estimate.

Nothing here tokenizes data or reads weights: rows are counted from the files
(or a cached Hub dataset's metadata), parameters from a model built on the
``meta`` device (accelerate's ``init_empty_weights``), as ``accelerate
estimate-memory`` does. The memory figure is an estimate, an upper bound at
``max_length``; real use with dynamic padding is usually lower.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nlpkit.recipe.checks import DATA_SUFFIXES, data_suffix, open_text, resolve_model_reference
from nlpkit.recipe.schema import Recipe
from nlpkit.tasks.pieces import pieces_of

ADAM_STATE_BYTES = 8  # exp_avg and exp_avg_sq, fp32
MASTER_WEIGHT_BYTES = 4  # the Trainer keeps fp32 weights and casts in autocast
ACTIVATION_UNITS = 17  # per token and hidden unit per layer (Korthikanti et al. 2022: 34 bytes)
# That formula assumes fused kernels. Measured here (CPU, eager, MiniLM + LoRA, batch 32 x 128,
# fp32): forward + backward grew the process by 2.4 GiB against 0.95 GiB from the formula.
UNFUSED_FACTOR = 2.5


def count_rows(path: str | Path, header: bool = True) -> int:
    """Rows a datasets loader would read from this local file, without parsing it fully.

    ``header=False`` for csv/tsv files read with ``data.column_names`` (no header row).
    """
    path, skip = Path(path), int(header)
    kind = DATA_SUFFIXES.get(data_suffix(path))
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows
    with open_text(path) as handle:
        if kind == "csv" and data_suffix(path) == ".csv":
            return max(sum(1 for _ in csv.reader(handle)) - skip, 0)
        if kind == "csv":  # tsv is read without quoting: one line, one row
            return max(sum(1 for line in handle if line.strip()) - skip, 0)
        if kind == "json":
            head = handle.read(1).lstrip() or handle.read(64).lstrip()[:1]
            handle.seek(0)
            if head == "[":
                return len(json.load(handle))
        return sum(1 for line in handle if line.strip())


def train_rows(recipe: Recipe) -> tuple[int | None, str | None]:
    """(rows the run trains on, or None; a note saying why it is unknown)."""
    data = recipe.data
    if data.train_file:
        rows: int | None = count_rows(data.train_file, header=data.column_names is None)
    else:
        rows = _hub_rows(data.dataset, data.dataset_config, data.train_split)
        if rows is None:
            return None, f"rows of {data.dataset} unknown (not cached, Hub not queried)"
    if data.max_train_samples is not None:
        rows = min(rows, data.max_train_samples)
    return rows, pieces_of(recipe.task).rows_note()


def _hub_rows(dataset: str | None, config: str | None, split: str) -> int | None:
    """A Hub dataset's split size from its builder metadata: cached, or the Hub if reachable."""
    from nlpkit.models.resolve import hub_offline, hub_reachable

    if not dataset or (not hub_offline() and not hub_reachable()):
        return None
    try:
        from datasets import load_dataset_builder

        info = load_dataset_builder(dataset, config).info
        return int(info.splits[split].num_examples)
    except Exception:  # not cached offline, no metadata, unknown split
        return None


def model_config(recipe: Recipe) -> Any:
    """The model's config alone: a folder, a Hub id (cached or reachable), or a GGUF file."""
    from transformers import AutoConfig

    from nlpkit.models.resolve import find_gguf, resolve_model
    from nlpkit.models.store import entry_name, find_entry

    reference = resolve_model_reference(recipe.model)
    gguf = find_gguf(reference)
    if gguf is not None:
        entry = find_entry(entry_name(gguf))
        if entry is not None:
            return AutoConfig.from_pretrained(entry.path)
        return AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)  # no conversion
    source = resolve_model(reference)
    return AutoConfig.from_pretrained(source.path, local_files_only=source.local_files_only)


def count_parameters(recipe: Recipe, config: Any) -> tuple[int, int]:
    """(trainable, total) parameters of the model the recipe trains, built on the meta device."""
    import transformers
    from accelerate import init_empty_weights

    from nlpkit.models.load import set_library_verbosity
    from nlpkit.training.model import AUTO_CLASSES

    set_library_verbosity()
    options = pieces_of(recipe.task).config_options(recipe)
    if options:
        config.update(options)
    auto_class = getattr(transformers, AUTO_CLASSES[recipe.task])
    with init_empty_weights(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft on meta tensors warns about deprecations
        model = auto_class.from_config(config)
        if recipe.lora:
            from nlpkit.training.model import apply_lora

            model = apply_lora(model, recipe)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


@dataclass
class Memory:
    """Bytes per device for one training process (an estimate)."""

    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def estimate_memory(
    recipe: Recipe, config: Any, trainable: int, total: int, precision: str
) -> Memory:
    """fp32 weights, fp32 gradients and AdamW states of trainable parameters, activations."""
    batch = recipe.training.batch_size
    half = precision in ("bf16", "fp16")
    act_bytes = 2 if half else 4
    hidden = _first(config, "hidden_size", "d_model", "n_embd", default=0)
    heads = _first(config, "num_attention_heads", "n_head", "encoder_attention_heads", default=1)
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers", "encoder_layers")
    decoder_layers = _first(config, "num_decoder_layers", "decoder_layers", default=0)
    source = recipe.data.max_length
    target = recipe.data.max_target_length if config.is_encoder_decoder else 0
    activations = layers * _layer_activations(batch, source, hidden, heads, act_bytes)
    if config.is_encoder_decoder:
        decoder_layers = decoder_layers or layers
        activations += decoder_layers * _layer_activations(batch, target, hidden, heads, act_bytes)
    if pieces_of(recipe.task).vocabulary_logits:  # fp32 logits over the vocabulary, and grads
        vocab = _first(config, "vocab_size", default=0)
        activations += 2 * 4 * batch * (target or source) * vocab
    return Memory(
        weights=total * MASTER_WEIGHT_BYTES,
        gradients=trainable * MASTER_WEIGHT_BYTES,
        optimizer=trainable * ADAM_STATE_BYTES,
        activations=int(activations),
    )


def _layer_activations(batch: int, seq: int, hidden: int, heads: int, act_bytes: int) -> float:
    per_token = hidden * ACTIVATION_UNITS + 2.5 * heads * seq  # attention scores grow with seq
    return batch * seq * per_token * act_bytes * UNFUSED_FACTOR


def _first(config: Any, *names: str, default: int | None = None) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in names:
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return default if default is not None else 1


def human_bytes(count: int) -> str:
    """1536 -> '1.5 KiB'; the units `nlpkit plan` shows."""
    if count < 1024:
        return f"{count} B"
    exponent = min(int(math.log(count, 1024)), 4)
    return f"{count / 1024**exponent:.1f} {['B', 'KiB', 'MiB', 'GiB', 'TiB'][exponent]}"
