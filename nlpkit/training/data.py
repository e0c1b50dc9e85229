"""Recipe data -> tokenized datasets: Hub or local files, labels, datasets.map (cached).

Inputs are truncated but not padded here; the collator pads each batch to its
own longest row (dynamic padding), which is most of nlpkit's speed over a
pad-to-max_length script.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from nlpkit.errors import InputError, first_line
from nlpkit.recipe import Recipe
from nlpkit.recipe_checks import DATA_SUFFIXES

SPLITS = ("train", "eval")


def load_raw(recipe: Recipe, splits: tuple[str, ...] = SPLITS) -> dict[str, Any]:
    """The recipe's splits as datasets.Dataset, capped at max_*_samples."""
    import datasets

    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(datasets.logging.CRITICAL)  # errors come as InputError
    data = recipe.data
    caps = {"train": data.max_train_samples, "eval": data.max_eval_samples}
    loaded = {}
    for split in splits:
        dataset = _load_hub(recipe, split) if data.dataset else _load_file(recipe, split)
        if dataset is None:
            continue
        if caps[split] is not None and caps[split] < len(dataset):
            dataset = dataset.select(range(caps[split]))
        if len(dataset) == 0:
            raise InputError(f"data: the {split} split is empty")
        loaded[split] = dataset
    return loaded


def _load_file(recipe: Recipe, split: str):
    from datasets import load_dataset

    file = recipe.data.train_file if split == "train" else recipe.data.eval_file
    if not file:
        return None
    suffix = Path(file).suffix.lower()
    _check_has_rows(Path(file), suffix)
    options = {"delimiter": "\t", "quoting": 3} if suffix == ".tsv" else {}
    try:
        return load_dataset(DATA_SUFFIXES[suffix], data_files={split: file}, split=split, **options)
    except Exception as exc:  # datasets raises many types for a bad file
        raise InputError(f"{file}: cannot read as {suffix[1:]} ({_root_cause(exc)})") from exc


def _check_has_rows(path: Path, suffix: str) -> None:
    """A csv/tsv with a header and no rows, or an empty file, named before datasets reads it."""
    if suffix == ".parquet":
        return
    with path.open("rb") as handle:
        if b"\x00" in handle.read(8192):
            raise InputError(f"{path}: binary data (NUL bytes), expected a text {suffix[1:]} file")
        handle.seek(0)
        lines = [line for line in (handle.readline() for _ in range(3)) if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty file")
    if suffix in (".csv", ".tsv") and len(lines) == 1:
        raise InputError(f"{path}: header only, no data rows")


def _load_hub(recipe: Recipe, split: str):
    from datasets import load_dataset

    from nlpkit.models import hub_offline, hub_reachable

    data = recipe.data
    name = data.train_split if split == "train" else data.eval_split
    if not name:
        return None
    if not hub_offline() and not hub_reachable():
        raise InputError(
            f"dataset '{data.dataset}': the Hub cannot be reached; set HF_HUB_OFFLINE=1 to use "
            "a cached copy, or point data.train_file / data.eval_file at local files"
        )
    try:
        return load_dataset(data.dataset, data.dataset_config, split=name)
    except Exception as exc:
        raise InputError(
            f"dataset '{data.dataset}' (config {data.dataset_config}, split {name}): cannot load "
            f"({first_line(exc)}); offline, use local files: data.train_file / data.eval_file"
        ) from exc


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's first line: datasets wraps the parser's useful message."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return first_line(exc)


def column(batch: dict[str, list], spec: str) -> list:
    """A batch column; ``translation.en`` reads field ``en`` of the ``translation`` column."""
    if spec in batch:
        return batch[spec]
    head, _, rest = spec.partition(".")
    return [row.get(rest) if isinstance(row, dict) else None for row in batch[head]]


def check_columns(dataset, split: str, specs: dict[str, str | None]) -> None:
    """Fail early, naming the key, the missing column and the columns that exist."""
    names = list(dataset.column_names)
    for key, spec in specs.items():
        if spec is None or _has_column(dataset, spec):
            continue
        close = difflib.get_close_matches(spec, names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(
            f"data.{key}: no column '{spec}' in the {split} data; "
            f"columns are {', '.join(names)}{hint}"
        )


def _has_column(dataset, spec: str) -> bool:
    if spec in dataset.column_names:
        return True
    head, _, rest = spec.partition(".")
    feature = dataset.features.get(head)
    return bool(rest) and isinstance(feature, dict) and rest in feature


def label_names(recipe: Recipe, train) -> list[str]:
    """Names for label ids 0..n-1: the recipe's, the dataset's ClassLabel, or the values seen."""
    if recipe.data.label_names:
        return list(recipe.data.label_names)
    feature = train.features.get(recipe.data.label_column)
    if getattr(feature, "names", None):
        return list(feature.names)
    try:
        values = set(train.unique(recipe.data.label_column))
    except Exception as exc:  # arrow cannot compare mixed or nested values
        raise InputError(
            f"data: label column '{recipe.data.label_column}' mixes numbers and text or holds "
            "lists; use one kind (ids 0..n-1 or names) or set data.label_names"
        ) from exc
    if None in values:
        raise InputError(f"data.label_column '{recipe.data.label_column}' has empty labels")
    if all(isinstance(v, int) for v in values):
        return [f"LABEL_{i}" for i in range(max(values) + 1)]
    return sorted(str(v) for v in values)


def label_encoder(names: list[str]):
    """Map a label value (an id or a name) to its id, or fail naming the value."""
    ids = {name: i for i, name in enumerate(names)}

    def encode(value) -> int:
        if isinstance(value, bool) or value is None:
            raise InputError(f"label {value!r} is not a label id or name")
        if isinstance(value, int) and 0 <= value < len(names):
            return value
        if str(value) in ids:
            return ids[str(value)]
        raise InputError(
            f"label {value!r} is not one of {', '.join(names)} (or ids 0..{len(names) - 1}); "
            "set data.label_names to the labels in your data"
        )

    return encode


def tokenize(recipe: Recipe, tokenizer, dataset, split: str, names: list[str] | None = None):
    """Model inputs for one split via a cached, batched datasets.map; text columns dropped."""
    data, task = recipe.data, recipe.task
    if task == "text-classification":
        specs = {"text_column": data.text_column, "label_column": data.label_column}
        specs["text_pair_column"] = data.text_pair_column
        function = _classification_encoder(recipe, tokenizer, names or [])
    elif task == "text-generation":
        specs = {"text_column": data.text_column}
        function = _causal_encoder(recipe, tokenizer)
    else:
        specs = {"source_column": data.source_column, "target_column": data.target_column}
        function = _seq2seq_encoder(recipe, tokenizer)
    check_columns(dataset, split, specs)
    encoded = dataset.map(function, batched=True, remove_columns=dataset.column_names)
    if task == "text-generation":
        encoded = encoded.filter(lambda row: len(row["input_ids"]) > 1)
    if len(encoded) == 0:
        raise InputError(f"data: no usable rows in the {split} split after tokenization")
    return encoded


def _classification_encoder(recipe: Recipe, tokenizer, names: list[str]):
    data = recipe.data
    encode_label = label_encoder(names)

    def encode(batch):
        texts = [str(t) for t in _texts(column(batch, data.text_column), data.text_column)]
        pairs = None
        if data.text_pair_column:
            pairs = [str(t or "") for t in column(batch, data.text_pair_column)]
        encoded = tokenizer(texts, pairs, truncation=True, max_length=data.max_length)
        encoded["labels"] = [encode_label(v) for v in column(batch, data.label_column)]
        return encoded

    return encode


def _texts(values: list, name: str) -> list:
    """The column's values; a row without text is an error, not an empty example."""
    if any(value is None for value in values):
        raise InputError(
            f"data: a row has no text in column '{name}' (null or empty cell); fill or drop it"
        )
    return values


def _seq2seq_encoder(recipe: Recipe, tokenizer):
    data = recipe.data
    prefix = data.source_prefix or ""

    def encode(batch):
        sources = [prefix + str(s or "") for s in column(batch, data.source_column)]
        targets = [str(t or "") for t in column(batch, data.target_column)]
        encoded = tokenizer(sources, truncation=True, max_length=data.max_length)
        labels = tokenizer(text_target=targets, truncation=True, max_length=data.max_target_length)
        encoded["labels"] = labels["input_ids"]
        return encoded

    return encode


def _causal_encoder(recipe: Recipe, tokenizer):
    data = recipe.data

    def encode(batch):
        texts = [str(t or "") for t in column(batch, data.text_column)]
        return tokenizer(texts, truncation=True, max_length=data.max_length)

    return encode


def collator(task: str, tokenizer, model):
    """Pads each batch to its longest row (labels with -100 so padding is not learned)."""
    from transformers import (
        DataCollatorForLanguageModeling,
        DataCollatorForSeq2Seq,
        DataCollatorWithPadding,
    )

    if task == "text-classification":
        return DataCollatorWithPadding(tokenizer)
    if task == "text-generation":
        return DataCollatorForLanguageModeling(tokenizer, mlm=False)
    return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
