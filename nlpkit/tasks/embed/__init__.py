"""Sentence embeddings (feature extraction): one vector per text, pooled as the model says.

Texts are tokenized once by the model's fast tokenizer, grouped by length and padded
per batch; either backend returns token vectors that ``pooling.py`` pools the same way:
PyTorch, or ONNX Runtime (no torch import), which ``auto`` picks when the model has an
export that passed nlpkit's gate. A text longer than the model's input is cut (one
warning counts them), or with ``chunk=True`` read in windows whose vectors are averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.devices import use_threads
from nlpkit.errors import NlpkitWarning, UsageError
from nlpkit.inputs.readers import text_list
from nlpkit.models.load import load_model, quiet_libraries
from nlpkit.models.resolve import default_model, resolve_model
from nlpkit.results import Embedding, EmbeddingPreview
from nlpkit.tasks.batching import length_sorted_batches, warn_truncated
from nlpkit.tasks.embed.pooling import NO_POOLING_NOTE, Pooling, pool, read_pooling
from nlpkit.tasks.progress import Progress, progress_bar
from nlpkit.tasks.table import BY_COMMAND

TASK = BY_COMMAND["embed"]
EMBED_BATCH = 32
PREVIEW_VALUES = 5
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


@quiet_libraries()
def embed(
    texts: str | Sequence[str],
    model: str | None = None,
    batch_size: int = EMBED_BATCH,
    normalize: bool = True,
    chunk: bool = False,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress = False,
    threads: int | None = None,
    backend: str = "auto",
) -> Any:
    """One float32 vector per text (a numpy array [texts, dimension]).

    ``normalize``: unit length, so a dot product is the cosine. ``chunk``: a text longer
    than the model's input is read in windows whose vectors are averaged (default: cut,
    with a warning). ``backend``: ``auto`` (ONNX Runtime when the model has a
    gate-passing export, else PyTorch), ``torch`` or ``onnx``.
    """
    items = text_list(texts)
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}", param="batch_size")
    embedder = open_embedder(model, device, dtype, threads, backend, len(items))
    with progress_bar(len(items), "embed", progress) as advance:
        vectors = embed_with(embedder, items, batch_size, chunk, advance)
    return unit_rows(vectors) if normalize else vectors


def embed_rows(texts: str | Sequence[str], **options: Any) -> list[Embedding]:
    """``embed`` as result rows (text and vector): what batch jobs and files get."""
    items = text_list(texts)
    return [Embedding(t, v) for t, v in zip(items, embed(items, **options), strict=True)]


def embed_preview(texts: str | Sequence[str], **options: Any) -> list[EmbeddingPreview]:
    """What a screen shows of each vector: its dimension, norm and first values."""
    import numpy as np

    rows = []
    for text, vector in zip(text_list(texts), embed(texts, **options), strict=True):
        first = ", ".join(f"{value:.4f}" for value in vector[:PREVIEW_VALUES])
        norm = round(float(np.linalg.norm(vector)), 4)
        rows.append(EmbeddingPreview(text, len(vector), norm, f"[{first}, ...]"))
    return rows


def embed_with(
    embedder: Embedder,
    texts: list[str],
    batch_size: int,
    chunk: bool,
    advance: Callable[[int], None],
) -> Any:
    """Vectors of ``texts`` (not normalized): windows length-sorted into batches, pooled,
    and a chunked text's windows averaged by their token counts."""
    import numpy as np

    windows, owners = _windows(embedder, texts, chunk)
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


def open_embedder(
    model: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    threads: int | None = None,
    backend: str = "auto",
    count: int = 1,
) -> Embedder:
    """The backend that embeds texts for ``model`` (default: the task's model)."""
    name = model or default_model(TASK.command)
    onnx_file = embed_onnx_file(name, backend, device)
    if onnx_file is not None:
        from nlpkit.tasks.embed.onnx import onnx_embedder

        return onnx_embedder(name, onnx_file, threads, count)
    loaded = load_model(TASK.loader, name, device, dtype)
    use_threads(threads)
    return torch_embedder(name, loaded, model_pooling(name))


def embed_onnx_file(name: str, backend: str, device: str) -> Any:
    """The ONNX file ``backend`` runs for ``name`` (None: PyTorch); the built-in model
    gets its gated export the first time ONNX Runtime could run it."""
    from nlpkit.models.backends import onnx_available
    from nlpkit.models.builtin import builtin_model
    from nlpkit.tasks.classify import onnx_model_file

    builtin = builtin_model(name)
    cpu = device in ("auto", "cpu")
    if builtin and builtin.task == TASK.command and backend != "torch" and cpu and onnx_available():
        from nlpkit.tasks.embed.onnx import prepare_builtin_onnx

        prepare_builtin_onnx(name, Path(resolve_model(name).path))
    return onnx_model_file(name, backend, device, None)


def model_pooling(name: str) -> Pooling:
    """The pooling ``name``'s folder declares; a note when it declares none."""
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
    return Embedder(name, tokenizer, max_length, pad_id, pooling, hidden, dimension)
