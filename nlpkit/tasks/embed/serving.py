"""``POST /v1/embeddings`` (OpenAI's shape) and ``POST /v1/similarity``: the texts of every
waiting request run as one batch. With ``nlpkit serve --index DIR`` the index package adds
``/v1/search`` (the pieces' routes) over the same batched embeddings (``embed_texts``)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from nlpkit.errors import UsageError
from nlpkit.serve.batcher import Job
from nlpkit.serve.engine import split_jobs
from nlpkit.serve.limits import Limits, check_texts
from nlpkit.serve.schemas import Loose, Strict

# On a CPU a gathered batch runs as length-sorted passes of 8 texts, as classify's do
# (its serving.py: passes of 8 ran faster per text than one pass of 32).
CPU_EMBED_BATCH = 8


class EmbeddingsRequest(Loose):
    """OpenAI's embeddings body; ``user`` and other keys clients send are ignored."""

    input: str | list[str] = Field(description="A text or a list of texts to embed.")
    model: str | None = Field(None, description="Any name: the served model answers.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: lists of numbers; base64: little-endian float32 bytes."
    )
    dimensions: int | None = Field(
        None, description="Only the model's own dimension (no shortened vectors)."
    )


class SimilarityRequest(Strict):
    texts: list[str] = Field(description="Texts to compare.")
    others: list[str] | None = Field(
        None, description="Compare each text with these; default: the texts with each other."
    )


async def embed_texts(engine: Any, texts: list[str], command: str = "embed") -> Any:
    """Unit vectors of ``texts`` (a numpy array), batched with every waiting request's."""
    import numpy as np

    rows = await engine.submit(command, texts, None, len(texts))
    return np.stack([vector for vector, _ in rows])


def routes(engine: Any, limits: Limits, command: str):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsRequest) -> dict:
        given = [body.input] if isinstance(body.input, str) else body.input
        texts = check_texts(given, limits, "input")
        rows = await engine.submit(command, texts, None, len(texts))
        _check_dimensions(body.dimensions, len(rows[0][0]), engine.models[command])
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
            for i, (v, _) in enumerate(rows)
        ]
        used = sum(tokens for _, tokens in rows)
        usage = {"prompt_tokens": used, "total_tokens": used}
        return {"object": "list", "data": data, "model": engine.models[command], "usage": usage}

    @router.post("/v1/similarity")
    async def similarity(body: SimilarityRequest) -> dict:
        texts = check_texts(body.texts, limits)
        others = check_texts(body.others, limits, "others") if body.others is not None else []
        if not others and len(texts) < 2:
            raise UsageError("texts: send at least two texts to compare, or others", param="texts")
        vectors = await embed_texts(engine, texts + others, command)
        left, right = vectors[: len(texts)], vectors[len(texts) :] if others else vectors
        scores = (left @ right.T).clip(-1.0, 1.0).round(6).tolist()
        return {"model": engine.models[command], "scores": scores}

    return router


def _check_dimensions(asked: int | None, dimension: int, model: str) -> None:
    if asked is not None and asked != dimension:
        raise UsageError(
            f"dimensions={asked}: model '{model}' gives {dimension}-dimensional vectors and "
            "was not trained to be shortened; leave dimensions out",
            param="dimensions",
        )


def _encoded(vector: Any, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


def jobs(engine: Any, command: str, batch: Sequence[Job]) -> list[list]:
    """Every job's texts in one pass; each text gets (unit vector, tokens read)."""
    from nlpkit.tasks.embed import open_embedder
    from nlpkit.tasks.embed.encoders import embed_with, unit_rows

    def run(texts: list[str]) -> list:
        options = engine.run_options()
        embedder = open_embedder(
            engine.models[command], options["device"], threads=options["threads"], count=len(texts)
        )
        tokens: list[int] = []
        passes = CPU_EMBED_BATCH if embedder.on_cpu else options["batch_size"]
        vectors = embed_with(embedder, texts, passes, False, _ignore, tokens)
        return list(zip(unit_rows(vectors), tokens, strict=True))

    return split_jobs(batch, run)


def _ignore(_count: int) -> None:
    """A server's batches show no progress bar."""
