"""What the layers around a task ask of it: one ``TaskPieces`` object per task.

Training, evaluation, ``plan``, batch jobs, the server, the model card and
``recipe init`` hold no task names: they look a task up in the table and ask its
pieces (how rows become model inputs, which collator pads them, how predictions
become metrics, what the server's endpoint takes). Each task's own module
subclasses ``TaskPieces`` and overrides what differs, much as transformers'
pipelines override ``preprocess`` / ``_forward`` / ``postprocess``.

Imports nothing heavy: ``recipe init`` and ``--help`` read the plain data here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nlpkit.tasks.table import Task, task_named

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

Encoder = Callable[[dict[str, list]], dict[str, list]]  # a batched datasets.map function
Score = Callable[[list, list], dict[str, float]]  # (predictions, references) -> metrics


class TaskPieces:
    """Defaults for a task that trains on plain token ids; subclasses override the rest."""

    # Trained with Seq2SeqTrainer, evaluated on generated text (predict_with_generate).
    generates_at_eval: ClassVar[bool] = False
    # Its head predicts over the whole vocabulary (plan's activation estimate counts logits).
    vocabulary_logits: ClassVar[bool] = True
    # A usage snippet for the model card; ``{dir}`` is the saved model's folder.
    usage: ClassVar[str] = ""
    # The `recipe init` starter: model, data and training keys that differ from defaults.
    starter: ClassVar[dict[str, Any]] = {}
    # The result dataclass the task returns (nlpkit.results).
    result: ClassVar[type]
    # The result fields a batch job scores against a gold column (the prediction first;
    # none: the task has no such metrics), and the option that names the gold column.
    gold_fields: ClassVar[tuple[str, ...]] = ()
    gold_option: ClassVar[str] = "reference_column"
    # The batch keys the Trainer treats as labels (a QA head takes two: start and end).
    trainer_labels: ClassVar[tuple[str, ...]] = ("labels",)
    # The function batch jobs and the CLI call for output rows (a list of results), when
    # the Python API's function returns something else (embed returns one array).
    row_function: ClassVar[str | None] = None

    # ---- serving (nlpkit serve) ------------------------------------------------
    # A pass of this task takes a second or more (it generates): a batch waits longer
    # for company (serve/engine.py). Classifiers answer in milliseconds.
    generates: ClassVar[bool] = True
    # It serves the OpenAI-compatible chat and completions endpoints.
    chats: ClassVar[bool] = False
    # `nlpkit serve` picks the task's offline model when none is named, as its default.
    serves_offline_model: ClassVar[bool] = False
    # It embeds texts: `nlpkit serve --index DIR` answers /v1/search through it.
    searches: ClassVar[bool] = False
    # The first batch the server runs to load the model: (batch key, payload).
    warm_up_job: ClassVar[tuple[Any, Any]] = (1, ["Warm up."])
    # How a model's config names this task's head (``architectures``: BertFor...); None:
    # `nlpkit optimize` does not export this task.
    head_suffix: ClassVar[str | None] = None

    def __init__(self, task: Task) -> None:
        self.task = task

    def card_usage(self) -> str:
        """How to use a fine-tuned model, for its card: the task's own snippet, else the
        command (``{dir}`` stands for the model's folder)."""
        return self.usage or f"```bash\nnlpkit {self.task.command} --model {{dir}} TEXT\n```\n"

    # ---- training and evaluation -------------------------------------------------
    def label_names(self, recipe: Recipe, train: Any) -> list[str] | None:
        """Names for the label ids the model predicts, read from the recipe and data."""
        return None

    def saved_label_names(self, config: Any) -> list[str] | None:
        """The label names a saved model carries in its config (evaluation reads them)."""
        return None

    def model_options(self, names: list[str] | None) -> dict[str, Any]:
        """Extra ``from_pretrained`` options for the model a recipe trains (a new head)."""
        return {}

    def read_rows(self, path: Path) -> list[dict[str, Any]] | None:
        """Rows of a data file in a format this task reads itself; None: a format every
        task reads (csv, tsv, json, jsonl, parquet, txt), through datasets."""
        return None

    def columns(self, recipe: Recipe) -> dict[str, str]:
        """The data keys naming the columns this task reads, with their values."""
        from nlpkit.recipe.checks import task_columns

        return task_columns(recipe)

    def encoder(self, recipe: Recipe, tokenizer: Any, names: list[str] | None) -> Encoder:
        raise NotImplementedError(f"{self.task.name} cannot be fine-tuned")

    def keep_row(self, row: dict[str, Any]) -> bool:
        """Whether a tokenized row can train the model (a one-token row cannot, for an LM)."""
        return True

    def collator(self, tokenizer: Any, model: Any) -> Any:
        """Pads each batch to its own longest row."""
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def scorer(self, tokenizer: Any, model: Any, named: Score | None) -> Callable | None:
        """The Trainer's ``compute_metrics``; ``named`` replaces the task's own metrics."""
        return None

    def eval_scorer(
        self, recipe: Recipe, tokenizer: Any, model: Any, named: Score | None, dataset: Any
    ) -> Callable | None:
        """The Trainer's ``compute_metrics`` for the tokenized eval split ``dataset``: the
        task's ``scorer``, unless reading predictions back needs the rows themselves."""
        return self.scorer(tokenizer, model, named)

    def prepare_trainer(self, trainer: Any) -> None:
        """Changes the task makes to the Trainer built for it (none by default)."""

    def check_outputs(self, output: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
        """(logits, labels) of one batch, for the saved-model check (training/verify.py):
        positions labelled -100 are not compared."""
        return output.logits, batch["labels"]

    def logits_metrics(self, model: Any, logits: list, labels: list) -> dict[str, float] | None:
        """The task's metrics from batches of logits and labels (None: this task is
        scored on generated text or the loss, not on logits)."""
        return None

    # ---- a task trained by its own library's Trainer (its training.py module) -------
    # It loads, trains and checks its model itself: sentence-transformers for embeddings.
    own_training: ClassVar[bool] = False

    def _training(self) -> Any:
        return importlib.import_module(f"nlpkit.tasks.{self.task.module}.training")

    def training_model(self, model: str, trust_remote_code: bool) -> tuple[Any, Any]:
        """(model, tokenizer) to train, when ``own_training``."""
        return self._training().training_model(model, trust_remote_code)

    def own_trainer(
        self, recipe: Recipe, model: Any, args: Any, train: Any, evaluation: Any, callbacks: list
    ) -> Any:
        """The task's Trainer over the recipe's TrainingArguments, when ``own_training``."""
        return self._training().build_trainer(recipe, model, args, train, evaluation, callbacks)

    def check_saved(self, trainer: Any, folder: Path) -> dict[str, Any]:
        """The saved folder read back as inference reads it, against the trained model."""
        return self._training().check_saved(trainer, folder)

    def final_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Metrics derived from the evaluation's own (perplexity from the loss)."""
        return metrics

    def rows_note(self) -> str | None:
        """What `plan` says about its count of training rows, when it is only a bound."""
        return None

    def config_options(self, recipe: Recipe) -> dict[str, Any]:
        """Config changes for the model `plan` builds on the meta device (a head's size)."""
        return {}

    # ---- serving -----------------------------------------------------------------
    def _serving(self) -> Any:
        return importlib.import_module(f"nlpkit.tasks.{self.task.module}.serving")

    def routes(self, engine: Any, limits: Any) -> Any:
        """The task's endpoint(s) as a FastAPI router over the server's ``engine``."""
        return self._serving().routes(engine, limits, self.task.command)

    def serve_jobs(self, engine: Any, batch: list) -> list:
        """One gathered batch of requests (serve/batcher.py Jobs), run as one task call."""
        return self._serving().jobs(engine, self.task.command, batch)

    def warm_up(self, engine: Any) -> None:
        """Load the model before the first request (the first call of the task)."""
        from nlpkit.serve.batcher import Job

        key, payload = self.warm_up_job
        self.serve_jobs(engine, [Job(None, key, payload)])

    # ---- ONNX export (nlpkit optimize, a built-in model's first use) -------------------
    def owns_head(self, architectures: list[str]) -> bool:
        """Whether a model with these ``architectures`` (its config's) does this task."""
        return bool(self.head_suffix) and any(a.endswith(self.head_suffix) for a in architectures)

    def _onnx(self) -> Any:
        return importlib.import_module(f"nlpkit.tasks.{self.task.module}.onnx")

    def prepare_onnx(self, name: str, target: Path, data: Any, int8: bool = True) -> dict:
        """Export model ``name`` into ``target``, gate fp32 and int8 on ``data`` (a
        GateData), publish the folder; returns the gate's report."""
        return self._onnx().prepare_onnx(name, target, data, int8)

    def gate_data(self, name: str, plan: Recipe, rows: Any, source: str) -> Any:
        """The gate's labelled data (a GateData) from a recipe's eval rows."""
        return self._onnx().gate_data(name, plan, rows, source)

    def builtin_gate_data(self, path: Path) -> Any:
        """The gate's labelled data (a GateData) from the file a built-in model ships."""
        return self._onnx().builtin_gate_data(path)

    # ---- batch jobs ------------------------------------------------------------------
    def job_inputs(self, texts: list[str], extras: list[dict[str, Any]] | None) -> list:
        """What a batch job hands the task function for rows with these texts and other
        columns (``extras``; None for a warm-up call): the texts, unless the task reads
        more than one column."""
        return texts

    def gold_scores(
        self, predictions: list[dict[str, Any]], references: list, label_names: Callable
    ) -> dict[str, float]:
        """A batch job's scores: output rows (their ``gold_fields``) against the gold
        column's values; ``label_names()`` names the model's label ids."""
        raise NotImplementedError(f"{self.task.command} has no metrics against a gold column")


class LabelPieces(TaskPieces):
    """A task whose head predicts named labels (of a text, or of each token): the names
    go into the model's config, a new head is made when their number differs."""

    vocabulary_logits = False

    def saved_label_names(self, config: Any) -> list[str]:
        id2label = config.id2label or {}
        return [str(id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]

    def model_options(self, names: list[str] | None) -> dict[str, Any]:
        if not names:
            return {}
        return {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)},
            "ignore_mismatched_sizes": True,
        }

    def config_options(self, recipe: Recipe) -> dict[str, Any]:
        names = recipe.data.label_names
        return {"num_labels": len(names)} if names else {}

    def logits_metrics(self, model: Any, logits: list, labels: list) -> dict[str, float]:
        """Batches of different lengths padded to one array, as the Trainer does."""
        import numpy as np
        from transformers import EvalPrediction

        width = max(batch.shape[1] for batch in labels) if labels[0].ndim == 2 else 0
        if width:
            labels = [
                np.pad(b, ((0, 0), (0, width - b.shape[1])), constant_values=-100) for b in labels
            ]
            logits = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0))) for b in logits]
        merged = EvalPrediction(np.concatenate(logits), np.concatenate(labels))
        return self.scorer(None, model, None)(merged)


def pieces_for_head(name: str, architectures: list[str]) -> TaskPieces:
    """The pieces of the task whose head model ``name`` has (its config's
    ``architectures``), among the tasks `nlpkit optimize` exports."""
    from nlpkit.errors import UsageError
    from nlpkit.tasks.table import TASKS

    exported = [p for p in map(pieces_of, TASKS) if p.head_suffix]
    for pieces in exported:
        if pieces.owns_head(architectures):
            return pieces
    kinds = ", ".join(f"*{p.head_suffix} ({p.task.command})" for p in exported)
    raise UsageError(
        f"model '{name}' is a {architectures[0] if architectures else 'model without a head'}"
        f": nlpkit optimize exports {kinds}",
        param="model",
    )


def pieces_of(task: Task | str) -> TaskPieces:
    """The pieces of ``task`` (a Task, its HF name or its command), from its own module."""
    task = task if isinstance(task, Task) else task_named(task)
    module = importlib.import_module(f"nlpkit.tasks.{task.module}.pieces")
    return module.PIECES(task)
