"""Losses the Trainer reports: not multiplied by processes or by gradient accumulation.

transformers multiplies the loss by the number of processes, and skips the
division by gradient_accumulation_steps, for any model whose forward takes
**kwargs, trusting it to divide by ``num_items_in_batch``. Classifiers and T5,
BART, Marian do not; nlpkit probes the model once and tells the Trainer.
"""

from __future__ import annotations

import pytest

from tests.test_launch import classifier_recipe


@pytest.mark.parametrize(("name", "counts"), [("bert", False), ("t5", False), ("gpt2", True)])
def test_probe_tells_which_losses_divide_by_the_token_count(tiny, name, counts):
    import transformers

    from nlpkit.training.data import collator
    from nlpkit.training.trainer import loss_counts_tokens

    task, auto = {
        "bert": ("text-classification", transformers.AutoModelForSequenceClassification),
        "t5": ("translation", transformers.AutoModelForSeq2SeqLM),
        "gpt2": ("text-generation", transformers.AutoModelForCausalLM),
    }[name]
    model = auto.from_pretrained(tiny[name]).train()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny[name])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [tokenizer(text) for text in ("a good day", "the plot was awful")]
    for row in rows:  # the causal LM collator makes its own labels
        if task != "text-generation":
            row["labels"] = 1 if task == "text-classification" else list(row["input_ids"])
    assert loss_counts_tokens(model, collator(task, tokenizer, model), rows) is counts
    assert model.training  # the probe restores the mode it found


def test_gradient_accumulation_does_not_multiply_the_loss(tiny, tmp_path):
    from nlpkit import finetune

    path = classifier_recipe(tmp_path, tiny["bert"], group_by_length=False)
    result = finetune(path, {"training.batch_size": 4, "training.gradient_accumulation_steps": 2})
    assert 0.5 < result.train_metrics["train_loss"] < 0.9  # ln 2 = 0.69; it read 1.39 before
