"""A real two-node fine-tune on one machine: two `nlpkit finetune --nnodes 2 --node-rank
0|1 --master-addr 127.0.0.1 --master-port P` processes (torchrun, gloo), as two machines
would run them.

- both exit 0; rank 0 alone writes the run (node 1, given an output_dir of its own as
  on a machine with its own disk, writes only its RNG state into each checkpoint), and
  its loss is the loss of one process with the same global batch;
- node 1 killed with -9 mid-run: node 0 fails too; both restarted with --resume
  finish the run from the last checkpoint, where the uninterrupted run ends;
- a node that never joins: torchrun's rendezvous timeout is one error line naming
  --master-addr, on node 0 (waited) and on node 1 (could not reach node 0).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import nlpkit_command, subprocess_env
from tests.serve_helpers import free_port
from tests.tiny_models import SENTENCES

pytestmark = pytest.mark.slow

MAX_STEPS = 200  # long enough that node 1 dies mid-run: a step takes ~0.05 s
SAVE_STEPS = 10
PER_NODE_BATCH = 8
LOSS_TOLERANCE = 0.05  # a loss summed instead of averaged over nodes would be ~2x
RESUME_TOLERANCE = 1e-3  # eval loss, resumed vs uninterrupted (fp32, gloo)


def write_recipe(folder: Path) -> Path:
    rows = [(s, int(any(w in s for w in ("great", "wonderful", "amazing")))) for s in SENTENCES]
    tsv = "sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in rows)
    (folder / "train.tsv").write_text(tsv, encoding="utf-8")
    (folder / "dev.tsv").write_text("\n".join(tsv.splitlines()[:41]) + "\n", encoding="utf-8")
    recipe = {
        "task": "text-classification",
        "model": "MODEL",
        "data": {
            "train_file": str(folder / "train.tsv"),
            "eval_file": str(folder / "dev.tsv"),
            "text_column": "sentence",
            "max_length": 32,
        },
        "training": {
            "max_steps": MAX_STEPS,
            "batch_size": PER_NODE_BATCH,
            "learning_rate": 1e-3,
            "eval_strategy": "no",
            "save_strategy": "steps",
            "save_steps": SAVE_STEPS,
            "logging_steps": 10,
            "group_by_length": False,
            "seed": 7,
        },
        "output_dir": str(folder / "run"),
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def start_node(recipe: Path, rank: int, port: int, *flags: str) -> subprocess.Popen:
    """One node: nlpkit, the torchrun it starts, and torchrun's worker."""
    command = [*nlpkit_command(), "finetune", str(recipe), "--nnodes", "2", "--node-rank"]
    command += [str(rank), "--master-addr", "127.0.0.1", "--master-port", str(port)]
    return subprocess.Popen(
        [*command, "--join-timeout", "120", "-f", "json", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(OMP_NUM_THREADS="1"),
    )


def kill_node(pid: int) -> None:
    """kill -9 a node's every process at once, as if its machine died (torchrun starts
    its workers in sessions of their own: a process group would miss them)."""
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        found = subprocess.run(["pgrep", "-P", str(tree[-1])], capture_output=True, text=True)
        todo += [int(child) for child in found.stdout.split()]
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def finish(node: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = node.communicate(timeout=timeout)
    finally:
        if node.poll() is None:
            kill_node(node.pid)
    return node.returncode, out, err


def test_two_nodes_train_as_one_process_and_resume_after_a_node_is_killed(tiny, tmp_path):
    from nlpkit import finetune

    recipe = write_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace("MODEL", tiny["bert"]), encoding="utf-8")
    run, elsewhere = tmp_path / "run", tmp_path / "node1-disk"

    port = free_port()
    node0 = start_node(recipe, 0, port)
    node1 = start_node(recipe, 1, port, "--set", f"output_dir={elsewhere}")
    (code0, out0, err0), (code1, out1, err1) = finish(node0), finish(node1)
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    whole = json.loads(out0)  # rank 0 reports; rank 1 prints nothing
    assert out1.strip() == "" and "DDP, 1 process(es) per node x 2 nodes, gloo" in err0
    assert whole["global_step"] == MAX_STEPS and (run / "model.safetensors").exists()
    # Rank 1 writes no part of the run on its node: only its own RNG state into each
    # checkpoint (the Trainer's, for an exact resume, which so needs storage both read).
    written = {p.relative_to(elsewhere).as_posix() for p in elsewhere.rglob("*") if p.is_file()}
    assert written and all(
        re.fullmatch(r"checkpoints/checkpoint-\d+/rng_state_1\.pth", f) for f in written
    )
    single = finetune(
        recipe,
        {"output_dir": str(tmp_path / "single"), "training.batch_size": 2 * PER_NODE_BATCH},
        progress=False,
    )
    two, one = whole["train_metrics"]["train_loss"], single.train_metrics["train_loss"]
    assert abs(two - one) < LOSS_TOLERANCE, (two, one)

    port = free_port()
    node0 = start_node(recipe, 0, port, "--overwrite")
    node1 = start_node(recipe, 1, port, "--overwrite")
    deadline = time.monotonic() + 300
    while not list((run / "checkpoints").glob("checkpoint-*/trainer_state.json")):
        assert node0.poll() is None and node1.poll() is None, "a node ended before a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.01)
    kill_node(node1.pid)
    killed_at = max(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("checkpoint-*"))
    assert killed_at < MAX_STEPS, "the run finished before node 1 could be killed"
    code0, _out, err0 = finish(node0, timeout=300)
    assert code0 != 0  # its peer is gone: node 0 stops too, it does not hang
    assert not (run / "model.safetensors").exists()

    port = free_port()
    node0 = start_node(recipe, 0, port, "--resume")
    node1 = start_node(recipe, 1, port, "--resume")
    (code0, out0, err0), (code1, _out1, err1) = finish(node0), finish(node1)
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    resumed = json.loads(out0)
    assert resumed["resumed_from_step"] is not None and resumed["global_step"] == MAX_STEPS
    assert resumed["metrics"]["accuracy"] == whole["metrics"]["accuracy"]
    assert abs(resumed["metrics"]["loss"] - whole["metrics"]["loss"]) <= RESUME_TOLERANCE
    print(
        "two nodes:",
        json.dumps(
            {
                "train_loss (2 nodes, 1 process)": [two, one],
                "killed after checkpoint": killed_at,
                "eval_loss (whole, resumed)": [
                    whole["metrics"]["loss"],
                    resumed["metrics"]["loss"],
                ],
            }
        ),
    )


def test_a_node_that_never_joins_is_one_error_line_naming_master_addr(tiny, tmp_path):
    recipe = write_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace("MODEL", tiny["bert"]), encoding="utf-8")
    waiting, lonely = free_port(), free_port()
    node0 = start_node(recipe, 0, waiting, "--join-timeout", "5")
    node1 = start_node(recipe, 1, lonely, "--join-timeout", "5")  # no node 0 there
    for node, rank, port, what in (
        (node0, 0, waiting, "and 1 of 2 nodes joined"),
        (node1, 1, lonely, "could not reach node 0 within 5 s"),
    ):
        code, _out, err = finish(node, timeout=180)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 1 and len(errors) == 1, err[-3000:]
        assert f"node {rank} of 2" in errors[0] and what in errors[0]
        assert f"--master-addr 127.0.0.1 --master-port {port}" in errors[0]
        assert "Traceback" not in err
