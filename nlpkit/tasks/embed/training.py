"""Fine-tuning sentence embeddings with sentence-transformers' own Trainer and losses.

The rows decide the loss, as in sentence-transformers' training overview:

- pairs with a score (``text_column``, ``text_pair_column``, ``label_column``, e.g.
  STS-B's 0-5 gold similarity): ``CosineSimilarityLoss`` (scores above 1 are read on
  a 0-5 scale and divided by 5);
- no score column in the data: (anchor, positive) pairs, plus a ``negative`` column
  when the file has one, train ``MultipleNegativesRankingLoss`` (in-batch negatives;
  batches never hold one text twice).

Scored evaluation pairs are scored as the STS benchmark is: Spearman and Pearson
correlations of the cosine with the gold score (``EmbeddingSimilarityEvaluator``),
reported as ``spearman`` and ``pearson``. nlpkit's recipe, resume, tracking and tune
machinery drive the run; the saved folder is a sentence-transformers folder that
``nlpkit embed`` (and ``SentenceTransformer(folder)``) read back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.errors import InputError, TrainingError

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

SCORE = "score"
PAIR = ("sentence1", "sentence2")
TRIPLET = ("anchor", "positive", "negative")
NEGATIVE_COLUMN = "negative"  # an input column of this name adds hard negatives
STS_SCALE = 5.0
CHECK_ROWS = 500  # eval sentences the saved-folder check embeds both ways
MIN_COSINE = 0.999


def encoder(recipe: Recipe) -> Callable[[dict[str, list]], dict[str, list]]:
    """Rows -> the columns sentence-transformers reads, in its order (inputs, then score)."""
    data = recipe.data

    def encode(batch: dict[str, list]) -> dict[str, list]:
        first = _texts(batch, data.text_column)
        second = _texts(batch, data.text_pair_column or "")
        if data.label_column in batch:
            return {PAIR[0]: first, PAIR[1]: second, SCORE: _scores(batch[data.label_column])}
        rows = {TRIPLET[0]: first, TRIPLET[1]: second}
        if NEGATIVE_COLUMN in batch:
            rows[TRIPLET[2]] = _texts(batch, NEGATIVE_COLUMN)
        return rows

    return encode


def _texts(batch: dict[str, list], name: str) -> list[str]:
    if name not in batch:
        raise InputError(
            f"data: no column '{name}'; sentence pairs need data.text_column and "
            "data.text_pair_column",
            param="data.text_pair_column",
        )
    values = batch[name]
    if any(not isinstance(v, str) or not v.strip() for v in values):
        raise InputError(f"data: a row has no text in column '{name}'; fill or drop it")
    return values


def _scores(values: list) -> list[float]:
    """Gold similarities as 0-1 (STS-B's 0-5 divided by 5)."""
    try:
        scores = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InputError("data: the score column holds values that are not numbers") from None
    if any(s < 0 or s > STS_SCALE for s in scores):
        raise InputError(f"data: scores must lie in 0-1 or 0-{STS_SCALE:g}")
    return [s / STS_SCALE for s in scores] if any(s > 1 for s in scores) else scores


def training_model(model: str, trust_remote_code: bool) -> tuple[Any, Any]:
    """(SentenceTransformer, its tokenizer); a plain encoder gets mean pooling."""
    from sentence_transformers import SentenceTransformer

    from nlpkit.models.resolve import resolve_model
    from nlpkit.recipe.checks import resolve_model_reference

    source = resolve_model(resolve_model_reference(model))
    where = str(source.path) if source.is_local_folder else model
    loaded = SentenceTransformer(where, trust_remote_code=trust_remote_code, device="cpu")
    return loaded, loaded.tokenizer


def build_trainer(
    recipe: Recipe, model: Any, args: Any, train: Any, evaluation: Any, callbacks: list
) -> Any:
    """sentence-transformers' Trainer over the recipe's TrainingArguments, with the loss
    the rows call for and the STS evaluator when the eval pairs are scored."""
    from sentence_transformers import SentenceTransformerTrainingArguments, losses
    from sentence_transformers.training_args import BatchSamplers

    scored = SCORE in train.column_names
    values = {f.name: getattr(args, f.name) for f in fields(args) if f.init}
    values["label_names"] = []  # its collator passes return_loss: the loss needs no labels
    if not scored:  # one text twice in a batch would be its own negative
        values["batch_sampler"] = BatchSamplers.NO_DUPLICATES
    st_args = SentenceTransformerTrainingArguments(**values)
    loss = (
        losses.CosineSimilarityLoss(model) if scored else losses.MultipleNegativesRankingLoss(model)
    )
    evaluator = _evaluator(evaluation) if evaluation is not None else None
    return _trainer_class()(
        model=model,
        args=st_args,
        train_dataset=train,
        eval_dataset=evaluation,
        loss=loss,
        evaluator=evaluator,
        callbacks=callbacks,
    )


def _evaluator(evaluation: Any) -> Any:
    if SCORE not in evaluation.column_names:
        return None
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    return EmbeddingSimilarityEvaluator(
        evaluation[PAIR[0]],
        evaluation[PAIR[1]],
        evaluation[SCORE],
        name="",
        similarity_fn_names=["cosine"],
    )


def _trainer_class() -> type:
    """SentenceTransformerTrainer whose evaluations name the correlations as the task's
    metrics (``eval_spearman``), so best-model selection and reports read them."""
    from sentence_transformers import SentenceTransformerTrainer

    class Trainer(SentenceTransformerTrainer):
        def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
            output = super().evaluation_loop(*args, **kwargs)
            for key in list(output.metrics):
                if key.endswith(("_spearman_cosine", "_pearson_cosine")):
                    output.metrics[key.removesuffix("_cosine")] = output.metrics.pop(key)
            return output

    return Trainer


def check_saved(trainer: Any, folder: Path) -> dict[str, Any]:
    """The saved folder read back by nlpkit.embed must give the vectors the trained model
    gives (cosine >= MIN_COSINE on the eval sentences); TrainingError otherwise."""
    import numpy as np

    from nlpkit.tasks.embed import embed

    rows = trainer.eval_dataset or trainer.train_dataset
    texts = list(rows[rows.column_names[0]][:CHECK_ROWS])
    trained = trainer.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    saved = embed(texts, model=str(folder), backend="torch", device="cpu")
    cosines = np.sum(trained * saved, axis=1)
    check: dict[str, Any] = {
        "rows": len(texts),
        "mean_cosine": float(cosines.mean()),
        "min_cosine": float(cosines.min()),
    }
    check["summary"] = (
        f"This folder, read back by `nlpkit embed`, gives the vectors the model gave in "
        f"training: cosine {check['mean_cosine']:.6f} on average (lowest "
        f"{check['min_cosine']:.6f}) over {len(texts)} eval sentences."
    )
    if check["min_cosine"] < MIN_COSINE:
        raise TrainingError(
            f"the saved model in {folder} embeds differently from the model as trained "
            f"(lowest cosine {check['min_cosine']:.4f} on {len(texts)} eval sentences); "
            "report it with the run's recipe.yaml"
        )
    return check
