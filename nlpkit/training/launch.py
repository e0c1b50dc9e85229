"""Data-parallel launches: --processes / --gpus / multi-node flags -> a torchrun command.

nlpkit does not spawn workers itself. ``nlpkit finetune RECIPE --processes 2``
re-runs ``python -m nlpkit finetune RECIPE`` under ``torch.distributed.run``
(torchrun, which accelerate's own multi-GPU launcher also calls); the Trainer
then builds its accelerate state from the environment torchrun sets. On the CPU
the workers use the gloo backend (``training.use_cpu``), so a real DDP run works
on one machine; ``accelerate launch --cpu`` would start a single process.

    nlpkit finetune r.yaml --processes 2                 # 2 CPU workers, or 2 GPUs
    nlpkit finetune r.yaml --gpus 0,1                    # DDP on GPUs 0 and 1
    nlpkit finetune r.yaml --gpus all --nnodes 2 --node-rank 0 \\
        --master-addr 10.0.0.1 --master-port 29500       # node 0 of 2
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from nlpkit.devices import cpu_cores as available_cores
from nlpkit.errors import TrainingError, UsageError

# Set by torchrun and by accelerate launch in every worker: already inside a launch.
_WORKER_VARIABLES = ("LOCAL_RANK", "WORLD_SIZE")
DEFAULT_MASTER_PORT = 29500


@dataclass(frozen=True)
class Nodes:
    """Multi-node settings passed through to torchrun (same meaning as accelerate's)."""

    count: int = 1
    rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    join_timeout: int | None = None  # seconds; None: torchrun's (600)

    def check(self) -> None:
        if self.count < 1 or not 0 <= self.rank < self.count:
            raise UsageError(
                f"--node-rank {self.rank} with --nnodes {self.count}: the rank must be 0..count-1"
            )
        if self.count > 1 and not self.master_addr:
            raise UsageError(
                "--nnodes > 1 needs --master-addr (the address of node 0) on every node"
            )


@dataclass(frozen=True)
class Topology:
    """Where the workers run: device type, processes per node, nodes, the GPUs they see."""

    device: str  # cpu | cuda | mps
    processes: int = 1
    nodes: Nodes = field(default_factory=Nodes)
    gpu_ids: tuple[int, ...] | None = None  # None: every GPU of the machine (or none)
    gpus_per_process: int = 1  # >1 only for a single process seeing several GPUs (DataParallel)

    @property
    def world_size(self) -> int:
        return self.processes * self.nodes.count

    @property
    def backend(self) -> str | None:
        if self.world_size == 1:
            return None
        return "nccl" if self.device == "cuda" else "gloo"

    @property
    def mode(self) -> str:
        """The distributed mode in words, as `nlpkit plan` shows it."""
        if self.world_size == 1:
            if self.gpus_per_process > 1:
                return f"one process, torch DataParallel over {self.gpus_per_process} GPUs"
            return f"single process ({self.device})"
        where = f"{self.processes} process(es) per node x {self.nodes.count} nodes"
        if self.nodes.count == 1:
            where = f"{self.processes} processes"
        kind = "GPU" if self.device == "cuda" else "CPU"
        return f"DDP, {where}, {self.backend} backend ({kind})"


def parse_gpus(spec: str, available: int) -> tuple[int, ...]:
    """``all``, a count ``N`` or ids ``0,1`` (one id: ``3,``) as GPU ids; ``0`` means none."""
    text = spec.strip().lower()
    if text == "all":
        ids: tuple[int, ...] = tuple(range(available))
    elif text.isdigit():
        ids = tuple(range(int(text)))
    else:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts or not all(part.isdigit() for part in parts):
            raise UsageError(f"--gpus {spec}: expected all, a count (2) or GPU ids (0,1)")
        ids = tuple(int(part) for part in parts)
        if len(set(ids)) != len(ids):
            raise UsageError(f"--gpus {spec}: a GPU id is repeated")
    missing = [i for i in ids if i >= available]
    if missing:
        raise UsageError(
            f"--gpus {spec}: this machine has {available} GPU(s) (ids 0..{available - 1}); "
            "use --processes N alone for CPU workers"
            if available
            else f"--gpus {spec}: no CUDA GPU here; use --processes N for CPU workers"
        )
    return ids


def resolve_topology(
    processes: int | None,
    gpus: str | None,
    use_cpu: bool,
    gpu_count: int,
    mps: bool = False,
    nodes: Nodes | None = None,
) -> Topology:
    """The workers for these options on a machine with ``gpu_count`` CUDA GPUs (pure)."""
    nodes = nodes or Nodes()
    nodes.check()
    if processes is not None and processes < 1:
        raise UsageError(f"--processes {processes}: expected 1 or more")
    if gpus is not None:
        ids = parse_gpus(gpus, 0 if use_cpu else gpu_count)
        if ids:
            if processes not in (None, len(ids)):
                raise UsageError(
                    f"--processes {processes} with --gpus {gpus}: one process per GPU "
                    f"({len(ids)}); drop --processes"
                )
            explicit = None if ids == tuple(range(gpu_count)) else ids
            return Topology("cuda", len(ids), nodes, explicit)
        return Topology("cpu", processes or 1, nodes)  # --gpus 0: CPU workers
    if use_cpu or gpu_count == 0:
        if processes and processes > 1 and mps and not use_cpu:
            raise UsageError("several processes cannot share MPS; set training.use_cpu=true")
        return Topology("mps" if mps and not use_cpu else "cpu", processes or 1, nodes)
    if processes is None:  # the Trainer's default: one process sees every GPU
        return Topology("cuda", 1, nodes, gpus_per_process=gpu_count)
    if processes > gpu_count:
        raise UsageError(
            f"--processes {processes}: this machine has {gpu_count} GPU(s); use at most "
            f"{gpu_count}, or --gpus 0 --processes {processes} for CPU workers"
        )
    ids = tuple(range(processes))
    return Topology("cuda", processes, nodes, None if processes == gpu_count else ids)


def detect_topology(
    processes: int | None, gpus: str | None, use_cpu: bool, nodes: Nodes | None = None
) -> Topology:
    """resolve_topology for this machine (imports torch)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = torch.backends.mps.is_available()
    return resolve_topology(processes, gpus, use_cpu, count, mps, nodes)


@dataclass
class Launch:
    """A command that runs every worker of this node, and the environment it adds."""

    command: list[str]
    env: dict[str, str]
    topology: Topology

    def shell(self) -> str:
        """The command as one line a user could paste."""
        prefix = [f"{key}={shlex.quote(value)}" for key, value in self.env.items()]
        return " ".join([*prefix, shlex.join(self.command)])


def build_launch(
    topology: Topology, finetune_args: Sequence[str], cpu_cores: int | None = None
) -> Launch:
    """``python -m torch.distributed.run ... -m nlpkit finetune ARGS`` for ``topology``."""
    nodes = topology.nodes
    runner = [sys.executable, "-m", "torch.distributed.run"]
    runner += ["--nproc-per-node", str(topology.processes)]
    if nodes.count == 1 and nodes.master_port is None:
        runner.append("--standalone")  # a free local port: concurrent runs never collide
    else:
        runner += ["--nnodes", str(nodes.count), "--node-rank", str(nodes.rank)]
        runner += ["--master-addr", nodes.master_addr or "127.0.0.1"]
        runner += ["--master-port", str(nodes.master_port or DEFAULT_MASTER_PORT)]
        if nodes.join_timeout:
            runner += ["--rdzv-conf", f"timeout={nodes.join_timeout}"]
    args = list(finetune_args)
    env: dict[str, str] = {}
    if topology.device == "cpu":
        args += ["--set", "training.use_cpu=true"]  # gloo workers, even where a GPU exists
        if "OMP_NUM_THREADS" not in os.environ:  # torchrun would set 1 thread per worker
            cores = cpu_cores or available_cores()
            env["OMP_NUM_THREADS"] = str(max(1, cores // topology.processes))
    if topology.gpu_ids is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, topology.gpu_ids))
    return Launch([*runner, "-m", "nlpkit", "finetune", *args], env, topology)


def run_launch(launch: Launch) -> int:
    """Run every worker of this node and wait; their output goes straight to the terminal.

    Across nodes, torchrun's output passes through this process line by line, so a node
    that never joined (torchrun's rendezvous timeout) is one TrainingError naming
    --master-addr instead of torchrun's traceback."""
    env = {**os.environ, **launch.env}
    try:
        if launch.topology.nodes.count == 1:
            return subprocess.run(launch.command, env=env).returncode
        return _run_watched(launch, env)
    except KeyboardInterrupt:  # torchrun passes the signal on to its workers
        return 130


def _run_watched(launch: Launch, env: dict[str, str]) -> int:
    """torchrun with its stderr forwarded as it comes, except a traceback at the end,
    which is held until the exit says whether it was a rendezvous failure."""
    process = subprocess.Popen(launch.command, env=env, stderr=subprocess.PIPE, text=True)
    held: list[str] = []
    for line in process.stderr:
        if held or line.startswith("Traceback (most recent call last)"):
            held.append(line)
            continue
        sys.stderr.write(line)
    code = process.wait()
    missed = _rendezvous_failure(held) if code else None
    if missed:
        raise TrainingError(_not_joined(launch.topology.nodes, missed))
    sys.stderr.writelines(held)
    return code


# What torchrun's static rendezvous says when node 0 waited in vain for the others, and
# when another node could not reach node 0.
_WAITED = re.compile(r"Timed out after (\d+) seconds waiting for clients\. (\d+)/(\d+) clients")
_UNREACHED = re.compile(r"timed out after (\d+)ms while trying to connect to")


def _rendezvous_failure(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if found := _WAITED.search(line):
            seconds, joined, wanted = found.groups()
            return f"waited {seconds} s and {joined} of {wanted} nodes joined"
        if found := _UNREACHED.search(line):
            return f"could not reach node 0 within {int(found.group(1)) // 1000} s"
    return None


def _not_joined(nodes: Nodes, what: str) -> str:
    port = nodes.master_port or DEFAULT_MASTER_PORT
    return (
        f"node {nodes.rank} of {nodes.count} {what} at --master-addr {nodes.master_addr} "
        f"--master-port {port}: start the same command on every node (--node-rank "
        f"0..{nodes.count - 1}) with that --master-addr and --master-port, check that node 0 "
        "is reachable there (firewall), or raise --join-timeout"
    )


def launch_requested(processes: int | None, gpus: str | None, nodes: Nodes) -> bool:
    """--processes, --gpus or several nodes: the run goes through torchrun (even 1 worker)."""
    return processes is not None or gpus is not None or nodes.count > 1


def prepare_launch(
    recipe_path: str,
    overrides: Sequence[str] | None,
    worker_args: Sequence[str],
    processes: int | None,
    gpus: str | None,
    nodes: Nodes,
    overwrite: bool = False,
    resume: bool = False,
) -> Launch:
    """Validate the recipe and output_dir here, once, before N workers start; the launch
    for this machine, which ``run_launch`` runs (the CLI shows it first)."""
    from nlpkit.recipe.schema import load_recipe
    from nlpkit.training.outputs import check_output_dir

    recipe = load_recipe(recipe_path, overrides)
    check_output_dir(recipe, overwrite, resume)
    topology = detect_topology(processes, gpus, recipe.training.use_cpu, nodes)
    return build_launch(topology, worker_args)


def inside_launch() -> bool:
    """Whether this process is a worker started by torchrun or accelerate launch."""
    return any(name in os.environ for name in _WORKER_VARIABLES)
