"""Sentence embeddings (feature extraction): one vector per text, pooled as the model says.

Texts are tokenized once by the model's fast tokenizer, grouped by length and padded
per batch; either backend returns token vectors that ``pooling.py`` pools the same way:
PyTorch, or ONNX Runtime (no torch import), which ``auto`` picks when the model has an
export that passed nlpkit's gate. A text longer than the model's input is cut (one
warning counts them), or with ``chunk=True`` read in windows whose vectors are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nlpkit.devices import use_threads
from nlpkit.errors import UsageError
from nlpkit.inputs.readers import text_list
from nlpkit.models.load import load_model, quiet_libraries
from nlpkit.models.resolve import default_model
from nlpkit.results import Embedding, EmbeddingPreview
from nlpkit.tasks.embed.encoders import (
    EMBED_BATCH,
    TASK,
    Embedder,
    embed_with,
    model_pooling,
    torch_embedder,
    unit_rows,
)
from nlpkit.tasks.progress import Progress, progress_bar

PREVIEW_VALUES = 5


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
    from nlpkit.tasks.onnx_choice import onnx_model_file

    onnx_file = onnx_model_file(name, backend, device, None)
    if onnx_file is not None:
        from nlpkit.tasks.embed.encoders import onnx_embedder

        return onnx_embedder(name, onnx_file, threads, count)
    loaded = load_model(TASK.loader, name, device, dtype)
    use_threads(threads)
    return torch_embedder(name, loaded, model_pooling(name))
