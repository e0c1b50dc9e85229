"""Named entities (token classification): batched windows, pipeline-compatible grouping.

Texts of any length: a text longer than the model's input is read in overlapping
windows and stitched back token by token (``windows.py``), then tokens become entities
as transformers' token-classification pipeline groups them (``aggregate.py``).
Character offsets come from the fast tokenizer and index the input text exactly. Two
backends give the same entities: PyTorch and ONNX Runtime (no torch import), which
``auto`` picks when the model has an export that passed nlpkit's gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from nlpkit.errors import ModelLoadError
from nlpkit.inputs.readers import text_list
from nlpkit.models.load import quiet_libraries
from nlpkit.models.resolve import default_model
from nlpkit.results import Entities
from nlpkit.tasks.batching import pad_batch
from nlpkit.tasks.entities.aggregate import Words, check_aggregation, entities_of, words_of
from nlpkit.tasks.entities.windows import Logits, run_windows, split
from nlpkit.tasks.progress import Progress, progress_bar
from nlpkit.tasks.scores import label_names
from nlpkit.tasks.table import BY_COMMAND

TASK = BY_COMMAND["entities"]
# windows per batch: as classify's batches, length-sorted and padded to their longest
ENTITIES_BATCH = 32


@dataclass(frozen=True)
class Tagger:
    """What either backend gives: label names, the ``tokenizers`` Tokenizer that makes
    the windows, the longest window, and the logits of a batch of windows."""

    names: list[str]
    tokenizer: Any
    max_length: int
    logits: Logits

    @property
    def words(self) -> Words:
        return words_of(self.tokenizer)


@quiet_libraries()
def entities(
    texts: str | Sequence[str],
    model: str | None = None,
    aggregation: str = "simple",
    batch_size: int = ENTITIES_BATCH,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress = False,
    device_map: str | None = None,
    threads: int | None = None,
    backend: str = "auto",
) -> list[Entities]:
    """The named entities of each text, with character offsets into it.

    ``aggregation``: how tokens become entities, as transformers' pipeline names it:
    ``simple``, ``first``, ``average``, ``max`` or ``none`` (one entry per token).
    ``threads``: CPU threads. ``backend``: ``auto`` (ONNX Runtime when the model has a
    gate-passing export, else PyTorch), ``torch`` or ``onnx``.
    """
    check_aggregation(aggregation)
    items = text_list(texts)
    name = model or default_model(TASK.command)
    tagger = open_tagger(name, device, dtype, device_map, threads, backend, len(items))
    tokens, windows = split(tagger.tokenizer, items, tagger.max_length)
    with progress_bar(len(items), "entities", progress) as advance:
        run_windows(tokens, windows, len(tagger.names), batch_size, tagger.logits, advance)
    return [
        Entities(text.text, entities_of(text, tagger.names, aggregation, tagger.words))
        for text in tokens
    ]


def open_tagger(
    name: str,
    device: str = "auto",
    dtype: str = "auto",
    device_map: str | None = None,
    threads: int | None = None,
    backend: str = "auto",
    count: int = 1,
) -> Tagger:
    """The backend that tags tokens for model ``name``: ONNX Runtime or PyTorch."""
    from nlpkit.tasks.onnx_choice import open_backend

    return open_backend(
        name, TASK.loader, backend, device, dtype, device_map, threads, count,
        onnx=partial(onnx_tagger, name),
        torch=partial(torch_tagger, name),
        check_head=partial(check_head, name),
    )  # fmt: skip


def onnx_tagger(name: str, runner: Any) -> Tagger:
    """A tagger over an ONNX Runtime session (nlpkit.models.backends.onnx)."""
    names = label_names(name, runner.num_labels, runner.id2label)
    return Tagger(names, runner.tokenizer, runner.max_length, runner.logits)


def torch_tagger(name: str, loaded: Any) -> Tagger:
    """A tagger over a loaded transformers model, whose fast tokenizer gives offsets."""
    from nlpkit.tasks.onnx_choice import fast_tokenizer

    tokenizer = fast_tokenizer(name, TASK.command, loaded)
    config = loaded.model.config
    names = label_names(name, config.num_labels, config.id2label)
    return Tagger(names, tokenizer, loaded.max_input_tokens, _torch_logits(loaded))


def _torch_logits(loaded) -> Callable[[list[list[int]]], Any]:
    import torch

    def logits(rows: list[list[int]]):
        with torch.inference_mode():
            return loaded.model(**pad_batch(loaded, rows)).logits.float().cpu().numpy()

    return logits


def check_head(name: str, architectures: list[str]) -> None:
    """A sentence classifier or a bare encoder would tag tokens with a random new head."""
    if architectures and not any(a.endswith("ForTokenClassification") for a in architectures):
        raise ModelLoadError(
            f"model '{name}' is a {architectures[0]}, not a token classifier (it has no "
            "token-classification head); pick a model fine-tuned for named entities, "
            "e.g. dslim/bert-base-NER, or fine-tune one (task: token-classification)"
        )
