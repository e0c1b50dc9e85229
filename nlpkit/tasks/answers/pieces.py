"""Question answering's pieces: windows with answer positions for training, spans read
back from start/end logits and scored as the SQuAD v1.1 script scores them, the card's
usage, the starter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from nlpkit.results import Answer
from nlpkit.tasks.pieces import Encoder, TaskPieces

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


class AnswerPieces(TaskPieces):
    result = Answer
    vocabulary_logits = False
    usage = (
        '```bash\nnlpkit answer --model {dir} "Who wrote Hamlet?" '
        '--context "Hamlet is a tragedy by William Shakespeare."\n```\n\n'
        "```python\nfrom transformers import pipeline\n\n"
        'reader = pipeline("question-answering", model="{dir}")\n'
        'print(reader(question="Who wrote Hamlet?", '
        'context="Hamlet is a tragedy by William Shakespeare."))\n```\n'
    )
    starter: ClassVar[dict[str, Any]] = {
        "model": "google-bert/bert-base-uncased",
        "data": {"dataset": "rajpurkar/squad", "max_length": 384, "stride": 128},
        "training": {"learning_rate": 3e-5, "batch_size": 12, "epochs": 2},
    }
    trainer_labels = ("start_positions", "end_positions")
    gold_fields = ("answer",)
    gold_option = "answers_column"
    generates = False
    head_suffix = "ForQuestionAnswering"

    warm_up_job = ((1, 384, 128, 30, False, 0.0), [("Warm up?", "Warm up.")])

    def gold_scores(self, predictions, references, label_names) -> dict[str, float]:
        from nlpkit.tasks.answers.gold import answer_scores

        return answer_scores([row["answer"] for row in predictions], references)

    def job_inputs(self, texts: list[str], extras: list[dict[str, Any]] | None) -> list:
        """Rows: the question and the other columns (the context among them, as
        ``answer``'s ``context_column`` names it); a warm-up reads its own text."""
        if extras is None:
            return [(text, text) for text in texts]
        return [{**extra, "question": text} for text, extra in zip(texts, extras, strict=True)]

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.tasks.answers.training import answer_encoder

        return answer_encoder(recipe, tokenizer)

    def collator(self, tokenizer: Any, model: Any) -> Any:
        """Pads each batch to its longest window; what evaluation keeps per window
        (offsets, context, gold answers) never reaches the model."""
        from nlpkit.tasks.answers.training import KEPT

        pad = super().collator(tokenizer, model)

        def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
            return pad([{k: v for k, v in row.items() if k not in KEPT} for row in rows])

        return collate

    def eval_scorer(self, recipe: Recipe, tokenizer: Any, model: Any, named, dataset: Any):
        from nlpkit.tasks.answers.training import answer_scorer

        return answer_scorer(recipe, dataset, named) if dataset is not None else None

    def prepare_trainer(self, trainer: Any) -> None:
        """Evaluation reads each question's windows back by their place in the eval set:
        the Trainer's length grouping (group_by_length) must not reorder them there."""
        from torch.utils.data import SequentialSampler

        def in_order(dataset: Any) -> Any:
            return SequentialSampler(dataset) if dataset is not None else None

        trainer._get_eval_sampler = in_order

    def check_outputs(self, output: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
        """The start and end token each window predicts, against its labelled ones."""
        import torch

        logits = torch.stack([output.start_logits, output.end_logits], dim=1)
        labels = torch.stack([batch["start_positions"], batch["end_positions"]], dim=1)
        return logits, labels

    def rows_note(self) -> str | None:
        return "a context longer than data.max_length adds a window per stride"


PIECES = AnswerPieces
