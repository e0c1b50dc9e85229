"""What you trained is what you serve: the saved folder, reloaded the way ``classify``,
``entities`` and ``serve`` load it, must predict what the model predicted in training.

Peers' users keep finding that a merged or exported model answers differently from the
one they trained (a LoRA merge that went wrong, a head saved without its weights, a
tokenizer saved with other settings). The check runs the eval rows through the model
as trained (before the LoRA merge) and through the saved folder, and compares the
predicted label at every scored position (a row, a word, a target token).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import TrainingError

MAX_ROWS = 1000  # eval rows the check reads: enough to catch a broken save, quick to run
MIN_AGREEMENT = 0.999  # float noise may flip a near-tie; a broken save flips many
IGNORED = -100  # positions the loss (and so the check) skips


@dataclass
class Predictions:
    """Predicted ids at the scored positions, the mean loss, and the logits with their
    labels (for the task's own metrics)."""

    predicted: list[int]
    loss: float
    logits: list[Any]
    labels: list[Any]


def predictions(
    model: Any, rows: Any, collate: Any, batch_size: int, pieces: Any = None
) -> Predictions:
    """Forward passes over ``rows`` in eval mode, without gradients; ``pieces`` (the
    task's) say which outputs are the logits and labels."""
    import torch

    device = next(model.parameters()).device
    training = model.training
    model.eval()
    predicted, losses, logits, labels = [], [], [], []
    try:
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                batch = collate([rows[i] for i in range(start, min(start + batch_size, len(rows)))])
                batch = {key: value.to(device) for key, value in batch.items()}
                output = model(**batch)
                row_logits, row_labels = (
                    pieces.check_outputs(output, batch)
                    if pieces
                    else (output.logits, batch["labels"])
                )
                scored = row_labels != IGNORED
                predicted += row_logits.argmax(dim=-1)[scored].tolist()
                losses.append(float(output.loss))
                logits.append(row_logits.float().cpu().numpy())
                labels.append(row_labels.cpu().numpy())
    finally:
        model.train(training)
    return Predictions(predicted, sum(losses) / max(len(losses), 1), logits, labels)


def eval_rows(dataset: Any) -> Any:
    return dataset.select(range(min(len(dataset), MAX_ROWS)))


def compare_saved(
    pieces: Any, folder: Path, trained: Predictions, rows: Any, collate: Any, batch_size: int
) -> dict[str, Any]:
    """Reload ``folder`` through the inference loader and compare with ``trained``;
    TrainingError when they disagree beyond float noise."""
    from nlpkit.models.load import forget, load_model

    loaded = load_model(pieces.task.loader, str(folder), device="cpu", dtype="float32")
    try:
        saved = predictions(loaded.model, rows, collate, batch_size, pieces)
    finally:
        forget(loaded)
    same = sum(a == b for a, b in zip(trained.predicted, saved.predicted, strict=True))
    check: dict[str, Any] = {
        "rows": len(rows),
        "positions": len(saved.predicted),
        "agreement": same / max(len(saved.predicted), 1),
        "loss_trained": trained.loss,
        "loss_saved": saved.loss,
    }
    metrics = pieces.logits_metrics(loaded.model, saved.logits, saved.labels)
    if metrics is not None:  # a task scored on logits: its own metrics, both ways
        check["metrics_saved"] = metrics
        check["metrics_trained"] = pieces.logits_metrics(
            loaded.model, trained.logits, trained.labels
        )
    if check["agreement"] < MIN_AGREEMENT:
        raise TrainingError(
            f"the saved model in {folder} predicts differently from the model as trained "
            f"(agreement {check['agreement']:.2%} on {len(rows)} eval rows, loss "
            f"{trained.loss:.4f} trained vs {saved.loss:.4f} saved); the save is not what "
            "was trained: report it with the run's recipe.yaml"
        )
    return check
