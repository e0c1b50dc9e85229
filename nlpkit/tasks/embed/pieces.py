"""Sentence embeddings' pieces: what serving, batch jobs and the card ask of the task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from nlpkit.results import Embedding
from nlpkit.tasks.pieces import Encoder, TaskPieces

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


class EmbedPieces(TaskPieces):
    usage = (
        '```bash\nnlpkit embed --model {dir} "I love Python!"\n```\n\n'
        "```python\nfrom sentence_transformers import SentenceTransformer\n\n"
        'vectors = SentenceTransformer("{dir}").encode(["I love Python!"])\n```\n'
    )
    starter: ClassVar[dict[str, Any]] = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "data": {
            "dataset": "sentence-transformers/stsb",
            "text_column": "sentence1",
            "text_pair_column": "sentence2",
            "label_column": "score",
        },
        "training": {"learning_rate": 2e-5, "batch_size": 16, "warmup_ratio": 0.1},
    }
    generates = False
    vocabulary_logits = False
    serves_offline_model = True
    searches = True
    row_function = "embed_rows"
    result = Embedding
    warm_up_job = (None, ["Warm up."])
    # Fine-tuning: sentence-transformers' Trainer and losses (training.py).
    own_training = True
    # `nlpkit optimize` exports a bare encoder (BertModel: no head), see owns_head.
    head_suffix = "Model"

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.tasks.embed.training import encoder

        return encoder(recipe)

    def columns(self, recipe: Recipe) -> dict[str, str]:
        """The pair's two text columns (a score column is optional: it picks the loss)."""
        data = recipe.data
        return {"text_column": data.text_column, "text_pair_column": data.text_pair_column or ""}

    def owns_head(self, architectures: list[str]) -> bool:
        """A bare encoder (``BertModel``, no task head) is what this task exports."""
        return any(
            a.endswith("Model") and "For" not in a and "LMHead" not in a for a in architectures
        )

    def routes(self, engine: Any, limits: Any) -> Any:
        """/v1/embeddings and /v1/similarity; with ``--index DIR`` also /v1/search."""
        router = super().routes(engine, limits)
        if getattr(engine.settings, "index", None):
            from nlpkit.index.serving import routes as search_routes

            router.include_router(search_routes(engine, limits))
        return router


PIECES = EmbedPieces
