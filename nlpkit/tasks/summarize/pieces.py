"""Summarization's pieces: seq2seq training, scored with ROUGE."""

from __future__ import annotations

from typing import Any, ClassVar

from nlpkit.results import Summary
from nlpkit.tasks.seq2seq_pieces import Seq2SeqPieces


class SummarizePieces(Seq2SeqPieces):
    result = Summary
    starter: ClassVar[dict[str, Any]] = {
        "model": "google-t5/t5-small",
        "data": {
            "dataset": "EdinburghNLP/xsum",
            "source_column": "document",
            "target_column": "summary",
            "source_prefix": "summarize: ",
            "max_length": 512,
            "max_target_length": 64,
        },
        "training": {"learning_rate": 3e-4, "batch_size": 8},
    }
    usage = "```bash\nnlpkit summarize --model {dir} article.txt\n```\n"
    gold_fields = ("summary",)
    serves_offline_model = True

    @staticmethod
    def score(predictions: list[str], references: list[str]) -> dict[str, float]:
        from nlpkit.training.metrics import rouge

        return rouge(predictions, references)


PIECES = SummarizePieces
