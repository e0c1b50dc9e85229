"""Run an exported classifier with ONNX Runtime: tokenizers + numpy, never torch.

The folder beside the ``.onnx`` file holds what `nlpkit optimize` saved with it:
``config.json`` (labels) and the fast tokenizer's ``tokenizer.json``. Sessions are
kept per file, so a stream of chunks pays the load once.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import ModelLoadError, first_line
from nlpkit.models.backends.cpu import this_int8_kernel

LIMIT_FALLBACK = 512
X64_QUANT_PRECISION = "session.x64quantprecision"
OPTIMIZED_SUFFIX = ".optimized.onnx"
_SESSIONS: dict[tuple, OnnxClassifier] = {}
_LOCK = threading.Lock()


@dataclass
class OnnxClassifier:
    """A session, its tokenizer and the model's config (labels, problem type)."""

    path: Path
    session: Any
    tokenizer: Any
    config: dict
    max_length: int
    pad_id: int
    threads: int

    @property
    def num_labels(self) -> int:
        return len(self.config.get("id2label") or {}) or 2

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in (self.config.get("id2label") or {}).items()}

    @property
    def multi_label(self) -> bool:
        return self.config.get("problem_type") == "multi_label_classification"

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids per text cut to ``max_length``, and how many texts were cut."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return [e.ids for e in encodings], sum(1 for e in encodings if e.overflowing)

    def logits(self, rows: list[list[int]]):
        """Logits for one batch, padded to its own longest row."""
        import numpy as np

        ids = np.full((len(rows), max(map(len, rows))), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        names = [item.name for item in self.session.get_inputs()]
        return self.session.run(None, {name: feed[name] for name in names})[0]

    def scores(self, rows: list[list[int]]) -> list[list[float]]:
        """Probabilities per row: softmax, or sigmoid for a multi-label model."""
        import numpy as np

        logits = self.logits(rows).astype(np.float64)
        if self.multi_label:
            return (1 / (1 + np.exp(-logits))).tolist()
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).tolist()


def load_onnx(path: Path, threads: int | None = None, texts: int = 1) -> OnnxClassifier:
    """The cached runner for ``path``, rebuilt when the thread count it should have changed:
    ``threads``, else devices.onnx_threads for ``texts`` texts (rechecked at most once a
    minute); a few texts reuse any session, so a stream's short last chunk costs nothing."""
    from nlpkit.devices import SMALL_WORK_TEXTS, onnx_threads

    key = (str(path), path.stat().st_mtime_ns)
    with _LOCK:
        runner = _SESSIONS.get(key)
        if runner is not None and threads is None and texts <= SMALL_WORK_TEXTS:
            return runner
        wanted = onnx_threads(threads, texts)
        if runner is None or runner.threads != wanted:
            runner = _SESSIONS[key] = open_runner(path, wanted)
    return runner


def open_runner(path: Path, threads: int) -> OnnxClassifier:
    """A new runner for ``path`` (uncached: the gate scores files that come and go)."""
    from tokenizers import Tokenizer

    folder = path.parent
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tokenizer_config = _json_or_empty(folder / "tokenizer_config.json")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        session = open_session(path, threads)
    except Exception as exc:  # missing files, a damaged model: one error naming the folder
        raise ModelLoadError(f"ONNX model {path}: cannot load ({first_line(exc)})") from exc
    limits = [tokenizer_config.get("model_max_length"), config.get("max_position_embeddings")]
    known = [int(limit) for limit in limits if isinstance(limit, int | float) and limit < 1e6]
    max_length = min(known) if known else LIMIT_FALLBACK
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    pad_token = tokenizer_config.get("pad_token")
    pad_id = config.get("pad_token_id")
    if pad_id is None:
        pad_id = (tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None) or 0
    return OnnxClassifier(path, session, tokenizer, config, max_length, int(pad_id), threads)


def _options(threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's notes are not the user's business
    # On x86 CPUs without VNNI, u8 x s8 products are summed in 16 bits and can saturate, so
    # int8 labels would depend on the CPU (and miss the gate there, as on AMD EPYC); this
    # option widens such s8 weights to u8 at load: exact integer math on every CPU.
    options.add_session_config_entry(X64_QUANT_PRECISION, "1")
    return options


def open_session(path: Path, threads: int) -> Any:
    """An InferenceSession for ``path``, from its graph as optimized once on this kind of
    CPU (save_optimized) when there is one: the session then skips graph optimization and
    maps the weights instead of copying them, most of its start-up; else ONNX Runtime
    optimizes ``path`` now."""
    import onnxruntime

    optimized = optimized_path(path)
    if optimized.is_file():
        options = _options(threads)
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return onnxruntime.InferenceSession(
                str(optimized), options, providers=["CPUExecutionProvider"]
            )
        except Exception:  # a damaged copy: the original still answers
            pass
    return onnxruntime.InferenceSession(
        str(path), _options(threads), providers=["CPUExecutionProvider"]
    )


def optimized_path(path: Path) -> Path:
    """Where ``path``'s optimized graph is kept: per ONNX Runtime version and kind of int8
    kernel, since optimizing rewrites weights for the CPU (x86 without VNNI: s8 to u8)."""
    import onnxruntime

    tag = f"{this_int8_kernel()}-ort{onnxruntime.__version__}"
    return path.with_name(f"{path.stem}.{tag}{OPTIMIZED_SUFFIX}")


def save_optimized(path: Path) -> Path:
    """Save ``path`` as ONNX Runtime optimizes it at load (operator fusions, the weight
    widening of _options) beside it, for open_session: the graph, and its weights in a
    ``.data`` file that sessions map from disk (a one-sentence command reads a few rows of
    the 47 MB embedding table, not all of it). The graph is renamed into place last."""
    import onnx
    import onnxruntime

    target = optimized_path(path)
    temp = target.with_name(f".{target.name}.tmp")
    options = _options(1)
    # EXTENDED: every fusion for the CPU; ALL adds convolution layouts, which a
    # transformer lacks
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(temp)
    try:
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(temp))
        onnx.save_model(
            graph,
            str(temp),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{target.name}.data",
            size_threshold=1024,
        )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def _json_or_empty(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def clear_sessions() -> None:
    """Forget loaded sessions (the next call loads again)."""
    _SESSIONS.clear()
