"""Sentence embeddings' pieces: what serving, batch jobs and the card ask of the task."""

from __future__ import annotations

from typing import Any, ClassVar

from nlpkit.results import Embedding
from nlpkit.tasks.pieces import TaskPieces


class EmbedPieces(TaskPieces):
    usage = (
        '```bash\nnlpkit embed --model {dir} "I love Python!"\n```\n\n'
        "```python\nfrom sentence_transformers import SentenceTransformer\n\n"
        'vectors = SentenceTransformer("{dir}").encode(["I love Python!"])\n```\n'
    )
    starter: ClassVar[dict[str, Any]] = {}
    generates = False
    vocabulary_logits = False
    serves_offline_model = True
    searches = True
    row_function = "embed_rows"
    result = Embedding
    warm_up_job = (None, ["Warm up."])


PIECES = EmbedPieces
