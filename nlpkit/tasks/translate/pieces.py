"""Translation's pieces: seq2seq training, scored with sacreBLEU and chrF."""

from __future__ import annotations

from typing import Any, ClassVar

from nlpkit.results import Translation
from nlpkit.tasks.seq2seq_pieces import Seq2SeqPieces


class TranslatePieces(Seq2SeqPieces):
    result = Translation
    starter: ClassVar[dict[str, Any]] = {
        "model": "Helsinki-NLP/opus-mt-en-ro",
        "data": {
            "dataset": "wmt/wmt16",
            "dataset_config": "ro-en",
            "source_column": "translation.en",
            "target_column": "translation.ro",
        },
        "training": {"learning_rate": 5e-5, "batch_size": 16},
    }
    usage = '```bash\nnlpkit translate --model {dir} "Hello, world"\n```\n'
    gold_fields = ("translation",)
    warm_up_job = (("en", "de", 1), ["Warm up."])

    @staticmethod
    def score(predictions: list[str], references: list[str]) -> dict[str, float]:
        from nlpkit.training.metrics import bleu_chrf

        return bleu_chrf(predictions, references)


PIECES = TranslatePieces
