"""Option groups that several commands share, declared once.

A command declares only its own options and takes the group as one keyword-only
parameter (``shared: TaskOptions``, ``launch: LaunchOptions``); ``@with_group``
appends the group's fields to its signature (typer reads the signature) and hands
them over as one object.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from nlpkit.batch import SHARD_ROWS
from nlpkit.cli import batch_options as bopt
from nlpkit.cli import options as opt
from nlpkit.devices import check_device_map, check_device_name
from nlpkit.inputs.stream import TextSource


@dataclass
class TaskOptions:
    """Input, model placement, output and safety: the same for classify, generate, ..."""

    input_file: opt.InputFile = None
    text_column: opt.TextColumn = None
    skip_empty: opt.SkipEmpty = False
    keep_columns: opt.KeepColumns = True
    device: opt.Device = "auto"
    device_map: opt.DeviceMap = None
    dtype: opt.Dtype = opt.DType.auto
    batch_size: opt.BatchSize = None
    threads: opt.Threads = None
    format: opt.Format = opt.OutputFormat.table
    output: opt.Output = None
    overwrite: opt.Overwrite = False
    trust_remote_code: opt.TrustRemoteCode = False
    allow_pickle: opt.AllowPickle = False
    resume: bopt.Resume = False
    processes: bopt.Processes = 1
    engine: bopt.Engine = bopt.EngineName.local
    ray_address: bopt.RayAddress = None
    workers: bopt.Workers = 1
    gpus_per_worker: bopt.GpusPerWorker = 0
    id_column: bopt.IdColumn = None
    strict: bopt.Strict = False
    shard_rows: bopt.ShardRows = SHARD_ROWS
    gold_column: ClassVar[str | None] = None  # set by score_against, not an option

    def source(self, texts: list[str] | None) -> TextSource:
        """The texts to process: arguments (or stdin with '-'), or the --input file."""
        return TextSource(
            texts or [],
            self.input_file,
            self.text_column,
            self.skip_empty,
            keep_columns=self.keep_columns,
        )

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments every task function takes, checked before any model work."""
        check_device_name(self.device)
        check_device_map(self.device_map, self.device)
        options = {"device": self.device, "dtype": self.dtype.value, "threads": self.threads}
        if self.device_map is not None:
            options["device_map"] = self.device_map
        if self.batch_size is not None:
            options["batch_size"] = self.batch_size
        return options

    @property
    def safety(self) -> tuple[bool, bool]:
        return self.trust_remote_code, self.allow_pickle

    def score_against(self, column: str | None) -> None:
        """The gold column a batch job scores (--label-column, --reference-column)."""
        self.gold_column = column

    def job(self, source: TextSource) -> bool:
        """Whether the command runs as a batch job: an --input file to an --output file."""
        from nlpkit.cli.job import job_wanted

        return job_wanted(self, source, self.gold_column)

    def run(self, task, texts: list[str] | TextSource | None, title: str, **options) -> None:
        """Run ``task`` chunk by chunk over the texts, writing rows as they are done; an
        --input file to an --output file runs as a batch job (sharded, resumable)."""
        from functools import partial

        from nlpkit.cli.job import run_job_cmd
        from nlpkit.cli.stream_output import run_streaming
        from nlpkit.models.safety import load_policy

        source = texts if isinstance(texts, TextSource) else self.source(texts)
        if self.job(source):
            run_job_cmd(self, title, self.gold_column, options)
            return
        call = partial(task, **self.model_options(), **options)  # progress= comes per chunk
        with load_policy(*self.safety):
            run_streaming(call, source, self.format, self.output, self.overwrite, title)


@dataclass
class LaunchOptions:
    """Where a run goes: processes, GPUs, nodes (finetune and plan)."""

    processes: opt.Processes = None
    gpus: opt.Gpus = None
    nnodes: opt.Nnodes = 1
    node_rank: opt.NodeRank = 0
    master_addr: opt.MasterAddr = None
    master_port: opt.MasterPort = None
    join_timeout: opt.JoinTimeout = None

    def nodes(self):
        from nlpkit.training.launch import Nodes

        return Nodes(
            self.nnodes, self.node_rank, self.master_addr, self.master_port, self.join_timeout
        )


def _parameters(group: type) -> list[inspect.Parameter]:
    hints = inspect.get_annotations(group, eval_str=True)
    return [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=field.default,
            annotation=hints[field.name],
        )
        for field in fields(group)
    ]


def with_group(group: type, name: str):
    """Give ``command(..., *, NAME: GROUP)`` the group's fields as CLI parameters."""
    shared = _parameters(group)

    def decorate(command):
        own = [
            param
            for param in inspect.signature(command, eval_str=True).parameters.values()
            if param.name != name
        ]

        @functools.wraps(command)
        def wrapper(**kwargs):
            values = group(**{param.name: kwargs.pop(param.name) for param in shared})
            return command(**kwargs, **{name: values})

        parameters = [*own, *shared]
        wrapper.__signature__ = inspect.Signature(parameters)
        wrapper.__annotations__ = {param.name: param.annotation for param in parameters}
        del wrapper.__wrapped__  # typer must read the new signature, not the command's
        return wrapper

    return decorate


with_task_options = with_group(TaskOptions, "shared")
with_launch_options = with_group(LaunchOptions, "launch")
