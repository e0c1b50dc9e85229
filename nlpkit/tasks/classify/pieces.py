"""Text classification's pieces: label ids from the data, a new head, accuracy and F1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlpkit.errors import InputError
from nlpkit.results import Classification
from nlpkit.tasks.pieces import Encoder, LabelPieces, Score

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


class ClassifyPieces(LabelPieces):
    result = Classification
    usage = (
        '```bash\nnlpkit classify --model {dir} "I love this movie"\n```\n\n'
        "```python\nfrom transformers import pipeline\n\n"
        'classifier = pipeline("text-classification", model="{dir}")\n'
        'print(classifier("I love this movie"))\n```\n'
    )
    starter = {
        "model": "google-bert/bert-base-uncased",
        "data": {
            "dataset": "nyu-mll/glue",
            "dataset_config": "sst2",
            "text_column": "sentence",
            "label_names": ["negative", "positive"],
        },
        "training": {"learning_rate": 2e-5, "batch_size": 32},
    }
    gold_fields = ("label",)
    generates = False
    warm_up_job = (None, (["Warm up."], 1))
    gold_option = "label_column"
    head_suffix = "ForSequenceClassification"

    def label_names(self, recipe: Recipe, train: Any) -> list[str]:
        """Label names for ids 0..n-1: the recipe's, the ClassLabel's, or the values seen."""
        from nlpkit.training.data import check_columns

        data = recipe.data
        if data.label_names:
            return list(data.label_names)
        check_columns(train, "train", {"label_column": data.label_column})
        feature = train.features.get(data.label_column)
        if getattr(feature, "names", None):
            return list(feature.names)
        try:
            values = set(train.unique(data.label_column))
        except Exception as exc:  # arrow cannot compare mixed or nested values
            raise InputError(
                f"data: label column '{data.label_column}' mixes numbers and text or holds "
                "lists; use one kind (ids 0..n-1 or names) or set data.label_names"
            ) from exc
        if None in values:
            raise InputError(f"data.label_column '{data.label_column}' has empty labels")
        if all(isinstance(v, int) for v in values):
            return [f"LABEL_{i}" for i in range(max(values) + 1)]
        return sorted(str(v) for v in values)

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.training.data import column, label_encoder, texts_of

        data = recipe.data
        encode_label = label_encoder(names or [])

        def encode(batch):
            texts = [str(t) for t in texts_of(column(batch, data.text_column), data.text_column)]
            pairs = None
            if data.text_pair_column:
                pairs = [str(t or "") for t in column(batch, data.text_pair_column)]
            encoded = tokenizer(texts, pairs, truncation=True, max_length=data.max_length)
            encoded["labels"] = [encode_label(v) for v in column(batch, data.label_column)]
            return encoded

        return encode

    def scorer(self, tokenizer: Any, model: Any, named: Score | None):
        from nlpkit.training.metrics import classification_scorer

        return classification_scorer(model.config.num_labels, named)

    def gold_scores(self, predictions, references, label_names) -> dict[str, float]:
        from nlpkit.training.metrics import classification_metrics

        predictions = [str(row["label"]) for row in predictions]
        references = [str(gold) for gold in references]
        references = _named(references, set(predictions), label_names)
        return classification_metrics(predictions, references)  # type: ignore[arg-type]


def _named(golds: list[str], predicted: set[str], label_names) -> list[str]:
    """Gold labels as label names: ids (0, 1) become the model's names for them."""
    if not golds or set(golds) <= predicted or not all(g.isdigit() for g in golds):
        return golds
    names = label_names()
    return [names[int(g)] if int(g) < len(names) else g for g in golds]


PIECES = ClassifyPieces
