"""Generation for the server: one left-padded batch of many requests, each with its own
token budget, streamed row by row, and a row stopped as soon as its client leaves.

Built from the generate task's parts (the loader, left padding, sampling options, the
chat template); what it adds is per-row bookkeeping that ``model.generate`` calls as
both its streamer and a stopping criterion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nlpkit.tasks.shared_prefix import generation_inputs

if TYPE_CHECKING:
    from nlpkit.models.load import LoadedModel
    from nlpkit.serve.batcher import Job


@dataclass(frozen=True)
class Prompt:
    """One prompt's token ids and how many new tokens it may get."""

    ids: list[int]
    max_new_tokens: int


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # stop (end of text) | length (token budget) | cancelled


class RowTracker:
    """Per-row state of one ``generate`` call: new tokens, text streamed so far, finish.

    ``generate`` hands it the prompt, then each step's new tokens (``put``), and asks it
    which rows are done (``__call__``, a stopping criterion): a row that reached its
    own budget or whose job was cancelled. When every row is done, generation stops.
    """

    def __init__(self, loaded: LoadedModel, jobs: Sequence[Job], width: int) -> None:
        self.tokenizer = loaded.tokenizer
        self.jobs = list(jobs)
        self.width = width  # the padded prompt length: what comes after it is new
        self.stop_ids = _stop_ids(loaded)
        self.tokens: list[list[int]] = [[] for _ in jobs]
        self.sent = [""] * len(jobs)
        self.finish: list[str | None] = [None] * len(jobs)

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        made = input_ids.shape[1] - self.width
        done = [
            self.finish[i] is not None
            or job.cancelled.is_set()
            or made >= job.payload.max_new_tokens
            for i, job in enumerate(self.jobs)
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def put(self, value) -> None:
        if value.dim() > 1:  # the prompt, handed over once before the first step
            return
        for i, token in enumerate(value.tolist()):
            if self.finish[i] is not None:
                continue
            if token in self.stop_ids:
                self.finish[i] = "stop"
                continue
            self.tokens[i].append(token)
            self._stream(i)
            if len(self.tokens[i]) >= self.jobs[i].payload.max_new_tokens:
                self.finish[i] = "length"

    def end(self) -> None:
        for i, job in enumerate(self.jobs):
            if self.finish[i] is None:
                self.finish[i] = "cancelled" if job.cancelled.is_set() else "length"

    def _stream(self, i: int) -> None:
        """Send row i's new text, holding back a half-decoded character."""
        if self.jobs[i].events is None:
            return
        text = self.tokenizer.decode(self.tokens[i], skip_special_tokens=True)
        if text.endswith("\ufffd") or not text.startswith(self.sent[i]):
            return
        if len(text) > len(self.sent[i]):
            self.jobs[i].emit(text[len(self.sent[i]) :])
            self.sent[i] = text

    def completions(self) -> list[Completion]:
        done = []
        for i, job in enumerate(self.jobs):
            text = self.tokenizer.decode(self.tokens[i], skip_special_tokens=True)
            if job.events is not None and text.startswith(self.sent[i]) and text != self.sent[i]:
                job.emit(text[len(self.sent[i]) :])  # what a held-back character completed
            reason = self.finish[i] or "length"
            done.append(Completion(text, len(job.payload.ids), len(self.tokens[i]), reason))
        return done


def _stop_ids(loaded: LoadedModel) -> set[int]:
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    return set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


def generate_batch(loaded: LoadedModel, jobs: Sequence[Job], sampling: dict) -> list[Completion]:
    """Run the jobs' prompts as one batch; ``sampling`` is the generate task's options."""
    import torch
    from transformers import StoppingCriteriaList

    with torch.inference_mode():
        inputs = generation_inputs(loaded, [job.payload.ids for job in jobs])
        tracker = RowTracker(loaded, jobs, inputs["input_ids"].shape[1])
        loaded.model.generate(
            **inputs,
            max_new_tokens=max(job.payload.max_new_tokens for job in jobs),
            streamer=tracker,
            stopping_criteria=StoppingCriteriaList([tracker]),
            **sampling,
        )
    return tracker.completions()
