"""nlpkit finetune on CoNLL-2003 against a plain run_ner.py-style Trainer, side by side.

Same model (all-MiniLM-L6-v2 with a new 9-label tagging head), same training sentences
(the first --rows of recipes/data/conll2003/train.jsonl.gz), same hyper-parameters
(full fine-tune, batch 32, lr 1e-4, warmup 6%, weight decay 0.01, seed 42, 1 epoch,
no evaluation), both padding each batch to its own longest row as run_ner.py does
(DataCollatorForTokenClassification) and labelling each word's first sub-word.
nlpkit also groups sentences of similar length. Prints training samples/s (the
Trainer's own count, model loading excluded), wall time end to end, and the ratio.

Run: python bench/finetune_entities.py [--rows 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

from _common import DATA, ROOT, minilm_folder, timed

HYPER = {"batch_size": 32, "learning_rate": 1e-4, "warmup_ratio": 0.06, "weight_decay": 0.01}
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
MAX_LENGTH = 128


def write_slice(rows: int, folder: Path) -> Path:
    """The first ``rows`` CoNLL-2003 training sentences, as the JSON lines both runs read."""
    with gzip.open(DATA / "conll2003" / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(rows), handle, strict=False)]
    target = folder / "train.jsonl"
    target.write_text("".join(lines), encoding="utf-8")
    return target


def run_ner_style(train_file: Path, output_dir: Path) -> dict:
    """What run_ner.py does: first sub-word labelled, dynamic padding, plain Trainer."""
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(42)
    rows = [json.loads(line) for line in train_file.read_text(encoding="utf-8").splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    ids = {tag: i for i, tag in enumerate(TAGS)}
    model = AutoModelForTokenClassification.from_pretrained(
        minilm_folder(), num_labels=len(TAGS), id2label=dict(enumerate(TAGS)), label2id=ids
    )
    features = []
    for row in rows:
        encoded = tokenizer(
            row["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_LENGTH
        )
        previous, labels = None, []
        for word in encoded.word_ids():
            first = word is not None and word != previous
            labels.append(ids[row["ner_tags"][word]] if first else -100)
            previous = word
        features.append({**encoded, "labels": labels})
    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=1,
        per_device_train_batch_size=HYPER["batch_size"],
        learning_rate=HYPER["learning_rate"],
        warmup_steps=HYPER["warmup_ratio"],
        weight_decay=HYPER["weight_decay"],
        seed=42,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_steps=1000,
        dataloader_pin_memory=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=features,
        processing_class=tokenizer,
        data_collator=DataCollatorForTokenClassification(tokenizer),
    )
    trainer.remove_callback(PrinterCallback)
    return trainer.train().metrics


def nlpkit_run(train_file: Path, output_dir: Path) -> dict:
    """recipes/conll2003-minilm.yaml with the same data and hyper-parameters, LoRA off."""
    from nlpkit import finetune

    overrides = {
        "data.train_file": str(train_file),
        "data.eval_file": None,
        "lora": None,
        "training.epochs": 1,
        "training.eval_strategy": "no",
        "training.save_strategy": "no",
        "training.load_best_model_at_end": False,
        "training.logging_steps": 1000,
        "output_dir": str(output_dir),
        **{f"training.{key}": value for key, value in HYPER.items()},
    }
    recipe = ROOT / "recipes" / "conll2003-minilm.yaml"
    return finetune(recipe, overrides=overrides, progress=False).train_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000, help="CoNLL-2003 training sentences")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging

    logging.set_verbosity_error()
    scratch = Path(tempfile.mkdtemp(prefix="nlpkit-bench-ner-"))
    train_file = write_slice(args.rows, scratch)
    runs = {
        "run_ner-style Trainer": lambda: run_ner_style(train_file, scratch / "plain"),
        "nlpkit finetune": lambda: nlpkit_run(train_file, scratch / "nlpkit"),
    }
    results = {name: timed(run) for name, run in runs.items()}
    print(
        f"{args.rows} CoNLL-2003 training sentences, all-MiniLM-L6-v2, 1 epoch, batch 32, "
        f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"{'run':24} {'train samples/s':>16} {'train s':>8} {'wall s':>7} {'loss':>7}")
    for name, (metrics, wall) in results.items():
        print(
            f"{name:24} {metrics['train_samples_per_second']:16.1f} "
            f"{metrics['train_runtime']:8.1f} {wall:7.1f} {metrics['train_loss']:7.4f}"
        )
    base, ours = (metrics["train_samples_per_second"] for metrics, _ in results.values())
    print(f"ratio nlpkit / run_ner-style: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
