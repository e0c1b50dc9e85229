"""Which model an index's vectors come from: queries must be embedded with the same one."""

from __future__ import annotations

from pathlib import Path

from nlpkit.errors import UsageError


def model_name(model: str | None) -> str:
    """The embed task's model as an index records it: a local folder as an absolute
    path (so a search from another folder finds it), a built-in or Hub name as given."""
    from nlpkit.models.resolve import default_model
    from nlpkit.tasks.embed import TASK

    name = model or default_model(TASK.command)
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def check_model(indexed: str, asked: str, folder: Path) -> None:
    """Refuse a query or new rows embedded by another model than the index's."""
    if indexed != asked:
        raise UsageError(
            f"{folder} was built with model '{indexed}', not '{asked}': vectors of two "
            f"models do not compare; use model='{indexed}' (or build another index)",
            param="model",
        )


def pooling_name(model: str, vector_column: str | None) -> str:
    """The pooling the model's folder declares ("given" when the vectors came ready-made)."""
    if vector_column is not None:
        return "given"
    import warnings

    from nlpkit.tasks.embed import model_pooling

    with warnings.catch_warnings():  # the embedding job has said it already
        warnings.simplefilter("ignore")
        return model_pooling(model).mode
