"""The pieces every seq2seq task shares: source/target columns, generated text scored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlpkit.tasks.pieces import Encoder, Score, TaskPieces

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


class Seq2SeqPieces(TaskPieces):
    """Trained with Seq2SeqTrainer; evaluation generates and scores with ``score``."""

    generates_at_eval = True

    @staticmethod
    def score(predictions: list[str], references: list[str]) -> dict[str, float]:
        raise NotImplementedError

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.training.data import column

        data = recipe.data
        prefix = data.source_prefix or ""

        def encode(batch):
            sources = [prefix + str(s or "") for s in column(batch, data.source_column)]
            targets = [str(t or "") for t in column(batch, data.target_column)]
            encoded = tokenizer(sources, truncation=True, max_length=data.max_length)
            labels = tokenizer(
                text_target=targets, truncation=True, max_length=data.max_target_length
            )
            encoded["labels"] = labels["input_ids"]
            return encoded

        return encode

    def collator(self, tokenizer: Any, model: Any) -> Any:
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)

    def scorer(self, tokenizer: Any, model: Any, named: Score | None):
        from nlpkit.training.metrics import generation_scorer

        return generation_scorer(tokenizer, named or self.score)

    def gold_scores(self, predictions, references, label_names) -> dict[str, float]:
        field = self.gold_fields[0]
        return self.score([str(row[field]) for row in predictions], [str(r) for r in references])
