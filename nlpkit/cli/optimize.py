"""`nlpkit optimize`: export a classifier to ONNX Runtime, int8 behind an accuracy gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nlpkit.cli import options as opt
from nlpkit.cli.render import emit, out

Model = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A run folder, a model store entry, a built-in name (sentiment) or a Hub id.",
        show_default=False,
    ),
]
Int8 = Annotated[
    bool, typer.Option("--int8", help="Also quantize to int8; kept only if it passes the gate.")
]
EvalData = Annotated[
    Path | None,
    typer.Option(
        "--eval-data",
        metavar="FILE",
        dir_okay=False,
        help="Labelled csv/tsv/jsonl for the accuracy gate (default: the recipe's eval set; "
        "SST-2 dev for the built-in model).",
        show_default=False,
    ),
]
RecipeFile = Annotated[
    Path | None,
    typer.Option("--recipe", metavar="FILE", dir_okay=False, help="Use this recipe's eval set."),
]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR",
        file_okay=False,
        help="Where the ONNX folder goes (default: MODEL/onnx for a local model).",
        show_default=False,
    ),
]


def optimize_cmd(
    model: Model,
    int8: Int8 = False,
    eval_data: EvalData = None,
    recipe: RecipeFile = None,
    output: OutputDir = None,
    format: opt.Format = opt.OutputFormat.table,
    allow_pickle: opt.AllowPickle = False,
) -> None:
    """Export a classifier to ONNX Runtime; its command's `--backend auto` then uses it.

    Example: nlpkit optimize runs/sst2-minilm --int8 --eval-data dev.tsv
    """
    from nlpkit.training.optimize import optimize

    out.note(f"exporting {model} to ONNX and scoring it against PyTorch...")
    result = optimize(model, int8, eval_data, recipe, output, allow_pickle)
    report = result.report
    metric = next(iter(report["torch"]))  # accuracy; f1 for a token classifier
    rows = [_row("torch", "", metric, report["torch"][metric], 1.0, "reference")]
    for scored in [report["fp32"], *report["int8"]]:
        kept = scored["passed"] and scored["file"] == result.chosen
        verdict = "kept" if kept else "passed" if scored["passed"] else "refused by the gate"
        if scored["passed"] and not kept and report.get("int8_slower") and "recipe" in scored:
            verdict = "passed, slower"
        kind = "onnx int8" if "recipe" in scored else "onnx fp32"
        recipe_text = scored.get("recipe", "")
        rows.append(_row(kind, recipe_text, metric, scored[metric], scored["agreement"], verdict))
    emit(rows, format, title=f"accuracy gate: {report['samples']} texts of {report['eval_data']}")
    if result.chosen is None:
        out.warn("no ONNX model passed the gate: PyTorch keeps answering")
    elif int8 and report.get("int8_slower"):
        out.warn("int8 passed the gate but is no faster than fp32 on this CPU: kept fp32")
    elif int8 and result.chosen != "model-int8.onnx":
        out.warn("int8 lost too much accuracy: kept fp32 (the figures are in report.json)")
    out.note(f"wrote {result.folder} (report.json has the figures)")


def _row(
    backend: str, recipe: str, metric: str, score: float, agreement: float, verdict: str
) -> dict:
    """One gate line; agreement is with torch for fp32, with fp32 for int8."""
    return {
        "backend": backend,
        "recipe": recipe,
        metric: score,
        "agreement": agreement,
        "verdict": verdict,
    }
