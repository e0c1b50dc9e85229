"""Text generation's pieces: causal LM training, perplexity from the evaluation loss."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from nlpkit.results import Generation
from nlpkit.tasks.pieces import Encoder, TaskPieces

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe


class GeneratePieces(TaskPieces):
    result = Generation
    starter: ClassVar[dict[str, Any]] = {
        "model": "openai-community/gpt2",
        "data": {
            "dataset": "Salesforce/wikitext",
            "dataset_config": "wikitext-2-raw-v1",
            "max_length": 256,
        },
        "training": {"learning_rate": 5e-5, "batch_size": 8},
    }
    usage = (
        '```bash\nnlpkit generate --model {dir} "Once upon a time"\n```\n\n'
        "```python\nfrom transformers import pipeline\n\n"
        'generator = pipeline("text-generation", model="{dir}")\n```\n'
    )

    chats = True

    def warm_up(self, engine: Any) -> None:
        engine.for_prompts()  # the model, and the tokenizer copy prompts are made with

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        from nlpkit.training.data import column

        data = recipe.data

        def encode(batch):
            texts = [str(t or "") for t in column(batch, data.text_column)]
            return tokenizer(texts, truncation=True, max_length=data.max_length)

        return encode

    def keep_row(self, row: dict[str, Any]) -> bool:
        return len(row["input_ids"]) > 1  # one token predicts nothing

    def collator(self, tokenizer: Any, model: Any) -> Any:
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def final_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        return {**metrics, "perplexity": math.exp(min(metrics["loss"], 700))}

    def rows_note(self) -> str | None:
        return "an upper bound: rows of one token are dropped"


PIECES = GeneratePieces
