"""Search an index: embed the query with the index's model, read the hits' rows.

from nlpkit.index import open_index, search
hits = search("myindex/", "how do I reset my password?", top_k=5)
index = open_index("myindex/")          # memory-mapped; keep it for many queries
many = index.search(["query one", "query two"], top_k=3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nlpkit.index.vectors as vx
from nlpkit.errors import InputError, UsageError
from nlpkit.index.manifest import REBUILD, VECTORS, IndexManifest, read_manifest
from nlpkit.index.models import check_model, model_name
from nlpkit.index.rows import RowStore

DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class SearchHit:
    """One row found: its rank (1 first), cosine score, id, text and other columns."""

    rank: int
    score: float
    id: Any  # the id column's value, else the row's position in the index
    text: str
    columns: dict[str, Any] = field(default_factory=dict)


class Index:
    """An opened index: manifest, memory-mapped vectors and the rows' parts."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest: IndexManifest = read_manifest(self.folder)
        layout = vx.Layout(self.manifest.kind, self.manifest.nlist, self.manifest.nprobe)
        self.vectors = vx.read_vectors(self.folder / VECTORS, layout)
        self.rows = RowStore(self.folder, self.manifest.parts)
        if self.vectors.ntotal != self.manifest.count or self.rows.count != self.manifest.count:
            raise InputError(
                f"{self.folder}: {self.vectors.ntotal} vectors and {self.rows.count} rows, the "
                f"manifest says {self.manifest.count}; {REBUILD}"
            )

    def search(
        self,
        queries: str | Sequence[str],
        top_k: int = DEFAULT_TOP_K,
        model: str | None = None,
        nprobe: int | None = None,
        **embed_options: Any,
    ) -> list[SearchHit] | list[list[SearchHit]]:
        """The ``top_k`` rows nearest each query: a list of hits for one query string,
        a list of such lists for a list of queries. ``model`` may only name the index's
        model (another model's vectors do not compare)."""
        from nlpkit.inputs.readers import text_list
        from nlpkit.tasks.embed import embed

        check_top_k(top_k)
        if model is not None:
            check_model(self.manifest.model, model_name(model), self.folder)
        texts = text_list(queries)
        vectors = embed(texts, model=self.manifest.model, normalize=True, **embed_options)
        found = self.search_vectors(vectors, top_k, nprobe)
        return found[0] if isinstance(queries, str) else found

    def search_vectors(
        self, vectors: Any, top_k: int = DEFAULT_TOP_K, nprobe: int | None = None
    ) -> list[list[SearchHit]]:
        """Hits for query vectors [queries, dimension] made by the index's model."""
        import numpy as np

        check_top_k(top_k)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.manifest.dimension:
            raise UsageError(
                f"query vectors of shape {vectors.shape}; {self.folder} holds vectors of "
                f"dimension {self.manifest.dimension}"
            )
        scores, ids = vx.search_vectors(self.vectors, vectors, top_k, nprobe)
        return [
            self._hits(row_scores, row_ids) for row_scores, row_ids in zip(scores, ids, strict=True)
        ]

    def _hits(self, scores: Any, ids: Any) -> list[SearchHit]:
        positions = [int(i) for i in ids if i >= 0]
        hits = []
        id_column = self.manifest.id_column
        for rank, (position, row) in enumerate(
            zip(positions, self.rows.rows(positions), strict=True)
        ):
            text = row.pop("text", "")
            key = row.pop(id_column) if id_column in row else position
            hits.append(SearchHit(rank + 1, round(float(scores[rank]), 6), key, text, row))
        return hits


def check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or top_k < 1:
        raise UsageError(f"top_k must be 1 or more, got {top_k!r}", param="top_k")


def open_index(folder: str | Path) -> Index:
    """The index in ``folder``, opened for searching (files checked, vectors mapped)."""
    return Index(folder)


def search(
    index: str | Path | Index,
    queries: str | Sequence[str],
    top_k: int = DEFAULT_TOP_K,
    model: str | None = None,
    nprobe: int | None = None,
    **embed_options: Any,
) -> list[SearchHit] | list[list[SearchHit]]:
    """Search ``index`` (a folder or an opened Index) for ``queries``; see Index.search."""
    opened = index if isinstance(index, Index) else open_index(index)
    return opened.search(queries, top_k, model, nprobe, **embed_options)
