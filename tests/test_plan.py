"""`plan(recipe)`, `nlpkit plan`, `finetune --dry-run`, row counts and precision per device kind.

Machines are mocked with nlpkit.training.plan.Machine: no GPU is needed to check the GPU decisions.
"""

from __future__ import annotations

import json

import pytest

from nlpkit.devices import DeviceKind, choose_precision
from nlpkit.errors import DeviceError
from nlpkit.training.estimate import count_rows, human_bytes
from nlpkit.training.plan import Machine, plan
from tests.conftest import invoke
from tests.test_launch import classifier_recipe

CPU = Machine(cpu_cores=4)
H100 = Machine(cpu_cores=16, gpus=("NVIDIA H100",) * 2, gpu_memory=(80 * 1024**3,) * 2, bf16=True)
T4 = Machine(cpu_cores=8, gpus=("Tesla T4",), gpu_memory=(16 * 1024**3,), bf16=False)


@pytest.mark.parametrize(
    ("kind", "requested", "expected"),
    [
        (DeviceKind("cuda", bf16=True), "auto", "bf16"),
        (DeviceKind("cuda", bf16=False), "auto", "fp16"),
        (DeviceKind("mps", bf16=True), "auto", "fp16"),
        (DeviceKind("cpu", bf16=True), "auto", "fp32"),
        (DeviceKind("cpu", bf16=True), "bf16", "bf16"),
        (DeviceKind("cuda", bf16=False), "fp32", "fp32"),
    ],
)
def test_precision_per_device_kind(kind, requested, expected):
    assert choose_precision(requested, kind) == expected


def test_impossible_precisions_are_refused():
    with pytest.raises(DeviceError, match="fp16 needs a GPU"):
        choose_precision("fp16", DeviceKind("cpu", True))
    with pytest.raises(DeviceError, match="bf16 is not supported"):
        choose_precision("bf16", DeviceKind("cuda", False))


def test_inference_dtype_follows_the_same_decision(monkeypatch):
    import torch

    from nlpkit.devices import resolve_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_dtype("auto", torch.device("cuda")) is torch.bfloat16
    assert resolve_dtype("auto", torch.device("mps")) is torch.float16


def test_training_precision_uses_the_detected_kind(tmp_path, tiny):
    from nlpkit.recipe.schema import load_recipe
    from nlpkit.training.trainer import resolve_precision

    recipe = load_recipe(classifier_recipe(tmp_path, tiny["bert"]))
    assert resolve_precision(recipe) == "fp32"  # this CPU machine
    assert resolve_precision(recipe, DeviceKind("cuda", False)) == "fp16"


@pytest.fixture(scope="module")
def recipe_path(tiny, tmp_path_factory):
    return classifier_recipe(tmp_path_factory.mktemp("plan"), tiny["bert"], max_steps=None)


def test_plan_one_and_two_cpu_processes(recipe_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # as a user's shell has it
    one = plan(recipe_path, machine=CPU)
    assert one.distributed == "single process (cpu)" and one.world_size == 1
    assert (one.precision, one.per_device_batch_size, one.effective_batch_size) == ("fp32", 8, 8)
    rows = one.train_rows
    assert rows == 280 and one.steps_per_epoch == 35 and one.total_steps == 3 * 35
    assert one.launch_command is None and 0 < one.trainable_parameters == one.parameters
    memory = one.memory_per_device
    assert memory["weights"] == 4 * one.parameters and memory["optimizer"] == 8 * one.parameters
    two = plan(recipe_path, processes=2, machine=CPU)
    assert two.distributed == "DDP, 2 processes, gloo backend (CPU)" and two.backend == "gloo"
    assert two.effective_batch_size == 16 and two.steps_per_epoch == 18
    assert "--nproc-per-node 2" in two.launch_command
    assert "OMP_NUM_THREADS=2" in two.launch_command


def test_plan_on_mocked_gpus(recipe_path):
    ddp = plan(recipe_path, ["training.gradient_accumulation_steps=2"], gpus="all", machine=H100)
    assert (ddp.precision, ddp.backend, ddp.world_size) == ("bf16", "nccl", 2)
    assert ddp.effective_batch_size == 8 * 2 * 2 and ddp.steps_per_epoch == 9
    assert ddp.devices[1].startswith("cuda:0 NVIDIA H100 (80.0 GiB)")
    assert (
        ddp.memory_per_device["activations"]
        < plan(recipe_path, machine=CPU).memory_per_device["activations"]
    )  # half-precision activations
    assert plan(recipe_path, machine=T4, inspect_model=False).precision == "fp16"
    cpu_only = plan(recipe_path, ["training.use_cpu=true"], machine=T4, inspect_model=False)
    assert cpu_only.precision == "fp32" and cpu_only.distributed == "single process (cpu)"


def test_plan_with_lora_trains_fewer_parameters(recipe_path):
    lora = plan(recipe_path, {"lora": {"r": 4, "target_modules": ["query", "value"]}}, machine=CPU)
    assert 0 < lora.trainable_parameters < lora.parameters
    assert lora.memory_per_device["gradients"] == 4 * lora.trainable_parameters


def test_plan_cli_json_and_table(recipe_path, capsys, monkeypatch):
    code, out, err = invoke(
        capsys, monkeypatch, "plan", str(recipe_path), "--processes", "2", "-f", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["world_size"] == 2 and data["train_rows"] == 280
    code, out, err = invoke(capsys, monkeypatch, "finetune", str(recipe_path), "--dry-run")
    assert code == 0, err
    assert "effective batch" in out and "memory per device (est.)" in out
    assert not (recipe_path.parent / "run").exists()  # a dry run trains and writes nothing


def test_row_counts_without_tokenizing(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"two\nlines",1\nb,0\n', encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"t": 1}\n\n{"t": 2}\n', encoding="utf-8")
    (tmp_path / "a.json").write_text('[{"t": 1}, {"t": 2}, {"t": 3}]', encoding="utf-8")
    (tmp_path / "a.tsv").write_text("text\tlabel\na\t1\n", encoding="utf-8")
    counts = {name: count_rows(tmp_path / name) for name in ("a.csv", "a.jsonl", "a.json", "a.tsv")}
    assert counts == {"a.csv": 2, "a.jsonl": 2, "a.json": 3, "a.tsv": 1}
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(12) == "12 B"


def test_count_rows_of_a_headerless_file_counts_every_line(tmp_path):
    (tmp_path / "a.tsv").write_text("good movie\t1\nbad movie\t0\n", encoding="utf-8")
    assert count_rows(tmp_path / "a.tsv", header=False) == 2
    assert count_rows(tmp_path / "a.tsv") == 1
