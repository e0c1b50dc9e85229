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
from nlpkit.inputs.readers import pick_text_column
from nlpkit.models.backends import ONNX_FOLDER, REPORT_FILE
from nlpkit.models.backends.gate import GateData
from nlpkit.models.builtin import builtin_model
from nlpkit.models.resolve import resolve_model
from nlpkit.models.safety import load_policy
from nlpkit.tasks.answers import TASK as READER
from nlpkit.tasks.answers.onnx import answer_gate_data, is_reader
from nlpkit.tasks.answers.onnx import prepare_onnx as prepare_reader_onnx
from nlpkit.tasks.entities import TASK as TAGGER
from nlpkit.tasks.entities.onnx import is_tagger, tag_gate_data
from nlpkit.tasks.entities.onnx import prepare_onnx as prepare_tagger_onnx
from nlpkit.tasks.onnx_gate import builtin_gate_data, prepare_onnx
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
        builtin = builtin_model(name)
        if is_reader(name):  # a question-answering model: its own gate, on SQuAD F1
            plan, rows = eval_rows(name, folder, recipe, eval_data, READER.name)
            report = prepare_reader_onnx(name, target, *answer_gate_data(plan, rows), int8)
        elif is_tagger(name):  # a token classifier: its own gate, on entity F1
            plan, rows = eval_rows(name, folder, recipe, eval_data, TAGGER.name)
            report = prepare_tagger_onnx(name, target, tag_gate_data(name, plan, rows), int8)
        elif builtin is not None and builtin.task == "classify" and not (eval_data or recipe):
            report = prepare_onnx(name, target, builtin_gate_data(builtin), int8)
        else:
            report = prepare_onnx(name, target, gate_data(name, folder, recipe, eval_data), int8)
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


def gate_data(
    name: str, folder: Path | None, recipe: str | Path | None, data: str | Path | None
) -> GateData:
    """Texts and label ids from ``data``, else the recipe's eval split."""
    from nlpkit.models.load import model_config
    from nlpkit.training.data import label_encoder

    plan, rows = eval_rows(name, folder, recipe, data, "text-classification")
    text_column = plan.data.text_column
    if text_column not in rows.column_names:
        text_column = pick_text_column(list(rows.column_names), None, Path(str(data)))
    config = model_config(name)
    names = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    encode = label_encoder(names)
    texts = [str(text) for text in rows[text_column]]
    labels = [encode(value) for value in rows[plan.data.label_column]]
    return GateData(texts, labels, str(data or recipe or folder / RECIPE_FILE))
