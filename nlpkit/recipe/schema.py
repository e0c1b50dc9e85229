"""Recipes: the pydantic schema of a fine-tuning run, loading, `--set` overrides, errors.

A recipe is data only: YAML validated with ``extra="forbid"``. Every problem is
reported with the file, the line and the key path, plus the closest valid key.
This module imports neither torch nor transformers, so validation is instant.

Paths: a relative path written in the recipe file resolves against the recipe file's
folder (the recipe runs the same from any working directory); a path given with ``--set``
resolves against the current directory, like any other command-line path. ``model`` is a
Hub id, a folder (relative only as ``./x`` or ``../x``), or ``package:NAME/SUBDIR``: a
folder inside an installed Python package, located with importlib without importing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nlpkit.errors import RecipeError
from nlpkit.recipe.checks import TASK_FIELDS, TASK_METRICS, AnswerFields, check_recipe
from nlpkit.recipe.metric_names import absolute_metric_paths, first_key
from nlpkit.recipe.problems import Problem, SourceMap, format_problems, schema_problems
from nlpkit.recipe.search import search_problems
from nlpkit.tasks.table import TASK_NAMES

Task = Literal[TASK_NAMES]  # the task table's names
_PATH_KEYS = {("data", "train_file"), ("data", "eval_file"), ("output_dir",)}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DataConfig(_Section, AnswerFields):
    """Where the examples come from and how they become model inputs."""

    dataset: str | None = Field(None, description="Hub dataset id, e.g. nyu-mll/glue")
    dataset_config: str | None = Field(None, description="Hub dataset configuration, e.g. sst2")
    train_split: str = Field("train", description="Hub split to train on")
    eval_split: str | None = Field("validation", description="Hub split to evaluate on")
    train_file: str | None = Field(None, description="local csv/tsv/json(l)/parquet/txt[.gz]/conll")
    eval_file: str | None = Field(None, description="local evaluation file, same format")
    column_names: list[str] | None = Field(
        None, description="csv/tsv files without a header row: their columns, e.g. [text, label]"
    )
    text_column: str = Field("text", description="input text column")
    text_pair_column: str | None = Field(None, description="second text column, for sentence pairs")
    label_column: str = Field("label", description="label column: ints or label names")
    label_names: list[str] | None = Field(
        None, description="names of labels 0, 1, ...; default: the dataset's or the sorted values"
    )
    tokens_column: str = Field("tokens", description="column of words (a list per row)")
    tags_column: str = Field("ner_tags", description="column of tags, a tag or id per word")
    label_all_tokens: bool = Field(False, description="tag every sub-word, not only a word's first")
    source_column: str = Field("source", description="seq2seq input column; nested: translation.en")
    target_column: str = Field("target", description="seq2seq output column; a.b reads nested")
    source_prefix: str | None = Field(
        None, description="text put before each source (T5: 'summarize: ')"
    )
    max_length: int = Field(128, gt=0, description="truncate inputs to this many tokens")
    max_target_length: int = Field(128, gt=0, description="truncate targets to this many tokens")
    max_train_samples: int | None = Field(None, gt=0, description="train on the first N rows")
    max_eval_samples: int | None = Field(None, gt=0, description="evaluate on the first N rows")


class TrainingConfig(_Section):
    """Trainer hyper-parameters, spelled as transformers spells them where it has them."""

    epochs: float = Field(3.0, gt=0, description="passes over the training data")
    max_steps: int | None = Field(None, gt=0, description="stop after N steps (beats epochs)")
    learning_rate: float = Field(5e-5, gt=0, description="peak learning rate")
    batch_size: int = Field(16, gt=0, description="examples per device per step")
    eval_batch_size: int | None = Field(
        None, gt=0, description="examples per device per eval step; default: batch_size"
    )
    gradient_accumulation_steps: int = Field(1, gt=0, description="steps per optimizer update")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="fraction of steps warming up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    lr_scheduler_type: str = Field("linear", description="a transformers scheduler, e.g. cosine")
    max_grad_norm: float = Field(1.0, ge=0, description="gradient clipping: largest gradient norm")
    seed: int = Field(42, description="seed for new weights (the head), shuffling and dropout")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="auto: bf16/fp16 on GPU, fp32 on CPU; or fp32, fp16, bf16"
    )
    group_by_length: bool = Field(True, description="batch rows of similar length (less padding)")
    eval_strategy: Literal["no", "steps", "epoch"] = Field(
        "epoch", description="when to evaluate: no, steps or epoch"
    )
    eval_steps: int | None = Field(None, gt=0, description="evaluate every N steps")
    save_strategy: Literal["no", "steps", "epoch"] | None = Field(
        None, description="when to checkpoint: no, steps or epoch; default: as eval_strategy"
    )
    save_steps: int | None = Field(None, gt=0, description="every N steps; default: eval_steps")
    save_total_limit: int | None = Field(2, gt=0, description="checkpoints kept on disk")
    logging_steps: int = Field(50, gt=0, description="log the loss every N steps")
    load_best_model_at_end: bool = Field(
        False, description="end with the best checkpoint by metric_for_best_model"
    )
    metric_for_best_model: str | None = Field(
        None, description="picks the best checkpoint; default: the task's first metric"
    )
    early_stopping_patience: int | None = Field(None, gt=0, description="evaluations without gain")
    early_stopping_threshold: float = Field(0.0, ge=0, description="smallest gain that counts")
    generation_max_length: int | None = Field(
        None, gt=0, description="seq2seq eval: max tokens; default: max_target_length"
    )
    generation_num_beams: int | None = Field(None, gt=0, description="seq2seq eval: beam width")
    use_cpu: bool = Field(False, description="train on the CPU even when a GPU is present")
    report_to: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(
        [], description="experiment trackers (transformers' integrations)"
    )

    @field_validator("eval_strategy", "save_strategy", mode="before")
    @classmethod
    def _bare_no(cls, value: Any) -> Any:
        return "no" if value is False else value  # YAML 1.1 reads a bare `no` as false


class LoraConfig(_Section):
    """Low-rank adapters (peft): train a few parameters instead of the whole model."""

    r: int = Field(8, gt=0, description="adapter rank")
    alpha: int = Field(16, gt=0, description="scaling (lora_alpha)")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on adapter inputs (lora_dropout)")
    target_modules: str | list[str] | None = Field(
        None, description="module names, or one regex matched against full names; default: peft's"
    )
    modules_to_save: list[str] | None = Field(
        None, description="modules trained in full and saved with the adapter, e.g. [classifier]"
    )
    bias: Literal["none", "all", "lora_only"] = Field(
        "none", description="train biases too: none, all or lora_only"
    )


class Recipe(_Section):
    """One reproducible fine-tuning run."""

    task: Task = Field(description=" | ".join(TASK_NAMES))
    model: str = Field(description="Hub id, ./folder, ./file.gguf, smollm2 or package:NAME/SUBDIR")
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    lora: LoraConfig | None = None
    output_dir: str = Field(description="where the run is written")
    trust_remote_code: bool = Field(False, description="run Python code shipped with the model")
    allow_pickle: bool = Field(False, description="load pickle (.bin) weights; can run code")
    metrics: list[str] | None = Field(
        None, description="evaluate metric names or ./metric paths; default: the task's"
    )
    search: dict[str, Any] | None = Field(
        None, description="`nlpkit tune`: dotted key -> {low, high, log} or [choices]"
    )

    @property
    def metric(self) -> str:
        """The metric that picks the best checkpoint (without the eval_ prefix): by default
        the first the task reports, or the first key of the recipe's ``metrics``."""
        chosen = self.training.metric_for_best_model
        default = TASK_METRICS[self.task][0] if self.metrics is None else first_key(self.metrics)
        return metric_name(chosen or default)

    @property
    def has_eval(self) -> bool:
        return bool(self.data.eval_file or (self.data.dataset and self.data.eval_split))

    def resolved(self) -> dict[str, Any]:
        """Every key with its value or default; data keys of other tasks left out."""
        data = self.model_dump(mode="json")
        for key, tasks in TASK_FIELDS.items():
            if self.task not in tasks:
                data["data"].pop(key, None)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True)


def metric_name(name: str) -> str:
    return name.removeprefix("eval_")


def load_recipe(
    path: str | Path,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    for_training: bool = True,
) -> Recipe:
    """Read, override and validate a recipe; RecipeError lists every problem found.

    ``for_training=False`` (evaluation) does not require training data.
    """
    path = Path(path)
    text = _read(path)
    data, lines = parse_yaml(text, str(path))
    source = SourceMap(str(path), lines)
    resolve_paths(data, path.resolve().parent)
    for key, value in parse_overrides(overrides):
        apply_override(data, key, value, source)
    return validate_recipe(data, source, for_training)


def override_recipe(recipe: Recipe, overrides: Sequence[str] | Mapping[str, Any]) -> Recipe:
    """A copy of ``recipe`` with ``--set`` style overrides applied and validated again."""
    data = recipe.resolved()
    source = SourceMap("<recipe>", {})
    for key, value in parse_overrides(overrides):
        apply_override(data, key, value, source)
    return validate_recipe(data, source)


def _read(path: Path) -> str:
    if not path.is_file():
        hint = "a folder" if path.is_dir() else "no such file"
        raise RecipeError(
            f"{path}: {hint}; expected a recipe .yaml file (see `nlpkit recipe init`)"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path}: not valid UTF-8 (byte {exc.start}); a recipe is a YAML text file"
        ) from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read ({exc.strerror or exc})") from None


def parse_yaml(text: str, filename: str) -> tuple[dict, dict[tuple, int]]:
    """The recipe mapping and the line of every key path in it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_size(node, filename)
        data = yaml.safe_load(text)
    except RecursionError:
        raise RecipeError(f"{filename}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        raise RecipeError(f"{filename}: the recipe is empty (see `nlpkit recipe init TASK`)")
    if not isinstance(data, dict):
        raise RecipeError(f"{filename}:1: a recipe is a mapping of keys (task, model, data, ...)")
    lines: dict[tuple, int] = {}
    duplicates: list[Problem] = []
    _collect_lines(node, (), lines, duplicates)
    if duplicates:
        raise RecipeError(format_problems(filename, duplicates))
    return data, lines


MAX_RECIPE_NODES = 10_000


def _check_size(node, filename: str) -> None:
    """Refuse YAML whose aliases expand to a huge tree (a "billion laughs" file)."""
    sizes: dict[int, int] = {}

    def size(item) -> int:
        if sizes.get(id(item)) == 0:
            raise RecipeError(f"{filename}: invalid YAML: an alias refers to its own anchor")
        if id(item) not in sizes:
            sizes[id(item)] = 0  # in progress: meeting it again below means a cycle
            children = item.value if isinstance(item.value, list) else []
            pairs = [child if isinstance(child, tuple) else (child,) for child in children]
            sizes[id(item)] = 1 + sum(size(part) for pair in pairs for part in pair)
            if sizes[id(item)] > MAX_RECIPE_NODES:
                raise RecipeError(
                    f"{filename}: too large: its YAML expands to more than {MAX_RECIPE_NODES:,} "
                    "values (through aliases); a recipe needs a few dozen"
                )
        return sizes[id(item)]

    if node is not None:
        size(node)


def _collect_lines(node, path: tuple, lines: dict, duplicates: list[Problem]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = (*path, key_node.value)
            if sub in lines:
                line = key_node.start_mark.line + 1
                duplicates.append(Problem(sub, "duplicate key", line))
            lines[sub] = key_node.start_mark.line + 1
            _collect_lines(value_node, sub, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), lines, duplicates)


def resolve_paths(data: dict, base: Path) -> None:
    """Make the recipe's relative paths absolute against ``base`` (its folder)."""
    for key in _PATH_KEYS:
        value = _get(data, key)
        if isinstance(value, str) and value:
            _set(data, key, str(_absolute(value, base)))
    model = data.get("model")
    if isinstance(model, str) and model.startswith(("./", "../", "~")):
        data["model"] = str(_absolute(model, base))
    if isinstance(data.get("metrics"), list):
        data["metrics"] = absolute_metric_paths(data["metrics"], base)


def _absolute(value: str, base: Path) -> Path:
    """Absolute and resolved: `..` and links are settled before anything is written."""
    return (base / Path(value).expanduser()).resolve()


def parse_overrides(
    overrides: Sequence[str] | Mapping[str, Any] | None,
) -> list[tuple[tuple[str, ...], Any]]:
    """``["training.epochs=1"]`` or ``{"training.epochs": 1}`` as (key path, value) pairs.

    Command-line values are YAML scalars (``1`` is an int, ``null`` is None,
    ``[a, b]`` a list); values in a Python mapping are used as they are.
    """
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return [(_key_path(str(key), str(key)), value) for key, value in overrides.items()]
    pairs = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise RecipeError(f"--set {item}: expected KEY.PATH=VALUE, e.g. training.epochs=1")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        pairs.append((_key_path(key.strip(), item), value))
    return pairs


def _key_path(key: str, item: str) -> tuple[str, ...]:
    parts = tuple(key.split("."))
    if not key or any(not part for part in parts):
        raise RecipeError(f"--set {item}: '{key}' is not a key path like training.epochs")
    return parts


def apply_override(data: dict, key: tuple[str, ...], value: Any, source: SourceMap) -> None:
    """Set ``data[key]``; paths given on the command line resolve against the cwd."""
    node = data
    for depth, part in enumerate(key[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            name = ".".join(key[: depth + 1])
            raise RecipeError(f"--set {'.'.join(key)}: '{name}' is a value, not a section")
        node = child
    if isinstance(value, str) and value and (key in _PATH_KEYS or _is_model_folder(key, value)):
        value = str(_absolute(value, Path.cwd()))
    if key == ("metrics",) and isinstance(value, list):
        value = absolute_metric_paths(value, Path.cwd())
    node[key[-1]] = value
    source.mark_override(key, f"--set {'.'.join(key)}")


def _is_model_folder(key: tuple, value: str) -> bool:
    """A model given as ./x, ../x, ~/x or an existing folder (not a Hub id)."""
    if key != ("model",):
        return False
    return value.startswith(("./", "../", "~")) or Path(value).expanduser().is_dir()


def validate_recipe(
    data: dict, source: SourceMap | None = None, for_training: bool = True
) -> Recipe:
    """A Recipe from a plain mapping, or a RecipeError naming every problem."""
    source = source or SourceMap("<recipe>", {})
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(source.render(schema_problems(exc, data, Recipe))) from None
    problems = check_recipe(recipe, for_training) + search_problems(recipe)
    if problems:
        raise RecipeError(source.render(problems))
    return recipe


def _get(data: dict, key: tuple) -> Any:
    node: Any = data
    for part in key:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set(data: dict, key: tuple, value: Any) -> None:
    node = data
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
