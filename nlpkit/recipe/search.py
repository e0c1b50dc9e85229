"""A recipe's `search:` block: the keys `nlpkit tune` varies, and over what.

    search:
      training.learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}
      training.batch_size: [16, 32]
      lora.r: [8, 16]

A range ``{low, high}`` is searched as a float, or as an int when both bounds are
ints (``step`` spaces the values, ``log: true`` samples on a log scale); a list is
a set of choices. Each bound and choice must be a valid value of its key: it is
checked against the schema as an override of the recipe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nlpkit.recipe.problems import Problem, schema_problems, submodel, suggest_key

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

Choice = bool | int | float | str


class SearchRange(BaseModel):
    """A numeric range of one key."""

    model_config = ConfigDict(extra="forbid")

    low: int | float = Field(description="smallest value")
    high: int | float = Field(description="largest value")
    log: bool = Field(False, description="sample on a log scale (learning rates)")
    step: int | float | None = Field(None, gt=0, description="spacing of the values")

    @model_validator(mode="after")
    def _ordered(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("log: true and step cannot be combined")
        return self

    @property
    def is_int(self) -> bool:
        bounds = (self.low, self.high, self.step or 1)
        return all(isinstance(value, int) for value in bounds)


Space = SearchRange | list[Choice]
NOT_SEARCHABLE = {"search", "output_dir", "task"}


def key_path(key: str) -> tuple[str, ...]:
    return tuple(key.split("."))


def spaces(recipe: Recipe) -> dict[str, Space]:
    """The search block of a validated recipe, each key's space parsed."""
    return {key: _parse(value) for key, value in (recipe.search or {}).items()}


def _parse(value: Any) -> Space:
    return list(value) if isinstance(value, list) else SearchRange.model_validate(value)


def search_problems(recipe: Recipe) -> list[Problem]:
    """Unknown keys (with a did-you-mean), malformed ranges, and values their key refuses."""
    problems: list[Problem] = []
    for key, value in (recipe.search or {}).items():
        where = ("search", key)
        unknown = _unknown_key(key_path(key), type(recipe))
        if unknown:
            problems.append(Problem(where, unknown))
            continue
        if key_path(key)[0] == "lora" and recipe.lora is None:
            problems.append(Problem(where, "the recipe has no lora section to vary"))
            continue
        try:
            space = _parse(value)
        except ValidationError as exc:
            problems.append(Problem(where, _range_problem(exc, value)))
            continue
        values = [space.low, space.high] if isinstance(space, SearchRange) else space
        if not values:
            problems.append(Problem(where, "lists no choices"))
        problems += [
            Problem(where, f"{value!r}: {message}")
            for value in values
            for message in _refused(recipe, key, value)
        ]
    return problems


def _range_problem(exc: ValidationError, value: Any) -> str:
    if not isinstance(value, dict):
        return f"expected {{low, high, log}} or a list of choices, got {value!r}"
    messages = []
    for error in exc.errors():
        key = ".".join(map(str, error["loc"]))
        if error["type"] == "missing":
            messages.append(f"a range needs {key}")
        elif error["type"] == "extra_forbidden":
            messages.append(f"unknown key {key} (a range has low, high, log, step)")
        else:
            message = error["msg"].removeprefix("Value error, ")
            messages.append(f"{key}: {message}" if key else message)
    return "; ".join(messages)


def _unknown_key(path: tuple[str, ...], root: type[BaseModel]) -> str | None:
    model: type[BaseModel] | None = root
    for depth, part in enumerate(path):
        if model is None or part not in model.model_fields or part in NOT_SEARCHABLE:
            owner = model if model is not None else root
            section = "".join(f"{name}." for name in path[:depth])
            hint = suggest_key(part, owner, root).replace(
                "did you mean ", "did you mean " + section
            )
            return f"unknown key {section}{part}{hint}"
        model = submodel(model.model_fields[part].annotation)
    if model is not None:
        return f"{'.'.join(path)} is a section; name one of its keys"
    return None


def _refused(recipe: Recipe, key: str, value: Any) -> list[str]:
    """Why the schema refuses ``value`` for ``key`` (nothing when it is accepted)."""
    data = with_values(recipe.resolved(), {key: value})
    try:
        type(recipe).model_validate(data)
    except ValidationError as exc:
        problems = schema_problems(exc, data, type(recipe))
        return [problem.message for problem in problems]
    return []


def with_values(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A resolved recipe mapping with dotted ``values`` set and no search block."""
    data = {**data, "search": None}
    for key, value in values.items():
        *sections, last = key_path(key)
        node = data
        for section in sections:
            node[section] = dict(node[section])
            node = node[section]
        node[last] = value
    return data
