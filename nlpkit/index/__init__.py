"""Semantic search: embed a corpus once into an index folder, then find rows by meaning.

    from nlpkit.index import build_index, search
    build_index("corpus.parquet", "myindex/", text_column="text")
    for hit in search("myindex/", "a film about friendship", top_k=5):
        print(hit.rank, hit.score, hit.text)

The vectors live in a FAISS index (exact below ``APPROX_FROM`` rows, IVF above),
the rows in parquet, both described by a manifest (nlpkit/index/manifest.py).
Nothing heavy is imported until a function runs.
"""

from __future__ import annotations

from nlpkit.index.build import IndexResult, add_to_index, build_index
from nlpkit.index.query import Index, SearchHit, open_index, search

__all__ = [
    "Index",
    "IndexResult",
    "SearchHit",
    "add_to_index",
    "build_index",
    "open_index",
    "search",
]
