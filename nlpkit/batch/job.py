"""A resumable batch job: one input file -> one output file, in shards, on any engine.

    from nlpkit.batch.job import run_job
    result = run_job("classify", "big.parquet", "out.parquet", resume=True, processes=2)

The input is cut into shards of ``shard_rows`` rows; each done shard is saved in
the parts folder beside the output and named in its manifest (nlpkit/batch/shards.py),
so a job killed at any moment, kill -9 included, continues with ``resume=True`` from
the shards it had finished: no row lost, none written twice, input order kept. The
output is written at the end, whole. Unreadable rows (an empty text, a broken JSON
line) go to ``<output stem>.errors.jsonl`` and never stop the job unless ``strict``.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpkit.atomic import write_text
from nlpkit.batch import SHARD_ROWS
from nlpkit.batch.metrics import check_scorable, job_metrics
from nlpkit.batch.predict import Predictor, ShardOutput, predict_shard, shard_inputs
from nlpkit.batch.rows import RowSource
from nlpkit.batch.shards import MANIFEST_VERSION, Parts
from nlpkit.errors import InputError, NlpkitError, NlpkitWarning, OutputError, UsageError
from nlpkit.models.safety import current_policy

JOB_FORMATS = ("jsonl", "csv", "parquet")
ENGINES = ("local", "ray")
# Where and how fast a model runs does not change its rows: a job may resume with other values.
PLACEMENT = ("device", "device_map", "threads", "batch_size")

JobProgress = Callable[[int, int], None]  # (rows done, rows in all)


class JobInterrupted(NlpkitError):
    """Ctrl-C during a job; its done shards are kept for --resume."""

    exit_code = 130


@dataclass(frozen=True)
class Engine:
    """Where the shards run: this process, N local processes, or Ray actors."""

    name: str = "local"
    processes: int = 1
    workers: int = 1
    gpus_per_worker: float = 0
    ray_address: str | None = None

    def check(self) -> None:
        if self.name not in ENGINES:
            raise UsageError(
                f"engine={self.name!r}: use one of {', '.join(ENGINES)}", param="engine"
            )
        if self.name == "ray" and self.processes > 1:
            raise UsageError(
                "processes= is for the local engine; with Ray use workers=",
                param=("processes", "workers"),
            )
        ray_only = {
            "workers": self.workers != 1,
            "gpus_per_worker": bool(self.gpus_per_worker),
            "ray_address": self.ray_address is not None,
        }
        for name, given in ray_only.items():
            if given and self.name != "ray":
                raise UsageError(f"{name}= needs engine='ray'", param=(name, "engine"))


@dataclass(frozen=True)
class JobFiles:
    """The output and the files named after it."""

    output: Path
    fmt: str

    @property
    def errors(self) -> Path:
        return self.output.with_name(self.output.stem + ".errors.jsonl")

    @property
    def metrics(self) -> Path:
        return self.output.with_name(self.output.stem + ".metrics.json")

    @property
    def parts(self) -> Parts:
        return Parts(self.output, self.fmt)


@dataclass
class JobResult:
    output: Path
    rows: int  # output rows
    errors: int  # unreadable input rows, listed in errors_file
    total: int  # input rows
    resumed_rows: int  # input rows done by an earlier run
    seconds: float
    errors_file: Path | None = None
    metrics: dict[str, Any] | None = None
    metrics_file: Path | None = None
    engine: str = "local"
    already_finished: bool = False


@dataclass
class _State:
    files: JobFiles
    manifest: dict[str, Any]
    shard_rows: int
    progress: JobProgress
    done_rows: int = 0
    resumed_rows: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return self.manifest["total"]

    def shards(self) -> int:
        return -(-self.total // self.shard_rows)

    def pending(self) -> list[int]:
        return [i for i in range(self.shards()) if str(i) not in self.manifest["done"]]

    def size(self, index: int) -> int:
        return min(self.shard_rows, self.total - index * self.shard_rows)

    def saved_rows(self) -> int:
        """Input rows in the shards the manifest names."""
        return sum(self.size(int(i)) for i in self.manifest["done"])

    def advance(self, rows: int) -> None:
        self.done_rows += rows
        self.progress(self.done_rows, self.total)

    def record(self, shard: ShardOutput) -> None:
        self.files.parts.write(shard)
        self.manifest["done"][str(shard.index)] = {
            "rows": len(shard.rows),
            "errors": len(shard.errors),
        }
        self.files.parts.save(self.manifest)


def run_job(
    command: str,
    input_file: str | Path,
    output: str | Path,
    *,
    fmt: str | None = None,
    text_column: str | None = None,
    keep_columns: bool = True,
    id_column: str | None = None,
    gold_column: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    engine: Engine | None = None,
    shard_rows: int = SHARD_ROWS,
    progress: JobProgress | None = None,
    **options: Any,
) -> JobResult:
    """Run ``command`` (classify, generate, summarize, translate) over every row of
    ``input_file`` into ``output``; ``options`` go to the task function.

    ``gold_column``: score the output against this column (``label_column`` for
    classify, ``reference_column`` for summarize/translate) into ``<stem>.metrics.json``.
    ``progress(done, total)`` is called as rows finish.
    """
    engine = engine or Engine()
    engine.check()
    check_scorable(command, gold_column)
    files = JobFiles(Path(output), fmt or Path(output).suffix.lower().lstrip("."))
    if files.fmt not in JOB_FORMATS:
        raise UsageError(f"{output}: a batch job writes {', '.join(JOB_FORMATS)}", param="output")
    if shard_rows < 1:
        raise UsageError("shard_rows must be 1 or more", param="shard_rows")
    named = tuple(c for c in (id_column, gold_column) if c)
    source = RowSource(Path(input_file), text_column, None if keep_columns else named)
    _check_columns(source, named)
    settings = {
        "command": command,
        "input": str(source.path.resolve()),
        "format": files.fmt,
        **{"text_column": text_column, "keep_columns": keep_columns, "id_column": id_column},
        **{"gold_column": gold_column, "shard_rows": shard_rows, "options": _fingerprint(options)},
    }
    manifest = _open_manifest(files, source, settings, resume, overwrite, strict)
    if manifest.get("finished"):
        return _finished(files, manifest, engine, already=True)
    state = _State(files, manifest, shard_rows, progress or (lambda _d, _t: None))
    state.resumed_rows = state.done_rows = state.saved_rows()
    state.advance(0)
    policy = current_policy()  # the caller's load_policy holds in worker processes too
    predict = Predictor(command, options, (policy.trust_remote_code, policy.allow_pickle))
    try:
        for shard in _run_engine(engine, source, state, predict):
            state.record(shard)
    except KeyboardInterrupt:
        raise JobInterrupted(
            f"interrupted after {state.saved_rows()} of {state.total} rows; the done shards "
            f"are kept in {files.parts.folder}: rerun the same command with --resume"
        ) from None
    return _finish(files, state, engine, options, time.monotonic() - state.started)


def _fingerprint(options: dict[str, Any]) -> dict[str, Any]:
    """The options that decide the rows, as the manifest holds them (JSON values)."""
    chosen = {k: v for k, v in sorted(options.items()) if k not in PLACEMENT}
    return json.loads(json.dumps(chosen, default=str))


def _run_engine(
    engine: Engine, source: RowSource, state: _State, predict: Predictor
) -> Iterator[ShardOutput]:
    pending = state.pending()
    if engine.name == "ray":
        from nlpkit.batch.ray_engine import run_ray

        return run_ray(
            source,
            pending,
            state.shard_rows,
            predict,
            state.advance,
            state.total,
            engine.workers,
            engine.gpus_per_worker,
            engine.ray_address,
        )
    if engine.processes > 1:
        from nlpkit.batch.processes import run_processes, worth_processes

        rows = sum(map(state.size, pending))
        why = worth_processes(predict.command, rows, len(pending), engine.processes)
        if why is None:
            return run_processes(
                source, pending, state.shard_rows, predict, state.advance, engine.processes
            )
        warnings.warn(NlpkitWarning(why, param="processes"), stacklevel=2)
    shards = shard_inputs(source, pending, state.shard_rows)
    return (predict_shard(predict, shard, state.advance) for shard in shards)


def _check_columns(source: RowSource, named: tuple[str, ...]) -> None:
    columns = source.columns()
    source.text_name(columns)
    source.carried_names(columns)
    for name in named:
        if name not in columns:
            quoted = ", ".join(map(repr, columns)) or "none (a plain text file)"
            raise InputError(f"{source.path}: no column '{name}'; columns are {quoted}")


def _stamp(source: RowSource) -> dict[str, int]:
    stat = source.path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _open_manifest(
    files: JobFiles, source: RowSource, settings: dict, resume: bool, overwrite: bool, strict: bool
) -> dict[str, Any]:
    """The manifest to continue (resume) or a new one, after every check that can fail."""
    parts = files.parts
    found = parts.read_manifest() if resume or not overwrite else None
    if found is not None and resume:
        _check_same_job(found, settings, _stamp(source), parts)
        return found
    if found is not None and not overwrite:
        done = sum(shard["rows"] + shard["errors"] for shard in found["done"].values())
        raise OutputError(
            f"{parts.folder} holds an unfinished job ({done} of {found['total']} rows done); "
            "pass --resume to continue it, or --overwrite to start over"
        )
    if resume and files.output.exists() and not overwrite:
        raise OutputError(
            f"nothing to resume: {files.output} exists and no unfinished job is beside it; "
            "pass --overwrite to run the job again"
        )
    for path in (files.output, files.errors, files.metrics):
        if path.exists() and not overwrite:
            raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    if not files.output.parent.is_dir():
        raise OutputError(f"{files.output}: cannot write there (no such folder)")
    total = _strict_count(source, files) if strict else source.count()
    if not total:  # as without --output: no rows is an error, never an empty output
        raise InputError(f"{source.path}: no rows to process (an empty file, or a header only)")
    manifest = {
        "version": MANIFEST_VERSION,
        "settings": settings,
        "input": _stamp(source),
        "total": total,
        "done": {},
    }
    parts.start(manifest)
    return manifest


def _check_same_job(found: dict, settings: dict, stamp: dict, parts: Parts) -> None:
    changed = [k for k in settings if found["settings"].get(k) != settings[k]]
    if found["input"] != stamp:
        changed.append("the input file (its size or time)")
    if changed:
        raise UsageError(
            f"cannot resume the job in {parts.folder}: it was started with other settings "
            f"({', '.join(changed)}); rerun with those, or pass --overwrite instead of --resume"
        )


def _strict_count(source: RowSource, files: JobFiles) -> int:
    count = 0
    for row in source.rows():
        if row.error is not None:
            raise InputError(
                f"{row.where}: {row.error}; fix the row, or drop --strict to have such rows "
                f"listed in {files.errors}"
            )
        count += 1
    return count


def _finish(
    files: JobFiles, state: _State, engine: Engine, options: dict, seconds: float
) -> JobResult:
    """Join the shards into the output (and the errors file), score, remove the parts."""
    manifest, parts = state.manifest, files.parts
    shards = state.shards()
    errors = sum(shard["errors"] for shard in manifest["done"].values())
    if errors:
        parts.join_errors(files.errors, shards)
    else:
        files.errors.unlink(missing_ok=True)  # an old one, replaced as --overwrite asked
    parts.join(files.output, shards)
    settings = manifest["settings"]
    if settings["gold_column"]:
        scores = job_metrics(
            settings["command"],
            files.output,
            settings["gold_column"],
            lambda: _label_names(options),
        )
        write_text(files.metrics, json.dumps(scores, indent=2) + "\n")
        manifest["metrics"] = scores
    manifest.update(finished=True, seconds=seconds, resumed_rows=state.resumed_rows)
    parts.save(manifest)
    result = _finished(files, manifest, engine)
    parts.remove()
    return result


def _finished(files: JobFiles, manifest: dict, engine: Engine, already: bool = False) -> JobResult:
    done = manifest["done"].values()
    errors = sum(shard["errors"] for shard in done)
    return JobResult(
        output=files.output,
        rows=sum(shard["rows"] for shard in done),
        errors=errors,
        total=manifest["total"],
        resumed_rows=manifest.get("resumed_rows", 0),
        seconds=manifest.get("seconds", 0.0),
        errors_file=files.errors if errors else None,
        metrics=manifest.get("metrics"),
        metrics_file=files.metrics if manifest.get("metrics") else None,
        engine=engine.name,
        already_finished=already,
    )


def _label_names(options: dict[str, Any]) -> list[str]:
    """The classifier's label names (to read gold label ids as names)."""
    from nlpkit.tasks.classify import classifier_label_names

    keys = ("model", "labels", "device", "dtype", "backend")
    return classifier_label_names(**{key: options[key] for key in keys if key in options})
