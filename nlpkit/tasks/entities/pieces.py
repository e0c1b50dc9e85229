"""Token classification's pieces: words and IOB tags aligned to sub-words for training,
seqeval's entity F1 for evaluation and batch jobs, the card's usage, the starter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nlpkit.results import Entities
from nlpkit.tasks.pieces import Encoder, LabelPieces, Score

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


class EntitiesPieces(LabelPieces):
    result = Entities
    usage = (
        '```bash\nnlpkit entities --model {dir} "Angela Merkel visited Paris."\n```\n\n'
        "```python\nfrom transformers import pipeline\n\n"
        'tagger = pipeline("token-classification", model="{dir}", '
        'aggregation_strategy="simple")\n'
        'print(tagger("Angela Merkel visited Paris."))\n```\n'
    )
    starter: ClassVar[dict[str, Any]] = {
        "model": "google-bert/bert-base-cased",
        "data": {"dataset": "eriktks/conll2003", "max_length": 128},
        "training": {"learning_rate": 5e-5, "batch_size": 32},
    }

    gold_fields = ("entities", "text")
    generates = False
    warm_up_job = ("simple", ["Warm up in Paris."])
    gold_option = "label_column"
    head_suffix = "ForTokenClassification"

    def gold_scores(self, predictions, references, label_names) -> dict[str, float]:
        from nlpkit.tasks.entities.gold import span_scores

        texts = [row["text"] for row in predictions]
        found = [row["entities"] for row in predictions]
        return span_scores(texts, found, references, label_names)

    def read_rows(self, path: Path) -> list[dict[str, Any]] | None:
        from nlpkit.recipe.checks import data_suffix
        from nlpkit.tasks.entities.training import read_conll

        return read_conll(path) if data_suffix(path) == ".conll" else None

    def label_names(self, recipe: Recipe, train: Any) -> list[str]:
        from nlpkit.tasks.entities.training import tag_names
        from nlpkit.training.data import check_columns

        check_columns(train, "train", self.columns(recipe))
        return tag_names(train, recipe)

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.tasks.entities.training import tag_encoder

        return tag_encoder(recipe, tokenizer, names or [])

    def collator(self, tokenizer: Any, model: Any) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=-100)

    def scorer(self, tokenizer: Any, model: Any, named: Score | None):
        from nlpkit.tasks.entities.training import tag_scorer

        return tag_scorer(self.saved_label_names(model.config), named)


PIECES = EntitiesPieces
