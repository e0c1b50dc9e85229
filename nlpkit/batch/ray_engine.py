"""The Ray Data engine: read -> map_batches(actor that loads the model once) -> the driver.

    shards (from_items) -> flat_map(read_shard): the shard's input rows, read on a worker
                        -> map_batches(RayPredictor, concurrency=workers, num_gpus=...)
                        -> iter_batches on the driver, in order -> shard files + manifest

The rows are read by nlpkit's own reader (the same ids, errors and text column as
the local engines), on the workers, so the input path must be readable there (a
shared filesystem or the same path on every node, as for ``read_parquet``). The
driver writes the shards and the manifest, so ``--resume`` works as with one
process and the output lands on the machine that ran the command. Ray is the
``nlpkit[ray]`` extra, imported only here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nlpkit.batch.predict import Predictor, ShardOutput, predict_rows, shard_inputs
from nlpkit.batch.rows import RowSource
from nlpkit.errors import DependencyError, NlpkitError, first_line
from nlpkit.inputs.stream import CHUNK_SIZE


def run_ray(
    source: RowSource,
    pending: list[int],
    shard_rows: int,
    predict: Predictor,
    advance: Callable[[int], None],
    total: int,
    workers: int = 1,
    gpus_per_worker: float = 0,
    address: str | None = None,
) -> Iterator[ShardOutput]:
    """Done shards in order, as the actors finish them."""
    with ray_session(address, workers):
        import ray

        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        _quiet_ray_data()
        shards = ray.data.from_items([{"shard": i} for i in pending])
        rows = shards.flat_map(
            read_shard, fn_kwargs={"source": source, "shard_rows": shard_rows}, num_cpus=0
        )
        done = rows.map_batches(
            RayPredictor,
            fn_constructor_args=(predict,),
            batch_size=CHUNK_SIZE,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=gpus_per_worker or None,
        )
        yield from _collect(
            done.iter_batches(batch_size=None, batch_format="pyarrow"),
            pending,
            shard_rows,
            total,
            advance,
        )


@contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[None]:
    """Ray as found: already initialized, a cluster (``address`` or RAY_ADDRESS), or a
    local one on 127.0.0.1 that this job starts and stops."""
    if importlib.util.find_spec("ray") is None:
        raise DependencyError('--engine ray needs Ray: pip install "nlpkit[ray]"')
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": False}
    if address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise NlpkitError(
                f"cannot reach the Ray cluster at {address} ({first_line(exc)}); check "
                f"--ray-address or RAY_ADDRESS, and `ray status --address {address}`"
            ) from None
    else:  # one CPU more than the actors take, for the readers
        cpus = max(os.cpu_count() or 1, workers + 1)
        local = {"num_cpus": cpus, "include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        ray.init("local", **local, **quiet)  # "local": never a stale cluster's address
    try:
        yield
    finally:
        ray.shutdown()  # disconnects from a cluster; stops a local one this job started


def _quiet_ray_data() -> None:
    """Ray Data's INFO lines (plans, timings) stay in its log file, off the terminal."""
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setLevel(logging.WARNING)


def read_shard(item: dict[str, Any], source: RowSource, shard_rows: int) -> list[dict[str, Any]]:
    """One shard's input rows as flat records (extra columns as JSON text)."""
    rows = next(shard_inputs(source, [item["shard"]], shard_rows)).rows
    return [
        {
            "shard": item["shard"],
            "row": row.row,
            "where": row.where,
            "text": row.text or "",
            "error": row.error or "",
            "extra": json.dumps(row.extra, ensure_ascii=False, default=str),
        }
        for row in rows
    ]


class RayPredictor:
    """An actor: loads the model on its first batch, keeps it for every later one."""

    def __init__(self, predict: Predictor) -> None:
        self.predict = predict

    def __call__(self, batch):
        import pyarrow as pa

        from nlpkit.batch.rows import InputRow

        records = batch.to_pylist()
        rows = [
            InputRow(
                r["row"], r["where"], r["text"] or None, r["error"] or None, json.loads(r["extra"])
            )
            for r in records
        ]
        output, errors = predict_rows(self.predict, rows, lambda _n: None)
        done = iter(output)
        bad = iter(errors)
        results = [
            {"result": "", "failure": _json(next(bad))}
            if row.error
            else {"result": _json(next(done)), "failure": ""}
            for row in rows
        ]
        return pa.table(
            {
                "shard": [r["shard"] for r in records],
                "result": [r["result"] for r in results],
                "failure": [r["failure"] for r in results],
            }
        )


VECTOR_KEY = "__nlpkit_vector__"


def _json(value: dict[str, Any]) -> str:
    """A row as json; a numpy vector (embeddings) travels as its values and dtype, so
    the parent writes the same fixed-size list column as the other engines."""
    return json.dumps(value, ensure_ascii=False, default=_encoded)


def _encoded(value: Any) -> Any:
    if getattr(value, "ndim", 0) == 1:
        return {VECTOR_KEY: value.tolist(), "dtype": str(value.dtype)}
    return str(value)


def _decoded(item: dict[str, Any]) -> Any:
    if VECTOR_KEY not in item:
        return item
    import numpy as np

    return np.asarray(item[VECTOR_KEY], dtype=item["dtype"])


def _collect(
    batches, pending: list[int], shard_rows: int, total: int, advance
) -> Iterator[ShardOutput]:
    """Group the ordered rows back into shards; a shard is done when all its rows are in."""
    expected = {i: min(shard_rows, total - i * shard_rows) for i in pending}
    current: ShardOutput | None = None
    seen = 0
    for batch in batches:
        for shard, result, failure in zip(
            *(batch.column(n).to_pylist() for n in ("shard", "result", "failure")), strict=True
        ):
            if current is None:
                current, seen = ShardOutput(shard, [], []), 0
            row = json.loads(result or failure, object_hook=_decoded)
            (current.rows if result else current.errors).append(row)
            seen += 1
            if seen == expected[shard]:
                yield current
                current = None
        advance(batch.num_rows)
