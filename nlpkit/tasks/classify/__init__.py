"""Text classification: batched, length-sorted, dynamically padded inference.

Two backends give the same labels: PyTorch (transformers) and ONNX Runtime, which
needs no torch import and answers one sentence in a fraction of a second. ``auto``
runs ONNX when the model has an export that passed nlpkit's accuracy gate (the
built-in model gets one at first use; others from `nlpkit optimize`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from nlpkit.devices import use_threads
from nlpkit.errors import UsageError
from nlpkit.inputs.readers import text_list
from nlpkit.models.load import load_model, quiet_libraries
from nlpkit.models.resolve import default_model
from nlpkit.results import Classification, LabelScore
from nlpkit.tasks.onnx_choice import onnx_model_file
from nlpkit.tasks.progress import Progress, progress_bar
from nlpkit.tasks.scores import CLASSIFY_BATCH, label_names, onnx_scores, torch_scores
from nlpkit.tasks.table import BY_COMMAND

TASK = BY_COMMAND["classify"]


@quiet_libraries()
def classify(
    texts: str | Sequence[str],
    model: str | None = None,
    top_k: int = 1,
    batch_size: int = CLASSIFY_BATCH,
    device: str = "auto",
    dtype: str = "auto",
    labels: Sequence[str] | None = None,
    progress: Progress = False,
    device_map: str | None = None,
    threads: int | None = None,
    backend: str = "auto",
    candidate_labels: Sequence[str] | None = None,
    label_template: str | None = None,
) -> list[Classification]:
    """Label each text; ``top_k`` keeps the best k labels per text in ``.top``.

    ``threads``: CPU threads (default: the cores no other process keeps busy).
    ``backend``: ``auto`` (ONNX Runtime when the model has a gate-passing export, else
    PyTorch), ``torch`` or ``onnx``. ``candidate_labels``: zero-shot, the labels to choose
    from (an NLI ``model``, or an embedding model: the built-in ``minilm`` by default);
    ``label_template`` turns a label into the sentence compared (``{}``: the label).
    """
    items = text_list(texts)
    if candidate_labels is not None:
        return _zero_shot(
            items,
            candidate_labels,
            label_template,
            labels,
            model,
            top_k,
            progress,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            threads=threads,
            backend=backend,
        )
    if label_template is not None:
        raise UsageError("label_template goes with candidate_labels", param="label_template")
    name = model or default_model(TASK.command)
    names, score = _open(name, labels, device, dtype, device_map, threads, backend, len(items))
    with progress_bar(len(items), "classify", progress) as advance:
        rows = score(items, batch_size, advance)
    return [_result(text, row, names, top_k) for text, row in zip(items, rows, strict=True)]


def _zero_shot(items, candidates, template, labels, model, top_k, progress, **options):
    from nlpkit.tasks.classify.zero_shot import check_candidates, zero_shot_scores

    if labels is not None:
        raise UsageError(
            "labels names a model's own labels; candidate_labels replaces them: pass one",
            param="labels",
        )
    names = check_candidates(candidates, template)
    with progress_bar(len(items), "classify", progress) as advance:
        rows = zero_shot_scores(items, names, model, template, options, advance)
    return [_result(text, row, names, top_k) for text, row in zip(items, rows, strict=True)]


def classifier_label_names(
    model: str | None = None,
    labels: Sequence[str] | None = None,
    device: str = "auto",
    dtype: str = "auto",
    backend: str = "auto",
) -> list[str]:
    """The label names ``classify`` would report for ``model`` (to read gold label ids)."""
    name = model or default_model(TASK.command)
    return _open(name, labels, device, dtype, None, None, backend, 1)[0]


def _open(
    name: str,
    labels: Sequence[str] | None,
    device: str,
    dtype: str,
    device_map: str | None,
    threads: int | None,
    backend: str,
    count: int,
) -> tuple[list[str], Callable]:
    """The backend's label names and its scoring function (texts, batch_size, advance)."""
    onnx_file = onnx_model_file(name, backend, device, device_map)
    if onnx_file is not None:
        from nlpkit.models.backends.onnx import load_onnx

        runner = load_onnx(onnx_file, threads, count)
        names = label_names(name, runner.num_labels, runner.id2label, labels)
        return names, partial(onnx_scores, runner)
    loaded = load_model(TASK.loader, name, device, dtype, device_map=device_map)
    use_threads(threads)
    config = loaded.model.config
    names = label_names(name, config.num_labels, config.id2label, labels)
    return names, partial(torch_scores, loaded)


def _result(text: str, scores: list[float], names: list[str], top_k: int) -> Classification:
    ranked = sorted(range(len(scores)), key=lambda j: -scores[j])[: max(1, top_k)]
    top = [LabelScore(names[j], round(scores[j], 6)) for j in ranked]
    return Classification(text=text, label=top[0].label, score=top[0].score, top=top)
