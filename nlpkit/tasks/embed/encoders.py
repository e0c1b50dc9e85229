"""The two backends' common ground: an ``Embedder`` (tokenizer, pooling, token vectors of
a padded batch) and the loop that turns texts into pooled vectors with it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import NlpkitWarning, UsageError
from nlpkit.models.resolve import resolve_model
from nlpkit.tasks.batching import length_sorted_batches, warn_truncated
from nlpkit.tasks.embed.pooling import NO_POOLING_NOTE, Pooling, pool, read_pooling
from nlpkit.tasks.table import BY_COMMAND

TASK = BY_COMMAND["embed"]
EMBED_BATCH = 32
# Token vectors of one padded batch: (input ids, attention mask) -> [batch, tokens, dim]
Hidden = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Embedder:
    """What either backend gives: a ``tokenizers`` Tokenizer cutting at ``max_length``,
    the pad id, the pooling, and the token vectors of a padded batch."""

    name: str
    tokenizer: Any
    max_length: int
    pad_id: int
    pooling: Pooling
    hidden: Hidden
    dimension: int
    on_cpu: bool = True  # ONNX Runtime always; PyTorch when the model sits on the CPU


def embed_with(
    embedder: Embedder,
    texts: list[str],
    batch_size: int,
    chunk: bool,
    advance: Callable[[int], None],
    tokens: list[int] | None = None,
) -> Any:
    """Vectors of ``texts`` (not normalized): windows length-sorted into batches, pooled,
    and a chunked text's windows averaged by their token counts. ``tokens``, if given,
    gets each text's count of tokens read (the OpenAI API reports their sum)."""
    import numpy as np

    windows, owners = _windows(embedder, texts, chunk)
    if tokens is not None:
        tokens += np.bincount(owners, [len(w) for w in windows], len(texts)).astype(int).tolist()
    pooled = np.zeros((len(windows), embedder.dimension), dtype=np.float32)
    for batch in length_sorted_batches([len(w) for w in windows], batch_size):
        ids, mask = pad_rows([windows[i] for i in batch], embedder.pad_id)
        hidden = np.asarray(embedder.hidden(ids, mask), dtype=np.float32)
        pooled[batch] = pool(hidden, mask, embedder.pooling.mode)
        advance(len({owners[i] for i in batch}) if not chunk else 0)
    if not chunk:
        return pooled
    weights = np.array([len(w) for w in windows], dtype=np.float32)[:, None]
    summed = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    np.add.at(summed, owners, pooled * weights)
    np.add.at(counts := np.zeros((len(texts), 1), np.float32), owners, weights)
    advance(len(texts))
    return summed / counts


def _windows(embedder: Embedder, texts: list[str], chunk: bool) -> tuple[list, list[int]]:
    """Token ids per window and the text each belongs to; without ``chunk`` one window
    per text (cut texts counted in one warning)."""
    encodings = embedder.tokenizer.encode_batch(texts)
    windows, owners, cut = [], [], 0
    for index, encoding in enumerate(encodings):
        windows.append(encoding.ids)
        owners.append(index)
        cut += bool(encoding.overflowing)
        if chunk:
            windows += [extra.ids for extra in encoding.overflowing]
            owners += [index] * len(encoding.overflowing)
    if not chunk:
        warn_truncated(cut, len(texts), embedder.max_length)
    return windows, owners


def pad_rows(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """(ids, attention mask) int64 arrays, padded on the right to the longest row."""
    import numpy as np

    ids = np.full((len(rows), max(map(len, rows))), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def unit_rows(vectors: Any) -> Any:
    """Rows scaled to unit length (a zero row stays zero)."""
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=32)
def model_pooling(name: str) -> Pooling:
    """The pooling ``name``'s folder declares; a note (once per process) when it declares
    none."""
    import warnings

    source = resolve_model(name)
    folder = source.path if source.is_local_folder else _hub_folder(name, source)
    pooling = read_pooling(folder, name)
    if not pooling.declared:
        warnings.warn(NO_POOLING_NOTE.format(name=name), NlpkitWarning, stacklevel=4)
    return pooling


def _hub_folder(name: str, source: Any) -> str | None:
    """The Hub snapshot of ``name`` with its json files (modules.json), if it has one."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(
            name, allow_patterns=["*.json"], local_files_only=source.local_files_only
        )
    except Exception:  # offline or not on the Hub: no pooling files to read
        return None


def torch_embedder(name: str, loaded: Any, pooling: Pooling) -> Embedder:
    """An embedder over a loaded transformers encoder (AutoModel)."""
    import torch
    from tokenizers import Tokenizer

    if not getattr(loaded.tokenizer, "is_fast", False):
        raise UsageError(f"model '{name}' has only a slow tokenizer; embed needs tokenizer.json")
    max_length = min(pooling.max_length or loaded.max_input_tokens, loaded.max_input_tokens)
    tokenizer = Tokenizer.from_str(loaded.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    pad_id = loaded.tokenizer.pad_token_id or 0
    wants_types = "token_type_ids" in loaded.tokenizer.model_input_names

    def hidden(ids, mask):
        feed = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if wants_types:
            feed["token_type_ids"] = torch.zeros_like(feed["input_ids"])
        feed = {key: value.to(loaded.device) for key, value in feed.items()}
        with torch.inference_mode():
            return loaded.model(**feed).last_hidden_state.float().cpu().numpy()

    dimension = int(loaded.model.config.hidden_size)
    on_cpu = loaded.device.type == "cpu"
    return Embedder(name, tokenizer, max_length, pad_id, pooling, hidden, dimension, on_cpu)


def onnx_embedder(name: str, path: Path, threads: int | None, count: int) -> Embedder:
    """An embedder over the cached ONNX Runtime session of ``path``."""
    from nlpkit.models.backends.onnx import load_onnx

    return runner_embedder(name, load_onnx(path, threads, count))


def runner_embedder(name: str, runner: Any) -> Embedder:
    """An embedder over an ONNX runner (nlpkit.models.backends.onnx), pooling as the
    files beside its model say."""
    import numpy as np

    pooling = read_pooling(runner.path.parent, name)
    max_length = min(pooling.max_length or runner.max_length, runner.max_length)
    runner.tokenizer.enable_truncation(max_length)
    names = [item.name for item in runner.session.get_inputs()]

    def hidden(ids, mask):
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return runner.session.run(None, {name: feed[name] for name in names})[0]

    dimension = int(runner.config.get("hidden_size") or 0)
    return Embedder(name, runner.tokenizer, max_length, runner.pad_id, pooling, hidden, dimension)
