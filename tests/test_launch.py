"""Launch decisions (pure, GPUs mocked by count) and one real 2-process CPU DDP fine-tune."""

from __future__ import annotations

import json

import pytest

from nlpkit.errors import UsageError
from nlpkit.training.launch import Nodes, build_launch, parse_gpus, resolve_topology
from tests.tiny_models import SENTENCES


def classifier_recipe(folder, model: str, **training):
    """A tiny sentiment recipe: every sentence labelled by a few positive words."""
    import yaml

    rows = "".join(f"{s}\t{int(any(w in s for w in ('great', 'fine')))}\n" for s in SENTENCES)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + rows, encoding="utf-8")
    recipe = {
        "task": "text-classification",
        "model": model,
        "data": {"train_file": "train.tsv", "text_column": "sentence", "max_length": 32},
        "training": {"max_steps": 3, "batch_size": 8, "eval_strategy": "no", **training},
        "output_dir": "run",
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("spec", "available", "ids"),
    [("all", 4, (0, 1, 2, 3)), ("2", 4, (0, 1)), ("1,3", 4, (1, 3)), ("2,", 4, (2,)), ("0", 0, ())],
)
def test_parse_gpus(spec, available, ids):
    assert parse_gpus(spec, available) == ids


@pytest.mark.parametrize(
    ("spec", "available", "message"),
    [("5", 2, "has 2 GPU"), ("x", 2, "expected all"), ("1,1", 2, "repeated"), ("1", 0, "no CUDA")],
)
def test_parse_gpus_errors(spec, available, message):
    with pytest.raises(UsageError, match=message):
        parse_gpus(spec, available)


def test_topology_on_a_cpu_machine():
    one = resolve_topology(None, None, use_cpu=False, gpu_count=0)
    assert (one.device, one.world_size, one.backend) == ("cpu", 1, None)
    two = resolve_topology(2, None, use_cpu=False, gpu_count=0)
    assert (two.device, two.world_size, two.backend) == ("cpu", 2, "gloo")
    assert two.mode == "DDP, 2 processes, gloo backend (CPU)"


def test_topology_on_a_gpu_machine():
    default = resolve_topology(None, None, use_cpu=False, gpu_count=2)
    assert default.gpus_per_process == 2 and "DataParallel" in default.mode
    ddp = resolve_topology(None, "all", use_cpu=False, gpu_count=2)
    assert (ddp.device, ddp.processes, ddp.backend, ddp.gpu_ids) == ("cuda", 2, "nccl", None)
    picked = resolve_topology(None, "1,3", use_cpu=False, gpu_count=4)
    assert (picked.processes, picked.gpu_ids) == (2, (1, 3))
    first = resolve_topology(2, None, use_cpu=False, gpu_count=4)
    assert first.gpu_ids == (0, 1)
    cpu = resolve_topology(3, "0", use_cpu=False, gpu_count=2)
    assert (cpu.device, cpu.processes, cpu.backend) == ("cpu", 3, "gloo")
    assert resolve_topology(2, None, use_cpu=True, gpu_count=2).device == "cpu"


def test_topology_errors():
    with pytest.raises(UsageError, match="one process per GPU"):
        resolve_topology(3, "0,1", use_cpu=False, gpu_count=2)
    with pytest.raises(UsageError, match="has 2 GPU"):
        resolve_topology(4, None, use_cpu=False, gpu_count=2)
    with pytest.raises(UsageError, match="--master-addr"):
        resolve_topology(2, None, use_cpu=False, gpu_count=0, nodes=Nodes(count=2))
    with pytest.raises(UsageError, match="rank must be"):
        resolve_topology(2, None, False, 0, nodes=Nodes(count=2, rank=2, master_addr="h"))


def test_cpu_launch_command(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    topology = resolve_topology(2, None, use_cpu=False, gpu_count=0)
    launch = build_launch(topology, ["r.yaml", "--format", "json"], cpu_cores=8)
    command = launch.command
    assert command[1:5] == ["-m", "torch.distributed.run", "--nproc-per-node", "2"]
    assert "--standalone" in command
    assert command[-7:] == [
        "nlpkit",
        "finetune",
        "r.yaml",
        "--format",
        "json",
        "--set",
        "training.use_cpu=true",
    ]
    assert launch.env == {"OMP_NUM_THREADS": "4"}  # torchrun alone would give each worker 1
    assert launch.shell().startswith("OMP_NUM_THREADS=4 ")


def test_multi_node_gpu_launch_passes_the_flags_through():
    nodes = Nodes(count=2, rank=1, master_addr="10.0.0.1", master_port=29400)
    topology = resolve_topology(None, "0,1", use_cpu=False, gpu_count=4, nodes=nodes)
    launch = build_launch(topology, ["r.yaml"])
    text = " ".join(launch.command)
    assert "--nnodes 2 --node-rank 1 --master-addr 10.0.0.1 --master-port 29400" in text
    assert "--standalone" not in text and "use_cpu" not in text
    assert launch.env == {"CUDA_VISIBLE_DEVICES": "0,1"} and topology.world_size == 4
    assert topology.mode == "DDP, 2 process(es) per node x 2 nodes, nccl backend (GPU)"
    assert "--rdzv-conf" not in text
    waiting = Nodes(count=2, rank=0, master_addr="10.0.0.1", join_timeout=30)
    topology = resolve_topology(None, None, use_cpu=True, gpu_count=0, nodes=waiting)
    assert "--master-port 29500 --rdzv-conf timeout=30" in " ".join(
        build_launch(topology, []).command
    )


@pytest.mark.slow
def test_processes_2_runs_ddp_on_cpu_with_the_loss_of_one_process(tiny, tmp_path):
    """`nlpkit finetune --processes 2`: one report, one folder, the loss of a 1-process run."""
    from nlpkit import finetune
    from tests.conftest import run_nlpkit

    path = classifier_recipe(tmp_path, tiny["bert"], group_by_length=False, logging_steps=1)
    result = run_nlpkit("finetune", str(path), "--processes", "2", "-f", "json", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)  # one report: rank 1 printed nothing
    assert "DDP, 2 processes, gloo" in result.stderr and summary["global_step"] == 3
    assert (tmp_path / "run" / "model.safetensors").exists()
    assert not (tmp_path / "run" / "checkpoints").exists()
    same_batch = {"output_dir": str(tmp_path / "single"), "training.batch_size": 16}
    single = finetune(path, same_batch, progress=False)
    two, one = summary["train_metrics"]["train_loss"], single.train_metrics["train_loss"]
    assert abs(two - one) < 0.05, (two, one)  # a doubled loss would read ~1.39 against ~0.69


def test_prepare_launch_returns_the_command_and_prints_nothing(tiny, tmp_path, capsys):
    """The library hands back the launch; the CLI says `launching ...` and runs it."""
    from nlpkit.training.launch import prepare_launch

    path = classifier_recipe(tmp_path, tiny["bert"])
    launch = prepare_launch(str(path), ["training.use_cpu=true"], [str(path)], 2, None, Nodes())
    assert launch.topology.mode == "DDP, 2 processes, gloo backend (CPU)"
    assert "torch.distributed.run --nproc-per-node 2" in launch.shell()
    assert "-m nlpkit finetune" in launch.shell()
    assert capsys.readouterr() == ("", "")
