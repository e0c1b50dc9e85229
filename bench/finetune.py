"""nlpkit finetune against a plain run_glue-style Trainer script, side by side, in one run.

Same model (all-MiniLM-L6-v2 with a new 2-label head), same SST-2 training rows,
same hyper-parameters (full fine-tune, batch 32, lr 5e-5, warmup 6%, weight decay
0.01, seed 42, 1 epoch, no evaluation). The baseline pads every row to
max_length 128 as run_glue does by default; nlpkit pads each batch to its own
longest row and groups similar lengths. Prints training samples/s (Trainer's
own count, model loading excluded), wall time end to end, and the ratio.

Run: python bench/finetune.py [--rows 1000] [--lora]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import DATA, ROOT, minilm_folder, timed

HYPER = {"batch_size": 32, "learning_rate": 5e-5, "warmup_ratio": 0.06, "weight_decay": 0.01}
MAX_LENGTH = 128


def write_slice(rows: int, folder: Path) -> Path:
    """The first ``rows`` SST-2 training rows, as the TSV both runs read."""
    source = DATA / "sst2" / "train.tsv"
    if not source.exists():
        raise SystemExit(f"bench needs {source} (GLUE SST-2); it is absent here")
    lines = source.read_text(encoding="utf-8").splitlines()[: rows + 1]
    target = folder / "train.tsv"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def run_glue_style(train_file: Path, output_dir: Path) -> dict:
    """What run_glue.py does by default: pad to max_length, random order, plain Trainer."""
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    set_seed(42)
    data = datasets.load_dataset(
        "csv", data_files={"train": str(train_file)}, delimiter="\t", quoting=3, split="train"
    )
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    model = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2)

    def preprocess(batch):
        return tokenizer(
            batch["sentence"], padding="max_length", max_length=MAX_LENGTH, truncation=True
        )

    data = data.map(preprocess, batched=True, remove_columns=["sentence"])
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
        train_dataset=data,
        processing_class=tokenizer,
        data_collator=default_data_collator,
    )
    trainer.remove_callback(PrinterCallback)  # keep the report readable; no effect on speed
    return trainer.train().metrics


def nlpkit_run(train_file: Path, output_dir: Path, lora: bool) -> dict:
    """recipes/sst2-minilm.yaml with the same data and hyper-parameters (LoRA off unless asked)."""
    from nlpkit import finetune

    overrides = {
        "data.train_file": str(train_file),
        "data.eval_file": None,
        "training.epochs": 1,
        "training.eval_strategy": "no",
        "training.load_best_model_at_end": False,
        "training.logging_steps": 1000,
        "output_dir": str(output_dir),
        **{f"training.{key}": value for key, value in HYPER.items()},
    }
    if not lora:
        overrides["lora"] = None
    recipe = ROOT / "recipes" / "sst2-minilm.yaml"
    return finetune(recipe, overrides=overrides, progress=False).train_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000, help="SST-2 training rows to use")
    parser.add_argument("--lora", action="store_true", help="also time the recipe's LoRA run")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging

    logging.set_verbosity_error()
    scratch = Path(tempfile.mkdtemp(prefix="nlpkit-bench-finetune-"))
    train_file = write_slice(args.rows, scratch)
    runs = {
        "run_glue-style (pad to 128)": lambda: run_glue_style(train_file, scratch / "glue"),
        "nlpkit finetune": lambda: nlpkit_run(train_file, scratch / "nlpkit", lora=False),
    }
    if args.lora:
        runs["nlpkit finetune + LoRA r=16"] = lambda: nlpkit_run(
            train_file, scratch / "lora", lora=True
        )
    results = {name: timed(run) for name, run in runs.items()}

    print(
        f"{args.rows} SST-2 training rows, all-MiniLM-L6-v2, 1 epoch, batch 32, "
        f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"{'run':30} {'train samples/s':>16} {'train s':>8} {'wall s':>7} {'loss':>7}")
    for name, (metrics, wall) in results.items():
        print(
            f"{name:30} {metrics['train_samples_per_second']:16.1f} "
            f"{metrics['train_runtime']:8.1f} {wall:7.1f} {metrics['train_loss']:7.4f}"
        )
    base = results["run_glue-style (pad to 128)"][0]["train_samples_per_second"]
    mine = results["nlpkit finetune"][0]["train_samples_per_second"]
    print(f"nlpkit / run_glue-style, training samples/s: {mine / base:.2f}x")


if __name__ == "__main__":
    main()
