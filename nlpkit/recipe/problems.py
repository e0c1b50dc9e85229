"""Recipe problems as `file:line: key.path: message (did you mean ...?)` rows.

pydantic's ValidationError knows the key path; the YAML node marks know the
line; the schema knows the valid keys. This module joins the three, the way
spaCy's `show_validation_error` does for its configs.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic loads only when a recipe is validated, not for `nlpkit --help`
    from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Problem:
    path: tuple
    message: str
    line: int | None = None

    @property
    def key(self) -> str:
        return ".".join(str(part) for part in self.path) or "(top level)"


class SourceMap:
    """Where each key of a recipe came from: a line of the file, or a --set override."""

    def __init__(self, filename: str, lines: dict[tuple, int]) -> None:
        self.filename = filename
        self.lines = lines
        self.overrides: dict[tuple, str] = {}

    def mark_override(self, path: tuple, origin: str) -> None:
        self.overrides[path] = origin

    def where(self, problem: Problem) -> str:
        for end in range(len(problem.path), -1, -1):
            prefix = problem.path[:end]
            if prefix in self.overrides:
                return self.overrides[prefix]
            if problem.line is None and prefix in self.lines and end:
                return f"{self.filename}:{self.lines[prefix]}"
        if problem.line is not None:
            return f"{self.filename}:{problem.line}"
        return self.filename

    def render(self, problems: list[Problem]) -> str:
        return format_problems(self.filename, problems, self.where)


def format_problems(filename: str, problems: list[Problem], where=None) -> str:
    count = len(problems)
    head = f"recipe {filename} is invalid ({count} problem{'s' if count != 1 else ''}):"
    placed = [(where(p) if where else f"{filename}:{p.line or 1}", p) for p in problems]
    placed.sort(key=lambda item: _line_of(item[0]))
    rows = []
    for place, problem in placed:
        key = "" if place == f"--set {problem.key}" else f" {problem.key}:"
        rows.append(f"{place}:{key} {problem.message}")
    if count == 1:  # one problem reads as one line
        return f"{head} {rows[0]}"
    return "\n".join([head, *(f"  {row}" for row in rows)])


def _line_of(place: str) -> int:
    """Sort rows by line; rows without a line (missing keys, --set) go last."""
    match = re.search(r":(\d+)$", place)
    return int(match.group(1)) if match else 1_000_000


def schema_problems(exc: ValidationError, data: dict, root: type[BaseModel]) -> list[Problem]:
    """One Problem per key path; union alternatives are merged into one message."""
    merged: dict[tuple, list[str]] = {}
    for error in exc.errors():
        path, model = _field_path(error["loc"], root, error["type"])
        message = _message(error, path, model, root)
        messages = merged.setdefault(path, [])
        if message not in messages:
            messages.append(message)
    return [Problem(path, _join(messages)) for path, messages in merged.items()]


def _join(messages: list[str]) -> str:
    if len(messages) == 1:
        return messages[0]
    bare = [re.sub(r", got .*$", "", m) for m in messages[:-1]] + messages[-1:]
    rest = [m.removeprefix("expected ") for m in bare[1:]]
    return " or ".join([bare[0], *rest])


def _field_path(loc: tuple, root: type[BaseModel], kind: str) -> tuple[tuple, Any]:
    """The key path without pydantic's union tags, and the model owning the last key."""
    path: list = []
    model: type[BaseModel] | None = root
    owner: type[BaseModel] | None = root
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path.append(part)
            model = None
        elif model is not None and (
            part in model.model_fields or (kind == "extra_forbidden" and index == len(loc) - 1)
        ):
            owner = model
            path.append(part)
            field = model.model_fields.get(part)
            model = submodel(field.annotation) if field else None
    return tuple(path), owner


def submodel(annotation: Any) -> type[BaseModel] | None:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = submodel(arg)
            if found:
                return found
    return None


def _message(error: dict, path: tuple, owner: type[BaseModel] | None, root) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key" + suggest_key(str(path[-1]), owner, root)
    if kind == "missing":
        return "missing required key"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a section of keys, got {_shown(error['input'])}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        close = difflib.get_close_matches(str(error["input"]), choices, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"{_shown(error['input'])} is not one of {', '.join(choices)}{hint}"
    message = error["msg"].replace("Input should be", "expected")
    return f"{message[0].lower()}{message[1:]}, got {_shown(error['input'])}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Names people bring from transformers scripts and peft, mapped to ours.
KNOWN_ALIASES = {
    "lr": "learning_rate",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "warmup_steps": "warmup_ratio",
    "evaluation_strategy": "eval_strategy",
    "max_seq_length": "max_length",
    "model_name_or_path": "model",
    "rank": "r",
    "lora_alpha": "alpha",
    "lora_dropout": "dropout",
}


def suggest_key(key: str, owner: type[BaseModel] | None, root: type[BaseModel]) -> str:
    """'(did you mean learning_rate?)', or where a well-spelled key belongs."""
    if owner is None:
        return ""
    if KNOWN_ALIASES.get(key) in owner.model_fields:
        return f" (did you mean {KNOWN_ALIASES[key]}?)"
    close = difflib.get_close_matches(key, list(owner.model_fields), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]}?)"
    for section, field in root.model_fields.items():
        model = submodel(field.annotation)
        if model is not None and model is not owner and key in model.model_fields:
            return f" (did you mean {section}.{key}?)"
    return f" (valid keys: {', '.join(owner.model_fields)})"
