"""Sentence embeddings' pieces: what serving, batch jobs and the card ask of the task."""

from __future__ import annotations

from pathlib import Path
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

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.tasks.embed.training import encoder

        return encoder(recipe)

    def columns(self, recipe: Recipe) -> dict[str, str]:
        """The pair's two text columns (a score column is optional: it picks the loss)."""
        data = recipe.data
        return {"text_column": data.text_column, "text_pair_column": data.text_pair_column or ""}

    def prepare_onnx(
        self, name: str, target: Path, int8: bool = True, eval_data: Path | None = None
    ) -> dict:
        """`nlpkit optimize` for an embedding model: export, gate on STS pairs (``eval_data``:
        a tsv with sentence1, sentence2, score; default the STS-B validation nlpkit ships)."""
        from nlpkit.models.builtin import BUILTIN_MODELS
        from nlpkit.tasks.embed.onnx import builtin_sts_data, prepare_onnx, sts_gate_data

        shipped = BUILTIN_MODELS[self.task.offline_model or ""]
        data = sts_gate_data(Path(eval_data)) if eval_data else builtin_sts_data(shipped)
        return prepare_onnx(name, Path(target), data, int8)

    def routes(self, engine: Any, limits: Any) -> Any:
        """/v1/embeddings and /v1/similarity; with ``--index DIR`` also /v1/search."""
        router = super().routes(engine, limits)
        if getattr(engine.settings, "index", None):
            from nlpkit.index.serving import routes as search_routes

            router.include_router(search_routes(engine, limits))
        return router


PIECES = EmbedPieces
