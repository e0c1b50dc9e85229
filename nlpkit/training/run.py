"""recipe -> datasets -> Trainer -> metrics -> a saved run folder.

    from nlpkit import finetune
    result = finetune("recipes/sst2-minilm.yaml", overrides={"training.epochs": 1})

The recipe is validated before torch or transformers are imported, so a typo
costs milliseconds. Nothing here prints: progress goes to ``report`` as TrainEvents
(the CLI renders them), else to transformers' own bar and the "nlpkit" logger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.errors import NlpkitError, TrainingError, first_line
from nlpkit.models.safety import load_policy
from nlpkit.recipe.schema import Recipe, load_recipe, override_recipe
from nlpkit.training import outputs, tracking
from nlpkit.training.trainer import final_metrics

if TYPE_CHECKING:
    from nlpkit.training.callbacks import TrainEvent

Overrides = Sequence[str] | Mapping[str, Any] | None
Reporter = Callable[["TrainEvent"], None]
logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    """What a run produced; ``metrics`` are the final evaluation without the eval_ prefix."""

    output_dir: str
    task: str
    metrics: dict[str, float]
    train_metrics: dict[str, float]
    global_step: int
    resumed_from_step: int | None = None
    adapter_dir: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    trainable_parameters: int = 0
    total_parameters: int = 0
    precision: str = "fp32"
    already_finished: bool = False  # --resume found a finished run: read back, not trained
    # The saved folder reloaded as inference loads it, against the model as trained.
    saved_check: dict[str, Any] | None = None


def finetune(
    recipe: str | Path | Recipe,
    overrides: Overrides = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
    callbacks: list | None = None,
    report: Reporter | None = None,
) -> FinetuneResult:
    """Train as the recipe says and save the run; see nlpkit/training/outputs.py for the layout.

    ``overrides`` are ``--set`` style: ``["training.epochs=1"]`` or ``{"training.epochs": 1}``.
    ``overwrite`` replaces a previous run in output_dir; ``resume`` continues its last
    checkpoint, and on a run that already finished trains nothing and returns that run's
    result (``already_finished=True``). ``callbacks`` are extra transformers TrainerCallbacks.

    ``report`` receives a ``TrainEvent`` per step, log, evaluation and message (the CLI
    renders them). Without it, ``progress`` shows transformers' own bar and sends the
    messages to the "nlpkit" logger; ``progress=False`` is silent.
    """
    if isinstance(recipe, Recipe):
        recipe = override_recipe(recipe, overrides) if overrides else recipe
    else:
        recipe = load_recipe(recipe, overrides)
    checkpoint = outputs.check_output_dir(recipe, overwrite, resume)
    out = Path(recipe.output_dir)
    if resume and checkpoint is None:  # the recipe matches a run that already finished
        return _finished_result(out)
    # A copy goes to the libraries: recipe.yaml is written after them, and must be as given.
    say = _Say(report, progress)
    run = _prepare(recipe.model_copy(deep=True), out, say, callbacks)
    outputs.start_run_folder(recipe, resume)  # only now is a previous run replaced
    resumed = outputs.checkpoint_step(checkpoint) if checkpoint else None
    if checkpoint is not None:
        outputs.truncate_log(out / outputs.LOG_FILE, resumed)
        say(f"resuming from {checkpoint.name} (step {resumed})")
    with tracking.wandb_run_closed(recipe.training.report_to):
        train_output = _train(run.trainer, checkpoint, out, say)
        metrics = final_metrics(recipe, run.trainer) if recipe.has_eval else {}
        result = FinetuneResult(
            output_dir=str(out),
            task=recipe.task,
            metrics=metrics,
            train_metrics=dict(train_output.metrics),
            global_step=run.trainer.state.global_step,
            resumed_from_step=resumed,
            rows=run.rows,
            trainable_parameters=run.trainable,
            total_parameters=run.total,
            precision=run.precision,
        )
        _save_run(recipe, run, result)
    return result


def _finished_result(out: Path) -> FinetuneResult:
    """The result of a finished run, read back from its metrics.json."""
    import json

    try:
        summary = json.loads((out / outputs.METRICS_FILE).read_text(encoding="utf-8"))
        return FinetuneResult(
            output_dir=str(out),
            task=summary["task"],
            metrics=summary.get("metrics") or {},
            train_metrics=summary.get("train") or {},
            global_step=summary["global_step"],
            resumed_from_step=summary.get("resumed_from_step"),
            adapter_dir=str(out / outputs.ADAPTER) if (out / outputs.ADAPTER).is_dir() else None,
            rows=summary.get("rows") or {},
            trainable_parameters=summary.get("trainable_parameters", 0),
            total_parameters=summary.get("total_parameters", 0),
            precision=summary.get("precision", "fp32"),
            already_finished=True,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrainingError(
            f"--resume: the run in {out} finished but its {outputs.METRICS_FILE} cannot be read "
            f"({first_line(exc)}); pass --overwrite to train again"
        ) from exc


@dataclass
class _Run:
    trainer: Any
    tokenizer: Any
    rows: dict[str, int]
    trainable: int
    total: int
    precision: str
    mlflow_run: Any = None  # tracking.mlflow_run_recorder(), when the recipe reports to MLflow


def _prepare(recipe: Recipe, out: Path, say: _Say, callbacks: list | None) -> _Run:
    from transformers import set_seed

    from nlpkit.training import data, model, trainer
    from nlpkit.training.callbacks import JsonlLog, ReportProgress
    from nlpkit.training.named_metrics import load_metrics

    tracking.check_trackers(recipe.training.report_to)
    scorers = load_metrics(recipe.metrics) if recipe.metrics else None  # fails before the model
    precision = trainer.resolve_precision(recipe)
    raw = data.load_raw(recipe)
    names = data.label_names(recipe, raw["train"])
    # The recipe's seed covers the weights made here (a new classifier head, the LoRA
    # matrices): the Trainer seeds only when it starts, after the model exists.
    set_seed(recipe.training.seed)
    with load_policy(allow_pickle=recipe.allow_pickle):
        network, tokenizer = model.load_for_task(
            recipe.task, recipe.model, names, recipe.trust_remote_code
        )
    if recipe.lora:
        network = model.apply_lora(network, recipe)
    encoded = {
        split: data.tokenize(recipe, tokenizer, ds, split, names) for split, ds in raw.items()
    }
    args = trainer.training_arguments(recipe, out / outputs.CHECKPOINTS, precision)
    extra = [JsonlLog(out / outputs.LOG_FILE), *(callbacks or [])]
    mlflow_run = tracking.mlflow_run_recorder() if "mlflow" in recipe.training.report_to else None
    extra += [mlflow_run] if mlflow_run else []
    if say.report is not None:
        extra.append(ReportProgress(say.report, recipe.metric))
    elif say.progress:
        args.disable_tqdm = False  # no reporter: the Trainer's own bar, as in any Trainer run
    built = trainer.build_trainer(
        recipe, network, tokenizer, args, encoded["train"], encoded.get("eval"), extra, scorers
    )
    tracking.place_logs(built, out, outputs.TENSORBOARD)
    trainable, total = model.trainable_parameters(network)
    rows = {split: len(ds) for split, ds in encoded.items()}
    return _Run(built, tokenizer, rows, trainable, total, precision, mlflow_run)


def _train(trainer: Any, checkpoint: Path | None, out: Path, say: _Say):
    try:
        return trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except NlpkitError:
        raise
    except KeyboardInterrupt:
        step = trainer.state.global_step
        say(f"stopped at step {step}; {_RESUME_HINT.format(out)}", logging.WARNING)
        raise
    except Exception as exc:
        step = trainer.state.global_step
        first = first_line(exc)
        raise TrainingError(
            f"training stopped at step {step}: {type(exc).__name__}: {first}; "
            + _RESUME_HINT.format(out)
        ) from exc


_RESUME_HINT = "checkpoints are in {0}/checkpoints: continue with `nlpkit finetune RECIPE --resume`"


def _save_checked(recipe: Recipe, run: _Run) -> tuple[str | None, dict[str, Any] | None]:
    """Save the final model, then reload it as inference does and compare its predictions
    on the eval rows with the model's as trained (verify.py); (adapter folder, check)."""
    from nlpkit.tasks.pieces import pieces_of
    from nlpkit.training import verify

    trainer, out = run.trainer, Path(recipe.output_dir)
    pieces = pieces_of(recipe.task)
    if pieces.own_training:  # the task checks its own kind of model
        outputs.save_final_model(trainer.model, run.tokenizer, out, lora=False)
        return None, pieces.check_saved(trainer, out)
    rows = verify.eval_rows(trainer.eval_dataset) if trainer.eval_dataset else None
    batch, collate = trainer.args.per_device_eval_batch_size, trainer.data_collator
    pieces = pieces_of(recipe.task)
    trained = verify.predictions(trainer.model, rows, collate, batch, pieces) if rows else None
    adapter = outputs.save_final_model(trainer.model, run.tokenizer, out, bool(recipe.lora))
    check = None
    if trained is not None:
        check = verify.compare_saved(pieces, out, trained, rows, collate, batch)
    return (str(adapter) if adapter else None), check


def _save_run(recipe: Recipe, run: _Run, result: FinetuneResult) -> None:
    """Final model (atomically), metrics, card and curves; checkpoints go on success."""
    from nlpkit.training import card

    trainer, out = run.trainer, Path(recipe.output_dir)
    if not trainer.is_world_process_zero():
        return
    result.adapter_dir, result.saved_check = _save_checked(recipe, run)
    summary = {
        "task": recipe.task,
        "metrics": result.metrics,
        "train": result.train_metrics,
        "global_step": result.global_step,
        "resumed_from_step": result.resumed_from_step,
        "rows": result.rows,
        "trainable_parameters": result.trainable_parameters,
        "total_parameters": result.total_parameters,
        "precision": result.precision,
        "saved_model_check": result.saved_check,
    }
    outputs.write_json(out / outputs.METRICS_FILE, summary)
    outputs.write_text(out / outputs.CARD_FILE, card.model_card(recipe, summary))
    card.plot_curves(trainer.state.log_history, recipe.metric, out / outputs.CURVES_FILE)
    outputs.remove_checkpoints(out)
    if run.mlflow_run is not None:
        from nlpkit.training.tracking import log_artifacts

        log_artifacts(run.mlflow_run.run_id, [out / outputs.CARD_FILE, out / outputs.METRICS_FILE])


@dataclass
class _Say:
    """A run's messages: to the reporter as events, else to the logger (main process only)."""

    report: Reporter | None
    progress: bool

    def __call__(self, message: str, level: int = logging.INFO) -> None:
        if not outputs.is_main_process():
            return
        if self.report is not None:
            from nlpkit.training.callbacks import TrainEvent

            self.report(TrainEvent("message", text=message))
        elif self.progress:
            logger.log(level, message)
