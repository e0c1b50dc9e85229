"""`plan(recipe) -> Plan`: what a fine-tune would do here, decided without training.

    from nlpkit.training.plan import plan
    p = plan("recipes/sst2-minilm.yaml", processes=2)
    p.distributed, p.precision, p.effective_batch_size, p.steps_per_epoch

Devices, the distributed mode, precision and the launch command come from the
same functions the run itself uses (nlpkit.training.launch, nlpkit.devices), so the plan
cannot drift from what `nlpkit finetune` then does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpkit.devices import DeviceKind, choose_precision, cpu_cores
from nlpkit.errors import first_line
from nlpkit.recipe.schema import Recipe, load_recipe, override_recipe
from nlpkit.training.estimate import (
    count_parameters,
    estimate_memory,
    model_config,
    train_rows,
)
from nlpkit.training.launch import Nodes, Topology, build_launch, launch_requested, resolve_topology


@dataclass(frozen=True)
class Machine:
    """The devices of this machine that matter for a plan (mockable in tests)."""

    cpu_cores: int
    gpus: tuple[str, ...] = ()  # names
    gpu_memory: tuple[int, ...] = ()  # bytes, same order
    bf16: bool = False  # the GPUs compute in bf16
    mps: bool = False

    def devices(self) -> list[str]:
        rows = [f"cpu ({self.cpu_cores} cores)"]
        for index, (name, memory) in enumerate(zip(self.gpus, self.gpu_memory, strict=True)):
            rows.append(f"cuda:{index} {name} ({memory / 1024**3:.1f} GiB)")
        if self.mps:
            rows.append("mps (Apple GPU)")
        return rows

    def kind(self, device: str) -> DeviceKind:
        if device == "cuda":
            return DeviceKind("cuda", self.bf16)
        return DeviceKind(device, True)


def detect_machine() -> Machine:
    """This machine's CPU cores and GPUs (imports torch)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    properties = [torch.cuda.get_device_properties(i) for i in range(count)]
    return Machine(
        cpu_cores=cpu_cores(),
        gpus=tuple(p.name for p in properties),
        gpu_memory=tuple(p.total_memory for p in properties),
        bf16=bool(count and torch.cuda.is_bf16_supported()),
        mps=torch.backends.mps.is_available(),
    )


@dataclass
class Plan:
    """A fine-tune as it would run here; memory figures are per device, in bytes."""

    recipe: str
    task: str
    model: str
    devices: list[str]
    distributed: str
    world_size: int
    backend: str | None
    precision: str
    per_device_batch_size: int
    gradient_accumulation_steps: int
    effective_batch_size: int
    train_rows: int | None
    steps_per_epoch: int | None
    total_steps: int | None
    parameters: int | None
    trainable_parameters: int | None
    memory_per_device: dict[str, int] | None
    launch_command: str | None
    notes: list[str] = field(default_factory=list)
    search_keys: list[str] = field(default_factory=list)  # what `nlpkit tune` varies
    steps_per_trial: list[int] | None = None  # fewest and most steps a trial can take


def plan(
    recipe: str | Path | Recipe,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    processes: int | None = None,
    gpus: str | None = None,
    nodes: Nodes | None = None,
    machine: Machine | None = None,
    inspect_model: bool = True,
) -> Plan:
    """Decide devices, distribution, precision, batch sizes, steps and memory for a recipe.

    ``inspect_model=False`` skips the parameter count and memory estimate (no transformers).
    """
    source = "<recipe>" if isinstance(recipe, Recipe) else str(recipe)
    if isinstance(recipe, Recipe):
        recipe = override_recipe(recipe, overrides) if overrides else recipe
    else:
        recipe = load_recipe(recipe, overrides)
    machine = machine or detect_machine()
    use_cpu = recipe.training.use_cpu
    topology = resolve_topology(processes, gpus, use_cpu, len(machine.gpus), machine.mps, nodes)
    precision = choose_precision(recipe.training.precision, machine.kind(topology.device))
    batch = _batch(recipe, topology)
    rows, note = train_rows(recipe)
    notes = [note] if note else []
    steps, total = _steps(recipe, rows, batch, topology.world_size)
    model = _model_facts(recipe, precision, notes) if inspect_model else (None, None, None)
    trial_steps = search_steps(recipe, topology)
    launch = None
    if launch_requested(processes, gpus, nodes or Nodes()):
        args = [source, *_set_args(overrides)]
        launch = build_launch(topology, args, machine.cpu_cores).shell()
    return Plan(
        recipe=source,
        task=recipe.task,
        model=recipe.model,
        devices=machine.devices(),
        distributed=topology.mode,
        world_size=topology.world_size,
        backend=topology.backend,
        precision=precision,
        per_device_batch_size=batch,
        gradient_accumulation_steps=recipe.training.gradient_accumulation_steps,
        effective_batch_size=batch
        * recipe.training.gradient_accumulation_steps
        * topology.world_size,
        train_rows=rows,
        steps_per_epoch=steps,
        total_steps=total,
        parameters=model[1],
        trainable_parameters=model[0],
        memory_per_device=model[2],
        launch_command=launch,
        notes=notes,
        search_keys=list(recipe.search or {}),
        steps_per_trial=trial_steps,
    )


STEP_KEYS = (
    "training.batch_size",
    "training.epochs",
    "training.max_steps",
    "training.gradient_accumulation_steps",
    "data.max_train_samples",
)


def search_steps(recipe: Recipe, topology: Topology) -> list[int] | None:
    """[fewest, most] training steps of one `nlpkit tune` trial: the search keys that change
    the step count, at each choice or bound; None without a search or a row count."""
    from itertools import product

    from nlpkit.recipe.schema import validate_recipe
    from nlpkit.recipe.search import SearchRange, spaces, with_values

    if not recipe.search:
        return None
    varied = {key: space for key, space in spaces(recipe).items() if key in STEP_KEYS}
    options = [
        [space.low, space.high] if isinstance(space, SearchRange) else space
        for space in varied.values()
    ]
    steps = []
    for values in product(*options):
        values = dict(zip(varied, values, strict=True))
        variant = validate_recipe(with_values(recipe.resolved(), values))
        batch = _batch(variant, topology)
        steps.append(_steps(variant, train_rows(variant)[0], batch, topology.world_size)[1])
    known = [count for count in steps if count is not None]
    return [min(known), max(known)] if known else None


def _set_args(overrides: Sequence[str] | Mapping[str, Any] | None) -> list[str]:
    if not overrides:
        return []
    pairs = overrides.items() if isinstance(overrides, Mapping) else []
    items = [f"{key}={value}" for key, value in pairs] or list(overrides)
    return [arg for item in items for arg in ("--set", item)]


def _batch(recipe: Recipe, topology: Topology) -> int:
    """Examples per process per step; one process over several GPUs splits its batch."""
    return recipe.training.batch_size * max(1, topology.gpus_per_process)


def _steps(
    recipe: Recipe, rows: int | None, batch: int, world: int
) -> tuple[int | None, int | None]:
    """(optimizer steps per epoch, total steps), counted as the Trainer counts them."""
    train = recipe.training
    if rows is None:
        return None, train.max_steps
    batches_per_process = math.ceil(math.ceil(rows / batch) / world)
    per_epoch = max(math.ceil(batches_per_process / train.gradient_accumulation_steps), 1)
    return per_epoch, train.max_steps or math.ceil(train.epochs * per_epoch)


def _model_facts(
    recipe: Recipe, precision: str, notes: list[str]
) -> tuple[int | None, int | None, dict[str, int] | None]:
    """(trainable, total, memory) or Nones with a note when the config cannot be read."""
    try:
        config = model_config(recipe)
        trainable, total = count_parameters(recipe, config)
    except Exception as exc:  # any failure here only leaves the figures unknown
        first = first_line(exc, limit=200)
        notes.append(f"parameters unknown: {first}")
        return None, None, None
    memory = estimate_memory(recipe, config, trainable, total, precision)
    notes.append(
        "memory is an estimate: fp32 weights, gradients and AdamW states of trainable "
        f"parameters, activations at max_length ({recipe.data.max_length} tokens)"
    )
    return trainable, total, memory.as_dict()
