"""The vector index itself, on FAISS (faiss-cpu): exact below a size, IVF above it.

Vectors are unit length (the embed task normalizes them), so an inner product is
the cosine. A small corpus gets an exact index (``IndexFlatIP``: every query scans
every vector); from ``APPROX_FROM`` vectors on, an inverted-file index
(``IndexIVFFlat``: k-means cells, a query scans the ``nprobe`` nearest cells) whose
``nprobe`` is calibrated at build time to reach ``TARGET_RECALL`` of the exact top
10 for queries made from a sample of the corpus's own vectors. Both kinds are read
memory-mapped, so opening a million-vector index costs milliseconds (bench/search.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import InputError, UsageError

KINDS = ("auto", "flat", "ivf")
# bench/search.py: exact search over 100k MiniLM vectors answers one query in about
# 10 ms on 2 cores, 1M in 10x that; IVF from here keeps p95 under 20 ms.
APPROX_FROM = 100_000
# nprobe is calibrated on the corpus's own vectors moved off their rows by noise (a query
# is never a row; a row's near-duplicates would make it too easy): bench/search.py
# measures recall@10 with held-out queries against this target.
TARGET_RECALL = 0.98
QUERY_NOISE = 0.05  # per dimension: a unit vector's cosine to its moved copy is about 0.7
# A query scans at least 1/16 of the cells, whatever the calibration says: a corpus of
# near-duplicates calibrates too low (bench/search.py's 1M set: 4 cells, recall 0.60 for
# held-out queries; 128 of its 4000 cells: 0.935, p95 9.5 ms; 256: 0.967, p95 15.7 ms).
MIN_CELL_SHARE = 16
CALIBRATION_QUERIES = 256
CALIBRATION_K = 10
TRAIN_PER_CELL = 40  # k-means training vectors per cell (FAISS warns below 39)
KMEANS_ITERATIONS = 10
SEED = 0


@dataclass(frozen=True)
class Layout:
    """How the vectors are indexed: the manifest records it."""

    kind: str  # flat | ivf
    nlist: int | None = None  # IVF cells
    nprobe: int | None = None  # IVF cells a query scans


def faiss_module() -> Any:
    """faiss, imported on first use (it loads OpenMP and BLAS)."""
    try:
        import faiss
    except ImportError:
        from nlpkit.errors import DependencyError

        raise DependencyError(
            'vector search needs faiss-cpu: pip install "nlpkit[embed]"'
        ) from None

    return faiss


def library_version() -> str:
    return f"faiss-cpu {faiss_module().__version__}"


def pick_kind(count: int, kind: str = "auto") -> str:
    if kind not in KINDS:
        raise UsageError(f"kind={kind!r}: use one of {', '.join(KINDS)}", param="kind")
    if kind == "auto":
        return "ivf" if count >= APPROX_FROM else "flat"
    if kind == "ivf" and count < TRAIN_PER_CELL:
        raise UsageError(f"kind='ivf' needs at least {TRAIN_PER_CELL} vectors", param="kind")
    return kind


def build_vectors(vectors: Any, kind: str = "auto") -> tuple[Any, Layout]:
    """A FAISS index over ``vectors`` [n, dim] float32 (ids 0..n-1) and its layout."""
    faiss = faiss_module()
    count, dimension = vectors.shape
    kind = pick_kind(count, kind)
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index, Layout("flat")
    nlist = max(1, min(round(4 * math.sqrt(count)), count // TRAIN_PER_CELL))
    index = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = SEED
    index.train(_sample(vectors, nlist * TRAIN_PER_CELL))
    index.add(vectors)
    return index, Layout("ivf", nlist, calibrate_nprobe(index, vectors))


def _sample(vectors: Any, size: int) -> Any:
    import numpy as np

    if len(vectors) <= size:
        return vectors
    rows = np.random.default_rng(SEED).choice(len(vectors), size, replace=False)
    return vectors[np.sort(rows)]


def calibrate_nprobe(index: Any, vectors: Any, target: float = TARGET_RECALL) -> int:
    """The fewest IVF cells per query (doubling) whose top 10 holds ``target`` of the
    exact top 10, for a sample of the corpus's vectors moved by noise as queries."""
    import numpy as np

    faiss = faiss_module()
    sample = _sample(vectors, CALIBRATION_QUERIES)
    moved = sample + np.random.default_rng(SEED).normal(0, QUERY_NOISE, sample.shape)
    queries = np.ascontiguousarray(moved / np.linalg.norm(moved, axis=1, keepdims=True), "float32")
    k = min(CALIBRATION_K, len(vectors))
    _, truth = faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)  # no copy
    nprobe = 1
    while nprobe * MIN_CELL_SHARE < index.nlist:
        nprobe *= 2
    while nprobe < index.nlist:
        index.nprobe = nprobe
        _, found = index.search(queries, k)
        if recall(found, truth) >= target:
            return nprobe
        nprobe *= 2
    return index.nlist


def recall(found: Any, truth: Any) -> float:
    """Mean share of each row of ``truth`` found in the same row of ``found``."""
    import numpy as np

    width = truth.shape[1]
    hits = [
        len(set(f) & set(t)) / width for f, t in zip(found.tolist(), truth.tolist(), strict=True)
    ]
    return float(np.mean(hits)) if hits else 1.0


def write_vectors(index: Any, path: Path) -> None:
    faiss_module().write_index(index, str(path))


def read_vectors(path: Path, layout: Layout, writable: bool = False) -> Any:
    """The index in ``path``; memory-mapped (read-only) unless ``writable``."""
    faiss = faiss_module()
    flags = 0
    if not writable:
        flags = faiss.IO_FLAG_MMAP_IFC if layout.kind == "flat" else faiss.IO_FLAG_MMAP
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise InputError(
            f"{path}: not a readable FAISS index ({str(exc).strip().splitlines()[-1][:160]}); "
            "rebuild it with nlpkit index build --overwrite"
        ) from None
    if layout.nprobe:
        index.nprobe = layout.nprobe
    if flags == faiss.IO_FLAG_MMAP:
        # Mapped inverted lists start 32 prefetch threads for every search by default,
        # which costs more than the scan itself; the page cache does that job here.
        faiss.downcast_InvertedLists(index.invlists).prefetch_nthread = 0
    return index


def search_vectors(
    index: Any, queries: Any, top_k: int, nprobe: int | None = None
) -> tuple[Any, Any]:
    """(scores, ids) [queries, top_k]; an id of -1 means fewer hits than top_k.
    ``nprobe`` (IVF) applies to this call only, so concurrent searches do not share it."""
    if nprobe is None or not hasattr(index, "nprobe"):
        return index.search(queries, top_k)
    if nprobe < 1:
        raise UsageError(f"nprobe must be at least 1, got {nprobe}", param="nprobe")
    params = faiss_module().SearchParametersIVF(nprobe=nprobe)
    return index.search(queries, top_k, params=params)
