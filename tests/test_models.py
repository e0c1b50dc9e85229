"""Model resolution: local folders, bad paths, and a fast, actionable offline error."""

from __future__ import annotations

import time

import pytest

from nlpkit.errors import ModelNotFoundError
from nlpkit.models.resolve import default_translation_model, resolve_model
from tests.conftest import ROOT


def test_local_folder_loads_without_hub(tiny):
    source = resolve_model(tiny["bert"])
    assert source.local_files_only and source.is_local_folder


def test_missing_local_path_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        resolve_model(str(tmp_path / "nope"))


def test_file_instead_of_folder(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_model(str(path))


def test_offline_hub_id_fails_fast_with_fix():
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("some-org/some-model")
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert "some-org/some-model" in message and "local folder" in message


def test_unreachable_hub_fails_fast(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="cannot be reached"):
        resolve_model("some-org/some-model")
    assert time.perf_counter() - start < 2


def test_translation_default():
    assert default_translation_model("en", "ro") == "Helsinki-NLP/opus-mt-en-ro"


def test_network_guard_is_on_in_process_and_subprocess():
    import socket
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    with pytest.raises(RuntimeError, match="network guard"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    code = "import socket; socket.create_connection(('192.0.2.1', 443), timeout=1)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
    )
    assert result.returncode != 0 and "network guard" in result.stderr


@pytest.mark.parametrize("name", ["./absent", "../absent", "runs/absent", "runs/a/b"])
def test_path_like_model_that_does_not_exist_is_no_such_folder(name, tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "runs").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(ModelNotFoundError, match=f"^no such folder: {name} ") as info:
        resolve_model(name)
    assert "local cache" not in str(info.value)


def test_org_slash_name_without_such_folder_is_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match="'org/name' is not in the local cache"):
        resolve_model("org/name")


@pytest.fixture
def model_package(tiny, tmp_path, monkeypatch) -> str:
    """An installed-looking package `nlpkit_fake_models` holding a model folder `tiny`."""
    import importlib
    import shutil

    package = tmp_path / "site" / "nlpkit_fake_models"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    shutil.copytree(tiny["bert"], package / "tiny")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    return str(package / "tiny")


def test_package_reference_resolves_for_inference_and_recipes(model_package):
    from nlpkit.errors import RecipeError
    from nlpkit.recipe.checks import resolve_model_reference

    source = resolve_model("package:nlpkit_fake_models/tiny")
    assert source.path == model_package and source.local_files_only
    assert resolve_model_reference("package:nlpkit_fake_models/tiny") == model_package
    with pytest.raises(ModelNotFoundError, match="has no folder 'nope'"):
        resolve_model("package:nlpkit_fake_models/nope")
    with pytest.raises(RecipeError, match="has no folder 'nope'"):
        resolve_model_reference("package:nlpkit_fake_models/nope")
    with pytest.raises(ModelNotFoundError, match=r"pip install no-such-pkg-xyz"):
        resolve_model("package:no_such_pkg_xyz/model")


def test_package_reference_classifies(model_package, capsys, monkeypatch):
    import nlpkit
    from tests.conftest import invoke

    assert nlpkit.classify("great", model="package:nlpkit_fake_models/tiny")[0].label
    code, out, err = invoke(
        capsys, monkeypatch, "classify", "great", "-m", "package:nlpkit_fake_models/tiny"
    )
    assert code == 0 and "great" in out, err


@pytest.mark.parametrize("command", ["classify", "entities", "answer", "embed", "generate"])
def test_every_default_hub_model_offline_is_one_line_with_its_fix(command):
    """The Hub model a task uses with no --model, missing offline: the error says so and,
    where the task has a built-in model, names it, else the recipe that trains one."""
    from nlpkit.models.resolve import require_hub
    from nlpkit.tasks.table import BY_COMMAND

    task = BY_COMMAND[command]
    with pytest.raises(ModelNotFoundError, match="Hub is offline") as caught:
        require_hub(task.default_model)
    message = str(caught.value)
    assert "\n" not in message and task.default_model in message
    assert ("built-in" in message) == bool(task.offline_model), message
    assert (f"nlpkit finetune {task.offline_recipe}" in message) == bool(task.offline_recipe)
    if task.offline_recipe:
        assert (ROOT / task.offline_recipe).is_file()
