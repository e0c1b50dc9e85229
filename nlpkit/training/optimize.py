"""Make a classifier fast on the CPU: ONNX export, int8 when it keeps its accuracy.

    from nlpkit import optimize
    result = optimize("runs/sst2-minilm", int8=True, eval_data="dev.tsv")
    result.report["chosen"]  # 'model-int8.onnx', or 'model.onnx' when int8 lost accuracy

The accuracy gate scores the exports on labelled data: ``eval_data`` (a csv, tsv,
json or jsonl file with text and label columns), else the recipe's eval set (``recipe``
or the recipe.yaml of a run folder), else, for the built-in model, SST-2 dev.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.errors import OutputError, UsageError
from nlpkit.models.backends import ONNX_FOLDER, REPORT_FILE
from nlpkit.models.builtin import builtin_model
from nlpkit.models.load import model_config
from nlpkit.models.resolve import resolve_model
from nlpkit.models.safety import load_policy
from nlpkit.tasks.pieces import pieces_for_head
from nlpkit.training.outputs import RECIPE_FILE

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


@dataclass(frozen=True)
class OptimizeResult:
    """Where the ONNX folder went and the gate's figures (``report.json``)."""

    model: str
    folder: Path
    report: dict

    @property
    def chosen(self) -> str | None:
        return self.report.get("chosen")


def optimize(
    model: str | Path,
    int8: bool = False,
    eval_data: str | Path | None = None,
    recipe: str | Path | None = None,
    output: str | Path | None = None,
    allow_pickle: bool = False,
) -> OptimizeResult:
    """Export ``model`` (a run folder, a store entry, a built-in name, a Hub id) to ONNX
    and, with ``int8``, keep an int8 copy only if it passes the accuracy gate.

    The folder goes to ``output``, else to ``MODEL/onnx`` for a local model; there
    ``classify(..., backend="auto")`` finds and uses it.
    """
    name = str(model)
    with load_policy(allow_pickle=allow_pickle):
        source = resolve_model(name)
        folder = Path(source.path) if source.is_local_folder else None
        target = _target(name, folder, output)
        pieces = pieces_for_head(name, getattr(model_config(name), "architectures", None) or [])
        builtin = builtin_model(name)
        if getattr(builtin, "prepares_onnx", False) and not (eval_data or recipe):
            data = pieces.builtin_gate_data(builtin.folder / builtin.gate_data)
        else:
            plan, rows = eval_rows(name, folder, recipe, eval_data, pieces.task.name)
            source = str(eval_data or recipe or folder / RECIPE_FILE)
            data = pieces.gate_data(name, plan, rows, source)
        report = pieces.prepare_onnx(name, target, data, int8)
    return OptimizeResult(name, target, report)


def eval_rows(
    name: str,
    folder: Path | None,
    recipe: str | Path | None,
    data: str | Path | None,
    task: str,
) -> tuple[Recipe, Any]:
    """The recipe the gate reads and its eval rows: ``data``, else the recipe's eval split
    (``recipe``, or the one saved in the run folder; ``task`` when neither names one)."""
    from nlpkit.training.data import load_raw
    from nlpkit.training.evaluate import evaluation_recipe

    saved = folder is not None and (folder / RECIPE_FILE).is_file()
    if recipe is None and data is None and not saved:
        raise UsageError(
            f"model '{name}': no labelled data for the accuracy gate; pass eval_data= "
            "(a csv/tsv/jsonl file with text and label columns, or words and tags) or recipe=",
            param="eval_data",
        )
    plan = evaluation_recipe(folder or name, recipe, data, None if recipe or saved else task)
    return plan, load_raw(plan, splits=("eval",))["eval"]


def _target(name: str, folder: Path | None, output: str | Path | None) -> Path:
    if output is not None:
        path = Path(output).expanduser()
        if path.is_file() or (
            path.is_dir() and any(path.iterdir()) and not (path / REPORT_FILE).is_file()
        ):
            raise OutputError(
                f"{path} exists and is not an ONNX folder from `nlpkit optimize`; "
                "pick a new folder",
                param="output",
            )
        return path
    if folder is None:
        raise UsageError(
            f"model '{name}' is not a local folder: pass output= (a new folder for the ONNX model)",
            param="output",
        )
    return folder / ONNX_FOLDER
