"""Options shared by several commands, defined once as Annotated aliases."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nlpkit.devices import DEVICE_CHOICES, DEVICE_MAPS


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class Backend(StrEnum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


class DType(StrEnum):
    auto = "auto"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


Texts = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="TEXT",
        help="Texts to process; '-' reads stdin, one text per line.",
        show_default=False,
    ),
]
Device = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="DEVICE",
        help=f"Where to run: {DEVICE_CHOICES}.",
        rich_help_panel="Model",
    ),
]
Dtype = Annotated[
    DType,
    typer.Option(
        "--dtype",
        metavar="|".join(DType),
        help="Weights dtype; auto = bf16/fp16 on GPU, fp32 on CPU.",
        rich_help_panel="Model",
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        metavar="N",
        help="Texts per batch (default: per task).",
        rich_help_panel="Model",
        show_default=False,
    ),
]
InputFile = Annotated[
    Path | None,
    typer.Option(
        "--input",
        "-i",
        metavar="FILE",
        help="Read texts from a .txt (one per line), .csv, .tsv, .jsonl or .parquet file.",
        rich_help_panel="Input",
        show_default=False,
    ),
]
TextColumn = Annotated[
    str | None,
    typer.Option(
        "--text-column",
        metavar="COLUMN",
        help="Column holding the text in csv/tsv/jsonl/parquet input.",
        rich_help_panel="Input",
        show_default=False,
    ),
]
SkipEmpty = Annotated[
    bool,
    typer.Option(
        "--skip-empty", help="Drop empty texts instead of failing.", rich_help_panel="Input"
    ),
]
Format = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        metavar="|".join(OutputFormat),
        help="Output format: a table for people, jsonl for pipes; with --output, "
        "the file's extension (.jsonl .json .csv .parquet) picks it unless this is given.",
        rich_help_panel="Output",
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write results to this file instead of stdout (format from the extension).",
        rich_help_panel="Output",
        show_default=False,
    ),
]
KeepColumns = Annotated[
    bool,
    typer.Option(
        "--keep-columns/--no-keep-columns",
        help="Copy the input table's other columns (an id, a gold label) into each output "
        "row, after the result's; a name the result uses gets an input_ prefix.",
        rich_help_panel="Output",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace --output if it exists.", rich_help_panel="Output"),
]
MaxNewTokens = Annotated[
    int | None,
    typer.Option(
        "--max-new-tokens",
        metavar="N",
        help="Most tokens to generate per text (default: the model's own setting).",
        show_default=False,
    ),
]
NumBeams = Annotated[
    int | None,
    typer.Option(
        "--num-beams",
        min=1,
        metavar="N",
        help="Beam search width (default: the model's own setting).",
        show_default=False,
    ),
]


def model_option(default_help: str, gguf: bool = False):
    """The --model option; each task names its own default in the help."""
    kinds = "Hub id or local folder"
    if gguf:
        kinds = "Hub id, local folder, .gguf file or built-in name (smollm2)"
    return Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help=f"{kinds}. Default: {default_help}.",
            rich_help_panel="Model",
            show_default=False,
        ),
    ]


GgufFile = Annotated[
    str | None,
    typer.Option(
        "--gguf-file",
        metavar="FILE",
        help="The .gguf file inside the --model folder or Hub repo (converted once, then cached).",
        rich_help_panel="Model",
        show_default=False,
    ),
]
Chat = Annotated[
    bool | None,
    typer.Option(
        "--chat/--no-chat",
        help="Send prompts through the model's chat template (default: when it has one).",
        show_default=False,
    ),
]
System = Annotated[
    str | None,
    typer.Option(
        "--system",
        metavar="TEXT",
        help="System message for chat models.",
        show_default=False,
    ),
]
RecipeOverrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Override a recipe key, e.g. --set training.epochs=1 (repeatable; beats the file).",
        rich_help_panel="Recipe",
        show_default=False,
    ),
]
DeviceMap = Annotated[
    str | None,
    typer.Option(
        "--device-map",
        metavar="MAP",
        help="Spread a model too large for one GPU over the GPUs and CPU (accelerate): "
        f"{', '.join(DEVICE_MAPS)}; replaces --device.",
        rich_help_panel="Model",
        show_default=False,
    ),
]
Processes = Annotated[
    int | None,
    typer.Option(
        "--processes",
        min=1,
        metavar="N",
        help="Data-parallel workers on this node (GPUs if there are enough, else CPU/gloo).",
        rich_help_panel="Launch",
        show_default=False,
    ),
]
Gpus = Annotated[
    str | None,
    typer.Option(
        "--gpus",
        metavar="all|N|0,1",
        help="GPUs to train on, one process each: all, a count, or ids; 0 = CPU workers.",
        rich_help_panel="Launch",
        show_default=False,
    ),
]
Nnodes = Annotated[
    int,
    typer.Option(
        "--nnodes",
        "--num-machines",
        min=1,
        metavar="N",
        help="Machines in a multi-node run (torchrun --nnodes).",
        rich_help_panel="Launch",
    ),
]
NodeRank = Annotated[
    int,
    typer.Option(
        "--node-rank",
        "--machine-rank",
        min=0,
        metavar="RANK",
        help="This machine's rank, 0..nnodes-1 (torchrun --node-rank).",
        rich_help_panel="Launch",
    ),
]
MasterAddr = Annotated[
    str | None,
    typer.Option(
        "--master-addr",
        "--main-process-ip",
        metavar="HOST",
        help="Address of node 0 (torchrun --master-addr).",
        rich_help_panel="Launch",
        show_default=False,
    ),
]
MasterPort = Annotated[
    int | None,
    typer.Option(
        "--master-port",
        "--main-process-port",
        metavar="PORT",
        help="Free port on node 0 (torchrun --master-port; default 29500 across nodes).",
        rich_help_panel="Launch",
        show_default=False,
    ),
]
JoinTimeout = Annotated[
    int | None,
    typer.Option(
        "--join-timeout",
        min=1,
        metavar="SECONDS",
        help="How long the nodes wait for each other to join [default: 600, torchrun's].",
        rich_help_panel="Launch",
        show_default=False,
    ),
]
TrustRemoteCode = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Run Python code shipped with the model (off by default; warns when on).",
        rich_help_panel="Model",
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        metavar="N",
        help="CPU threads (default: the cores no other process keeps busy; "
        "OMP_NUM_THREADS if set).",
        rich_help_panel="Model",
        show_default=False,
    ),
]
AllowPickle = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Load pickle (.bin) weights when a model has no safetensors; pickle can run code.",
        rich_help_panel="Model",
    ),
]
BackendOption = Annotated[
    Backend,
    typer.Option(
        "--backend",
        metavar="|".join(Backend),
        help="auto: ONNX Runtime when the model has an export that passed the accuracy gate "
        "(`nlpkit optimize`; the built-in model gets one at first use), else torch.",
        rich_help_panel="Model",
    ),
]
