"""Task commands from an --input file to an --output file: a batch job (nlpkit/batch).

The job writes shards beside the output and joins them at the end, so `--resume`
continues a killed run; this module picks the job, passes the flags, renders its
progress bar and its summary.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.batch import SHARD_ROWS
from nlpkit.cli.options import OutputFormat
from nlpkit.cli.render import SUFFIX_FORMATS, out
from nlpkit.errors import UsageError
from nlpkit.inputs.stream import TextSource

if TYPE_CHECKING:
    from nlpkit.batch.job import JobResult
    from nlpkit.cli.option_groups import TaskOptions

JOB_FORMATS = (OutputFormat.jsonl, OutputFormat.csv, OutputFormat.parquet)


def job_format(shared: TaskOptions) -> OutputFormat | None:
    """The output format when the command writes a file, without warning twice."""
    if shared.output is None:
        return None
    if shared.format != OutputFormat.table:
        return shared.format
    return SUFFIX_FORMATS.get(Path(shared.output).suffix.lower())


def job_wanted(shared: TaskOptions, source: TextSource, gold_column: str | None) -> bool:
    """True for an --input file written to a jsonl/csv/parquet --output; the job's own
    flags anywhere else are an error rather than ignored."""
    file_to_file = shared.input_file is not None and not source.texts
    if file_to_file and job_format(shared) in JOB_FORMATS:
        return True
    asked = {
        "--resume": shared.resume,
        "--processes": shared.processes != 1,
        "--engine": shared.engine != "local",
        "--ray-address": shared.ray_address is not None,
        "--workers": shared.workers != 1,
        "--gpus-per-worker": bool(shared.gpus_per_worker),
        "--id-column": shared.id_column is not None,
        "--strict": shared.strict,
        "--shard-rows": shared.shard_rows != SHARD_ROWS,
        "--label-column/--reference-column": gold_column is not None,
    }
    for flag, given in asked.items():
        if given:
            raise UsageError(
                f"{flag} is for batch jobs: pass --input FILE and --output FILE "
                "(.jsonl, .csv or .parquet) and no texts as arguments"
            )
    return False


def run_job_cmd(
    shared: TaskOptions, command: str, gold_column: str | None, options: dict[str, Any]
) -> None:
    """Run the job with a bar over all rows, then say what was written."""
    from nlpkit.batch.job import Engine, run_job
    from nlpkit.cli.progress import JobProgress
    from nlpkit.models.safety import load_policy

    engine = Engine(
        shared.engine.value,
        shared.processes,
        shared.workers,
        shared.gpus_per_worker,
        shared.ray_address,
    )
    with load_policy(*shared.safety), once_per_message(), JobProgress(command) as progress:
        result = run_job(
            command,
            shared.input_file,  # type: ignore[arg-type]
            shared.output,  # type: ignore[arg-type]
            fmt=job_format(shared).value,  # type: ignore[union-attr]
            text_column=shared.text_column,
            keep_columns=shared.keep_columns,
            id_column=shared.id_column,
            gold_column=gold_column,
            resume=shared.resume,
            overwrite=shared.overwrite,
            strict=shared.strict,
            engine=engine,
            shard_rows=shared.shard_rows,
            progress=progress,
            **shared.model_options(),
            **options,
        )
    for line in summary(result):
        out.note(line)


@contextmanager
def once_per_message() -> Iterator[None]:
    """A warning that later shards repeat (counts aside) is shown once."""
    show, seen = warnings.showwarning, set()

    def once(message, *args, **kwargs) -> None:
        key = re.sub(r"\d+", "N", str(message))
        if key not in seen:
            seen.add(key)
            show(message, *args, **kwargs)

    with warnings.catch_warnings():  # restores the filters and showwarning at the end
        warnings.simplefilter("always")
        warnings.showwarning = once
        yield


def summary(result: JobResult) -> list[str]:
    """What the job wrote, how fast, and its scores, as lines for stderr."""
    if result.already_finished:
        return [f"nothing to resume: {result.output} is complete ({result.rows} rows)"]
    ran = result.total - result.resumed_rows
    rate = ran / result.seconds if result.seconds else 0.0
    line = f"{result.rows} rows -> {result.output} in {result.seconds:.1f} s ({rate:,.0f} rows/s"
    line += f", {result.engine})" if result.engine != "local" else ")"
    lines = [line] if out.console(stderr=True).is_terminal else []  # a log file: what matters
    if result.resumed_rows:
        lines.append(f"resumed: {result.resumed_rows} of {result.total} rows were done before")
    if result.errors_file is not None:
        lines.append(f"{result.errors} unreadable rows -> {result.errors_file}")
    if result.metrics is not None:
        scores = [f"{k} {v:.4f}" for k, v in result.metrics.items() if isinstance(v, float)]
        lines.append(f"{', '.join(scores)} -> {result.metrics_file}")
    return lines
