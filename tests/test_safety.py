"""Security defaults: recipes are data, safetensors first, no model code, writes stay inside."""

from __future__ import annotations

import shutil

import pytest
import yaml

from nlpkit.errors import ModelLoadError, OutputError, RecipeError
from nlpkit.models.safety import check_model_folder, load_policy, pretrained_options
from nlpkit.recipe.schema import load_recipe
from tests.conftest import invoke


@pytest.fixture(scope="module")
def pickled(tiny, tmp_path_factory):
    """The tiny bert with its weights as pytorch_model.bin only."""
    import torch
    from transformers import AutoModelForSequenceClassification

    folder = tmp_path_factory.mktemp("pickled") / "bert"
    shutil.copytree(tiny["bert"], folder)
    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"])
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_defaults_load_no_code_and_no_pickle():
    assert pretrained_options("m") == {"trust_remote_code": False, "use_safetensors": True}
    with load_policy(allow_pickle=True):
        assert pretrained_options("m")["use_safetensors"] is None  # safetensors still first
    assert pretrained_options("m")["use_safetensors"] is True  # the policy ends with the block


def test_trust_remote_code_warns(capsys, monkeypatch, tiny):
    code, out, err = invoke(
        capsys, monkeypatch, "classify", "x", "-m", tiny["bert"], "--trust-remote-code"
    )
    assert code == 0 and "warning: trust_remote_code is on" in err
    code, _, err = invoke(capsys, monkeypatch, "classify", "x", "-m", tiny["bert"], "-f", "json")
    assert code == 0 and "trust_remote_code" not in err


def test_pickle_weights_need_the_flag(capsys, monkeypatch, pickled):
    with pytest.raises(ModelLoadError, match="only pickle weights.*--allow-pickle"):
        check_model_folder(pickled, "old")
    args = ["classify", "the movie is great .", "-m", str(pickled), "-f", "jsonl"]
    code, _, err = invoke(capsys, monkeypatch, *args)
    assert code == 1 and "--allow-pickle" in err
    code, out, err = invoke(capsys, monkeypatch, *args, "--allow-pickle")
    assert code == 0, err
    assert out.count("\n") == 1


def test_recipe_yaml_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "r.yaml"
    path.write_text(f"task: !!python/object/apply:os.system ['touch {marker}']\n", "utf-8")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(path)
    assert not marker.exists()


def test_output_dir_dots_are_resolved(tmp_path):
    path = tmp_path / "r.yaml"
    recipe = {
        "task": "text-classification",
        "model": "org/model",
        "data": {"dataset": "d"},
        "output_dir": str(tmp_path / "a" / ".." / "runs" / "x"),
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    assert load_recipe(path).output_dir == str(tmp_path / "runs" / "x")


def test_resume_refuses_links_out_of_output_dir(tiny, tmp_path):
    from nlpkit import finetune

    data = tmp_path / "train.csv"
    data.write_text("text,label\na,0\nb,1\n", encoding="utf-8")
    recipe = {
        "task": "text-classification",
        "model": tiny["bert"],
        "data": {"train_file": str(data)},
        "training": {"max_steps": 1, "eval_strategy": "no"},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    (run / "recipe.yaml").write_text(load_recipe(path).to_yaml(), encoding="utf-8")
    (run / "checkpoints").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="checkpoints links outside it"):
        finetune(path, resume=True, progress=False)
    assert list(elsewhere.iterdir()) == []
