"""Recipe -> TrainingArguments and a Trainer (Seq2SeqTrainer with generation for seq2seq)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlpkit.devices import DeviceKind, choose_precision, detect_kind
from nlpkit.errors import DeviceError, TrainingError, first_line
from nlpkit.recipe.schema import Recipe
from nlpkit.tasks.pieces import pieces_of
from nlpkit.training.data import collator

DEFAULT_SAVE_STEPS = 500


def resolve_precision(recipe: Recipe, kind: DeviceKind | None = None) -> str:
    """fp32 / fp16 / bf16 for this machine (or ``kind``), decided by devices.choose_precision."""
    kind = kind or detect_kind(use_cpu=recipe.training.use_cpu)
    try:
        return choose_precision(recipe.training.precision, kind)
    except DeviceError as exc:
        raise DeviceError(f"training.precision: {exc}") from None


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def training_arguments(recipe: Recipe, output_dir: Path, precision: str):
    """TrainingArguments spelled for transformers 5 (warmup_steps takes a ratio < 1)."""
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    train, data = recipe.training, recipe.data
    pieces = pieces_of(recipe.task)
    best = "loss" if recipe.metric == "perplexity" else recipe.metric
    eval_strategy = train.eval_strategy if recipe.has_eval else "no"
    save_strategy = train.save_strategy or (eval_strategy if eval_strategy != "no" else "epoch")
    options: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        max_steps=train.max_steps or -1,
        learning_rate=train.learning_rate,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size or train.batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        warmup_steps=train.warmup_ratio,
        weight_decay=train.weight_decay,
        lr_scheduler_type=train.lr_scheduler_type,
        max_grad_norm=train.max_grad_norm,
        seed=train.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=train.use_cpu or (precision == "bf16" and detect_kind().type == "cpu"),  # autocast
        dataloader_pin_memory=_has_cuda() and not train.use_cpu,
        eval_strategy=eval_strategy,
        eval_steps=train.eval_steps,
        save_strategy=save_strategy,
        save_steps=train.save_steps or train.eval_steps or DEFAULT_SAVE_STEPS,
        save_total_limit=train.save_total_limit,
        logging_steps=train.logging_steps,
        load_best_model_at_end=train.load_best_model_at_end and eval_strategy != "no",
        metric_for_best_model=best,
        greater_is_better=best != "loss",
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        label_names=list(pieces.trainer_labels),
        # Every parameter of these task models takes part in the forward pass; the
        # Trainer's default (True) costs a graph traversal per step and warns per rank.
        ddp_find_unused_parameters=False,
        disable_tqdm=True,
        report_to=list(train.report_to) or "none",
        run_name=Path(recipe.output_dir).name,
    )
    if not pieces.generates_at_eval:
        return _build(TrainingArguments, options)
    options.update(
        predict_with_generate=True,
        generation_max_length=train.generation_max_length or data.max_target_length,
        generation_num_beams=train.generation_num_beams,
    )
    return _build(Seq2SeqTrainingArguments, options)


def _build(cls, options: dict[str, Any]):
    try:
        return cls(**options)
    except ValueError as exc:
        first = first_line(exc)
        raise TrainingError(f"training: inconsistent settings ({first})") from exc


def build_trainer(
    recipe: Recipe,
    model: Any,
    tokenizer: Any,
    args: Any,
    train_dataset: Any = None,
    eval_dataset: Any = None,
    callbacks: list | None = None,
    metrics: list | None = None,
):
    """The Trainer for this task, with our callbacks and the trackers the recipe names;
    scored by the task's offline metrics, or by ``metrics`` (named_metrics.load_metrics)."""
    from transformers import (
        EarlyStoppingCallback,
        PrinterCallback,
        ProgressCallback,
        Seq2SeqTrainer,
        Trainer,
    )

    callbacks = list(callbacks or [])
    if recipe.training.early_stopping_patience and args.eval_strategy != "no":
        callbacks.append(
            EarlyStoppingCallback(
                recipe.training.early_stopping_patience, recipe.training.early_stopping_threshold
            )
        )
    pieces = pieces_of(recipe.task)
    if pieces.own_training:
        trainer = pieces.own_trainer(recipe, model, args, train_dataset, eval_dataset, callbacks)
    else:
        trainer = (Seq2SeqTrainer if pieces.generates_at_eval else Trainer)(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            data_collator=collator(recipe.task, tokenizer, model),
            compute_metrics=_scorer(recipe, tokenizer, model, metrics, eval_dataset),
            callbacks=callbacks,
        )
        pieces.prepare_trainer(trainer)
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts to stdout
    if trainer.pop_callback(ProgressCallback) is not None:  # the bar is kept, on stderr
        trainer.add_callback(_bar_only())
    if trainer.model_accepts_loss_kwargs and not pieces.own_training:
        trainer.model_accepts_loss_kwargs = loss_counts_tokens(
            trainer.model, trainer.data_collator, train_dataset
        )
    return trainer


def loss_counts_tokens(model: Any, collate: Any, dataset: Any) -> bool:
    """Whether the model's loss divides by the ``num_items_in_batch`` the Trainer passes.

    The Trainer trusts any forward that takes ``**kwargs`` to divide by the token
    count of the whole step, and so multiplies the loss by the number of processes
    and skips the division by gradient_accumulation_steps. Classifiers and many
    seq2seq models (T5, BART, Marian) ignore the count and average per batch:
    their loss and gradients came out N times too large. One forward tells.
    """
    import torch

    if dataset is None or len(dataset) == 0:
        return False
    device = next(model.parameters()).device
    huge = torch.tensor(1_000_000, device=device)
    training = model.training
    model.eval()
    try:
        batch = collate([dataset[i] for i in range(min(2, len(dataset)))])
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.no_grad():
            plain, scaled = model(**batch).loss, model(**batch, num_items_in_batch=huge).loss
    except (TypeError, ValueError, RuntimeError, AttributeError):
        return False  # then the Trainer averages per batch, which is right for any model
    finally:
        model.train(training)
    return not torch.isclose(plain.float(), scaled.float(), rtol=1e-3).item()


def _scorer(recipe: Recipe, tokenizer: Any, model: Any, metrics: list | None, dataset: Any):
    from functools import partial

    from nlpkit.training.named_metrics import score

    named = partial(score, metrics) if metrics else None
    return pieces_of(recipe.task).eval_scorer(recipe, tokenizer, model, named, dataset)


def final_metrics(recipe: Recipe, trainer: Any) -> dict[str, float]:
    """The final model's eval metrics without the eval_ prefix, and what the task derives.

    An evaluation the Trainer already ran on this very model (the last step, and
    the best one when the best is kept) is reused rather than generated again.
    """
    raw = _last_evaluation(trainer) or trainer.evaluate()
    metrics = {
        key.removeprefix("eval_"): value
        for key, value in raw.items()
        if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second", "_time"))
    }
    return pieces_of(recipe.task).final_metrics(metrics)


def _last_evaluation(trainer: Any) -> dict[str, Any] | None:
    state = trainer.state
    evaluations = [row for row in state.log_history if "eval_loss" in row]
    if not evaluations or evaluations[-1].get("step") != state.global_step:
        return None
    if trainer.args.load_best_model_at_end and state.best_global_step != state.global_step:
        return None
    return evaluations[-1]


def _bar_only():
    """transformers' progress bar (stderr) without the log dicts it writes to stdout,
    which belongs to the caller's results."""
    from transformers import ProgressCallback

    class BarOnly(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs) -> None:
            return None

    return BarOnly
