"""Generation for the server: one left-padded batch of many requests, each with its own
token budget, streamed row by row, and a row stopped as soon as its client leaves.

Built from the generate task's parts (the loader, left padding, sampling options, the
chat template); what it adds is per-row bookkeeping that ``model.generate`` calls as
both its streamer and a stopping criterion, and per-row stop strings (OpenAI's ``stop``):
a row ends at the first one, its text cut before it, and a stream holds back the text
that might be the start of one until it is sure.
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
    """One prompt's token ids, how many new tokens it may get, where its text stops, and
    the seed of a sampled reply (a seeded prompt runs in a batch of its own)."""

    ids: list[int]
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    seed: int | None = None


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
        self.cut: list[str | None] = [None] * len(jobs)  # the text before a stop string
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
            self._follow(i)
            if (
                self.finish[i] is None
                and len(self.tokens[i]) >= self.jobs[i].payload.max_new_tokens
            ):
                self.finish[i] = "length"

    def end(self) -> None:
        for i, job in enumerate(self.jobs):
            if self.finish[i] is None:
                self.finish[i] = "cancelled" if job.cancelled.is_set() else "length"

    def _follow(self, i: int) -> None:
        """After row i's new token: end it at a stop string; stream what is certain."""
        job = self.jobs[i]
        stops = job.payload.stop
        if job.events is None and not stops:
            return
        text = self.tokenizer.decode(self.tokens[i], skip_special_tokens=True)
        at = first_stop(text, stops)
        if at is not None:
            self.cut[i], self.finish[i] = text[:at], "stop"
            return  # the rest is sent by completions()
        if job.events is None or text.endswith("\ufffd"):  # a half-decoded character
            return
        safe = text[: len(text) - stop_prefix(text, stops)]
        if safe.startswith(self.sent[i]) and len(safe) > len(self.sent[i]):
            job.emit(safe[len(self.sent[i]) :])
            self.sent[i] = safe

    def completions(self) -> list[Completion]:
        done = []
        for i, job in enumerate(self.jobs):
            text = self.cut[i]
            if text is None:
                text = self.tokenizer.decode(self.tokens[i], skip_special_tokens=True)
            if job.events is not None and text.startswith(self.sent[i]) and text != self.sent[i]:
                job.emit(text[len(self.sent[i]) :])  # what was held back, now certain
            reason = self.finish[i] or "length"
            done.append(Completion(text, len(job.payload.ids), len(self.tokens[i]), reason))
        return done


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first stop string in ``text`` begins, if one is in it."""
    found = [at for stop in stops if (at := text.find(stop)) != -1]
    return min(found) if found else None


def stop_prefix(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of ``text`` might begin a stop string."""
    return max(
        (
            k
            for stop in stops
            for k in range(min(len(stop) - 1, len(text)), 0, -1)
            if text.endswith(stop[:k])
        ),
        default=0,
    )


def _stop_ids(loaded: LoadedModel) -> set[int]:
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    return set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


def generate_batch(loaded: LoadedModel, jobs: Sequence[Job], sampling: dict) -> list[Completion]:
    """Run the jobs' prompts as one batch; ``sampling`` is the generate task's options."""
    import torch
    from transformers import StoppingCriteriaList, set_seed

    if jobs[0].payload.seed is not None:
        set_seed(jobs[0].payload.seed)  # on this thread, just before the one job it seeds
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
