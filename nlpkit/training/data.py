"""Recipe data -> tokenized datasets: Hub or local files, labels, datasets.map (cached).

Inputs are truncated but not padded here; the collator pads each batch to its
own longest row (dynamic padding), which is most of nlpkit's speed over a
pad-to-max_length script.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlpkit.errors import InputError, first_line
from nlpkit.recipe.checks import (
    DATA_SUFFIXES,
    HEADERLESS_SUFFIXES,
    data_suffix,
    open_text,
    task_columns,
)
from nlpkit.recipe.schema import Recipe
from nlpkit.tasks.pieces import TaskPieces, pieces_of

SPLITS = ("train", "eval")
ColumnHint = Callable[[list[str]], str]  # column names -> how the user declares them
TEXT_LIKE_CHARS = 40  # a header cell this long, or of this many words, is a sentence
TEXT_LIKE_WORDS = 4


def recipe_column_hint(names: list[str]) -> str:
    return f"data.column_names: [{', '.join(names)}]"


def load_raw(
    recipe: Recipe, splits: tuple[str, ...] = SPLITS, column_hint: ColumnHint = recipe_column_hint
) -> dict[str, Any]:
    """The recipe's splits as datasets.Dataset, capped at max_*_samples.

    ``column_hint`` words the fix when a file's first row looks like data, not a header.
    """
    import datasets

    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(datasets.logging.CRITICAL)  # errors come as InputError
    data = recipe.data
    caps = {"train": data.max_train_samples, "eval": data.max_eval_samples}
    loaded = {}
    for split in splits:
        if data.dataset:
            dataset = _load_hub(recipe, split)
        else:
            dataset = _load_file(recipe, split, column_hint)
        if dataset is None:
            continue
        if caps[split] is not None and caps[split] < len(dataset):
            dataset = dataset.select(range(caps[split]))
        if len(dataset) == 0:
            raise InputError(f"data: the {split} split is empty")
        loaded[split] = dataset
    return loaded


def _load_file(recipe: Recipe, split: str, column_hint: ColumnHint):
    from datasets import load_dataset

    file = recipe.data.train_file if split == "train" else recipe.data.eval_file
    if not file:
        return None
    suffix = data_suffix(file)
    rows = pieces_of(recipe.task).read_rows(Path(file))
    if rows is not None:
        import datasets

        return datasets.Dataset.from_list(rows)
    if DATA_SUFFIXES[suffix] not in ("csv", "json", "parquet", "text"):
        raise InputError(f"{file}: {recipe.task} does not read {suffix} files")
    names = recipe.data.column_names if suffix in HEADERLESS_SUFFIXES else None
    _check_has_rows(Path(file), suffix, names)
    options: dict[str, Any] = {"delimiter": "\t", "quoting": 3} if suffix == ".tsv" else {}
    if names:
        options["column_names"] = list(names)
    try:
        dataset = load_dataset(
            DATA_SUFFIXES[suffix], data_files={split: file}, split=split, **options
        )
    except Exception as exc:  # datasets raises many types for a bad file
        raise InputError(f"{file}: cannot read as {suffix[1:]} ({_root_cause(exc)})") from exc
    if suffix in HEADERLESS_SUFFIXES and not names:
        _check_header(recipe, dataset, file, column_hint)
    return dataset


def _check_has_rows(path: Path, suffix: str, column_names: list[str] | None = None) -> None:
    """A csv/tsv with a header and no rows, or an empty file, named before datasets reads it.

    With ``column_names`` the file has no header: one line is one row, and the first
    row must have as many fields as there are names.
    """
    if suffix == ".parquet":
        return
    with open_text(path, errors="replace") as handle:
        if "\x00" in handle.read(8192):
            raise InputError(f"{path}: binary data (NUL bytes), expected a text {suffix[1:]} file")
        handle.seek(0)
        lines = [line for line in (handle.readline() for _ in range(3)) if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty file")
    if suffix in HEADERLESS_SUFFIXES and len(lines) == 1 and not column_names:
        raise InputError(f"{path}: header only, no data rows")
    if column_names:
        fields = len(_first_row(path, suffix))
        if fields != len(column_names):
            raise InputError(
                f"{path}: the first row has {fields} field{'s' if fields != 1 else ''} but "
                f"{len(column_names)} column names are given ({', '.join(column_names)}); "
                "name every column, in file order"
            )


def _first_row(path: Path, suffix: str) -> list[str]:
    with open_text(path, errors="replace") as handle:
        if suffix == ".tsv":  # read as datasets reads it: quotes are literal
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(handle)
        try:
            return next((row for row in reader if row), [])
        except csv.Error:
            return []  # datasets names the malformed row


def _check_header(recipe: Recipe, dataset, file: str, column_hint: ColumnHint) -> None:
    """A headerless file read as if its first row named the columns: say so, naming the fix.

    Only when a column the task reads is missing, so a file with a real header passes.
    """
    if all(_has_column(dataset, spec) for spec in task_columns(recipe).values()):
        return
    header = list(dataset.column_names)
    sample = dataset[: min(len(dataset), 100)]
    label_like = [_label_likeness(name, sample[name]) for name in header]
    text_like = [_is_text_like(name) for name in header]
    if not any(label_like) and not any(text_like):
        return
    cells = " / ".join(f'"{_shorten(name)}"' for name in header)
    names = _suggest_names(recipe, header, label_like, text_like)
    raise InputError(
        f"{file}: the first row looks like data, not a header ({cells}); if the file has no "
        f"header row, name its columns with {column_hint(names)}"
    )


def _label_likeness(cell: str, values: list) -> int:
    """2: the cell is one of its column's values (a label, as a header); 1: a number; else 0."""
    if cell in {str(value) for value in values if value is not None}:
        return 2
    try:
        float(cell)
    except ValueError:
        return 0
    return 1


def _is_text_like(cell: str) -> bool:
    return len(cell) > TEXT_LIKE_CHARS or len(cell.split()) >= TEXT_LIKE_WORDS


def _shorten(cell: str, width: int = 16) -> str:
    return cell if len(cell) <= width + 4 else cell[:width].rstrip() + " ..."


def _suggest_names(
    recipe: Recipe, header: list[str], label_like: list[int], text_like: list[bool]
) -> list[str]:
    """Column names in file order: the label where a cell looks like one, texts where text."""
    specs = task_columns(recipe)
    label = specs.pop("label_column", None)
    names: list[str | None] = [None] * len(header)
    if label and any(label_like):
        names[max(range(len(header)), key=lambda i: (label_like[i], i))] = label
        label = None
    wanted = [*specs.values(), *([label] if label else [])]
    free = [i for i, name in enumerate(names) if name is None]
    free.sort(key=lambda i: (not text_like[i], label_like[i], i))
    for index, spec in zip(sorted(free[: len(wanted)]), wanted, strict=False):
        names[index] = spec
    return [name or f"column{i + 1}" for i, name in enumerate(names)]


def _load_hub(recipe: Recipe, split: str):
    from datasets import load_dataset

    from nlpkit.models.resolve import hub_offline, hub_reachable

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


def label_names(recipe: Recipe, train) -> list[str] | None:
    """Names for the label ids the recipe's task predicts (None: it predicts no labels)."""
    return pieces_of(recipe.task).label_names(recipe, train)


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
    pieces = pieces_of(recipe.task)
    function = pieces.encoder(recipe, tokenizer, names)
    check_columns(dataset, split, pieces.columns(recipe))
    encoded = dataset.map(function, batched=True, remove_columns=dataset.column_names)
    if type(pieces).keep_row is not TaskPieces.keep_row:  # only a task that drops rows pays a pass
        encoded = encoded.filter(pieces.keep_row)
    if len(encoded) == 0:
        raise InputError(f"data: no usable rows in the {split} split after tokenization")
    return encoded


def texts_of(values: list, name: str) -> list:
    """The column's values; a row without text is an error, not an empty example."""
    if any(value is None for value in values):
        raise InputError(
            f"data: a row has no text in column '{name}' (null or empty cell); fill or drop it"
        )
    return values


def collator(task: str, tokenizer, model):
    """The task's collator: pads each batch to its longest row (labels with -100)."""
    return pieces_of(task).collator(tokenizer, model)
