"""``POST /v1/search`` for ``nlpkit serve --index DIR``: queries embedded in the server's
batches (with every waiting request's texts), then looked up in the memory-mapped index.

The index is opened once when the server starts; its model must be the one the server
embeds with (vectors of two models do not compare), else the server refuses to start.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from pydantic import Field

from nlpkit.index.models import check_model, model_name
from nlpkit.index.query import DEFAULT_TOP_K, Index, check_top_k
from nlpkit.serve.limits import Limits, check_texts
from nlpkit.serve.schemas import Strict


class SearchRequest(Strict):
    query: str | list[str] = Field(description="A query, or a list of queries.")
    top_k: int = Field(DEFAULT_TOP_K, description="Rows per query, best first.")
    nprobe: int | None = Field(
        None, description="IVF cells scanned per query (default: calibrated at build)."
    )


def routes(engine: Any, limits: Limits):
    """The /v1/search router over the index in ``engine.settings.index``."""
    from fastapi import APIRouter

    from nlpkit.tasks.embed.serving import embed_texts
    from nlpkit.tasks.pieces import pieces_of

    command = next(name for name in engine.models if pieces_of(name).searches)
    index = Index(engine.settings.index)
    served = engine.models[command]
    check_model(index.manifest.model, model_name(served), index.folder)
    router = APIRouter()

    @router.post("/v1/search")
    async def search(body: SearchRequest) -> dict:
        queries = [body.query] if isinstance(body.query, str) else body.query
        check_top_k(body.top_k)
        texts = check_texts(queries, limits, "query")
        vectors = await embed_texts(engine, texts, command)
        found = await asyncio.to_thread(index.search_vectors, vectors, body.top_k, body.nprobe)
        results = [
            {"query": query, "hits": [asdict(hit) for hit in hits]}
            for query, hits in zip(texts, found, strict=True)
        ]
        return {
            "model": served,
            "index": str(index.folder),
            "count": index.manifest.count,
            "results": results,
        }

    return router
