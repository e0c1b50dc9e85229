"""What a server holds: one model per task, one batcher per model, and the task calls
behind each endpoint. Serving is one more face over the task table: the endpoints run
the same task functions as the CLI and the Python API, on batches of requests.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from nlpkit.errors import UsageError
from nlpkit.serve.batcher import Batcher, Job
from nlpkit.serve.generation import Completion, Prompt
from nlpkit.tasks.pieces import pieces_of
from nlpkit.tasks.table import TASKS, task_named

COMMANDS = tuple(task.command for task in TASKS)
TASK_LOADERS = {task.command: task.loader for task in TASKS}


# How long a batch waits for company after its first request, when not set. A classifier
# pass takes milliseconds, so it waits little. A generation batch runs for a second or
# more, so a longer wait costs a lone request about 2% and keeps a burst together: the
# requests of 16 clients starting at once reached the queue over 11-13 ms
# (bench/serve.py), and a 5 ms window cut them into two batches, the second waiting for
# the whole first.
CLASSIFY_WAIT_MS = 5.0
GENERATION_WAIT_MS = 20.0


@dataclass(frozen=True)
class Settings:
    """How the models run: device, CPU threads, and the batching bounds."""

    device: str = "auto"
    threads: int | None = None
    max_batch: int = 32  # rows (texts or prompts) in one forward pass
    max_wait_ms: float | None = None  # None: CLASSIFY_WAIT_MS or GENERATION_WAIT_MS
    max_queue: int | None = None  # rows waiting per model; None: batcher.QUEUE_BATCHES batches
    index: str | None = None  # a vector index folder (nlpkit index build) /v1/search answers from


def choose_models(
    tasks: Sequence[str] = (), models: dict[str, str] | None = None
) -> dict[str, str]:
    """command -> model for each task to serve. No ``tasks``: every task with a model
    given in ``models`` or a built-in model installed (so it works offline)."""
    from nlpkit.models.builtin import BUILTIN_MODELS
    from nlpkit.models.resolve import default_model

    models = dict(models or {})
    for name in [*tasks, *models]:
        if name not in COMMANDS:
            raise UsageError(f"unknown task '{name}'; serve one of {', '.join(COMMANDS)}")
    commands = [task_named(name).command for name in tasks] or [
        task.command
        for task in TASKS
        if task.command in models
        or (
            task.offline_model in BUILTIN_MODELS
            and BUILTIN_MODELS[task.offline_model].source_path() is not None
        )
    ]
    extra = sorted(set(models) - set(commands))
    if extra:
        raise UsageError(
            f"a model is given for {', '.join(extra)}, which is not served; add it with --task",
            param="model",
        )
    if not commands:
        raise UsageError(
            "no task has a model available offline; name one, e.g. "
            "--task classify --model classify=./my-model",
            param="task",
        )
    chosen = {}
    for command in commands:
        task = task_named(command)
        if command not in models and "{" in task.default_model:  # a per-language template
            example = task.default_model.format(src="en", tgt="de")
            raise UsageError(
                f"{command} needs its model named, e.g. --model {command}={example}",
                param="model",
            )
        offline = task.offline_model if pieces_of(task).serves_offline_model else None
        chosen[command] = models.get(command) or offline or default_model(command)
    return chosen


class Engine:
    """The served models and their batchers; each method awaits its share of a batch."""

    def __init__(self, models: dict[str, str], settings: Settings | None = None) -> None:
        self.models = dict(models)
        self.settings = settings or Settings()
        self.pieces = {command: pieces_of(command) for command in self.models}
        self.batchers = {
            name: Batcher(
                name, self.settings.max_batch, self._wait_ms(name) / 1000, self.settings.max_queue
            )
            for name in set(models.values())
        }
        self._prompt_side = None  # the causal model with a tokenizer of its own, for prompts
        self._runners: dict[str, Callable] = {
            command: partial(pieces.serve_jobs, self) for command, pieces in self.pieces.items()
        }

    def _wait_ms(self, model: str) -> float:
        """The batching wait for ``model``: as set, else by whether it generates."""
        if self.settings.max_wait_ms is not None:
            return self.settings.max_wait_ms
        served = [self.pieces[command] for command, name in self.models.items() if name == model]
        generates = any(pieces.generates for pieces in served)
        return GENERATION_WAIT_MS if generates else CLASSIFY_WAIT_MS

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    def load(self, on_loaded: Callable[[str, str, float], None] | None = None) -> None:
        """Load every model once (a first call of each task), reporting the seconds each took."""
        for command, model in self.models.items():
            start = time.perf_counter()
            self.pieces[command].warm_up(self)
            if on_loaded is not None:
                on_loaded(command, model, time.perf_counter() - start)

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()

    def require(self, command: str) -> str:
        """The model serving ``command``; UsageError when this server does not serve it."""
        if command not in self.models:
            served = ", ".join(self.tasks)
            raise UsageError(
                f"this server does not serve {command} (it serves {served}); "
                f"start it with --task {command}"
            )
        return self.models[command]

    async def submit(self, command: str, payload: Any, key: Any = None, size: int = 1) -> Any:
        """Queue one request's rows for ``command``'s model; its share of the batch."""
        batcher = self.batchers[self.require(command)]
        return await batcher.submit(Job(self._runners[command], key, payload, size))

    def run_options(self) -> dict:
        """The task call's options for a gathered batch: the server's device and bounds."""
        settings = self.settings
        return {
            "batch_size": settings.max_batch,
            "device": settings.device,
            "threads": settings.threads,
        }

    @property
    def chat_task(self) -> str:
        """The served task behind the chat and completion endpoints (a text generator)."""
        served = [command for command, pieces in self.pieces.items() if pieces.chats]
        chatting = served or [task.command for task in TASKS if pieces_of(task).chats]
        self.require(chatting[0])  # none served: the error names the task to add
        return chatting[0]

    def causal(self):
        """The generate task's model, loaded and ready for left-padded batches."""
        from nlpkit.models.load import load_model
        from nlpkit.tasks.generate import prepare_for_batching

        command = self.chat_task
        loaded = load_model(TASK_LOADERS[command], self.models[command], self.settings.device)
        prepare_for_batching(loaded)
        return loaded

    def for_prompts(self):
        """The causal model with its own copy of the tokenizer: prompts are tokenized on the
        event loop while the worker thread decodes, and one fast tokenizer used by two
        threads at once can fail ("Already borrowed")."""
        if self._prompt_side is None:
            loaded = self.causal()
            tokenizer = copy.deepcopy(loaded.tokenizer)
            self._prompt_side = dataclasses.replace(loaded, tokenizer=tokenizer)
        return self._prompt_side

    def prompts(
        self,
        texts: list[str],
        max_new_tokens: int,
        chat: bool | None = None,
        system: str | None = None,
    ) -> list[Prompt]:
        """Prompts as the generate task builds them (chat template when the model has one)."""
        from nlpkit.tasks.chat import prompt_ids

        loaded = self.for_prompts()
        limit = max(1, loaded.max_input_tokens - max_new_tokens)
        rows = prompt_ids(loaded, texts, chat, system, limit)
        return [Prompt(ids, max_new_tokens) for ids in rows]

    def conversation(self, messages: list[dict[str, str]], max_new_tokens: int) -> Prompt:
        """A chat conversation through the model's chat template; too long is an error."""
        from nlpkit.serve.limits import LimitError
        from nlpkit.tasks.chat import has_chat_template, messages_ids

        loaded = self.for_prompts()
        if not has_chat_template(loaded):
            raise UsageError(
                f"model '{loaded.name}' has no chat template; "
                "send plain prompts to /v1/completions instead"
            )
        ids = messages_ids(loaded, messages)
        room = loaded.max_input_tokens - max_new_tokens
        if len(ids) > room:
            raise LimitError(
                f"the conversation is {len(ids)} tokens; with max_tokens="
                f"{max_new_tokens} the model takes at most {room}",
                param="messages",
            )
        return Prompt(ids, max_new_tokens)

    def _generation_job(self, prompt: Prompt, sampling: dict) -> Job:
        # A seeded sample runs alone (a key no other job has): its rows, and so its text,
        # do not depend on who else was waiting.
        alone = object() if prompt.seed is not None and sampling.get("do_sample") else None
        key = (tuple(sorted(sampling.items())), alone)
        return Job(self._runners[self.chat_task], key, prompt)

    async def complete(self, prompt: Prompt, sampling: dict) -> Completion:
        job = self._generation_job(prompt, sampling)
        return await self.batchers[self.models[self.chat_task]].submit(job)

    def stream(self, prompt: Prompt, sampling: dict) -> AsyncIterator[str | Completion]:
        """The reply's text pieces as they are generated, then the Completion. Leaving
        the loop early (a client that went away) stops the row and frees its slot. Queued
        now, so a full queue is an error before the response begins."""
        import asyncio

        job = self._generation_job(prompt, sampling)
        job.events = asyncio.Queue()
        self.batchers[self.models[self.chat_task]].start(job)
        return _pieces(job)


async def _pieces(job: Job) -> AsyncIterator[str | Completion]:
    try:
        while (piece := await job.events.get()) is not None:
            yield piece
        yield job.future.result()
    finally:
        job.cancel()


def split_jobs(jobs: Sequence[Job], run: Callable[[list[str]], list]) -> list[list]:
    """Run every job's texts in one call; hand each job its own rows back."""
    results = run([text for job in jobs for text in job.payload])
    out, start = [], 0
    for job in jobs:
        out.append(results[start : start + len(job.payload)])
        start += len(job.payload)
    return out
