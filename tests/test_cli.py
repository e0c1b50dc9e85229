"""CLI behaviour in-process: exit codes, one-line errors, options, formats."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke


def test_classify_jsonl_top_k(capsys, monkeypatch, tiny):
    code, out, _ = invoke(
        capsys,
        monkeypatch,
        "classify",
        "great",
        "awful",
        "-m",
        tiny["bert"],
        "--top-k",
        "2",
        "-f",
        "jsonl",
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["text"] for r in rows] == ["great", "awful"]
    assert all(len(r["top"]) == 2 for r in rows)


def test_stdin_dash(capsys, monkeypatch, tiny):
    code, out, _ = invoke(
        capsys,
        monkeypatch,
        "classify",
        "-",
        "-m",
        tiny["bert"],
        "-f",
        "json",
        stdin="one\ntwo\nthree\n",
    )
    assert code == 0 and [r["text"] for r in json.loads(out)] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["classify"], 2, "no input text"),
        (["classify", "x", "--device", "gpu"], 2, "unknown device 'gpu'"),
        (["classify", "x", "--device", "cpu", "--device-map", "auto"], 2, "--device cpu and --dev"),
        (["classify", "x", "--model", "/no/such/model"], 1, "no such folder"),
        (["classify", "x", "--model", "org/missing"], 1, "'org/missing' is not in the local cache"),
        (["classify", "x", "--model", "org/missing"], 1, "pass a local folder as --model,"),
        (["classify", "x", "--model", "./nope"], 1, "no such folder: ./nope"),
        (["classify", "x", "--input", "/no/such.txt"], 2, "no such file"),
        (["classify", "", "x"], 2, "argument 1: empty text"),
        (["generate", "x", "--max-new-tokens", "-1"], 2, "--max-new-tokens must be at least 1"),
        (["generate", "x", "--temperature", "0"], 2, "--temperature must be greater than 0"),
        (["translate", "x", "--src", "en", "--tgt", "en"], 2, "--src and --tgt are both 'en'"),
        (["summarize", "x", "--max-new-tokens", "0"], 2, "--max-new-tokens must be at least 1"),
    ],
)
def test_errors_are_one_line_with_exit_code(capsys, monkeypatch, args, code, message):
    got, out, err = invoke(capsys, monkeypatch, *args)
    assert got == code
    assert message in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""


def test_cuda_without_gpu(capsys, monkeypatch, tiny):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = invoke(
        capsys, monkeypatch, "classify", "x", "-m", tiny["bert"], "--device", "cuda"
    )
    assert code == 2 and "no CUDA GPU is available" in err


def test_debug_shows_traceback(capsys, monkeypatch):
    from nlpkit.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        invoke(capsys, monkeypatch, "--debug", "classify", "x", "--model", "/no/such/model")


def test_debug_after_the_command_shows_traceback_too(capsys, monkeypatch):
    from nlpkit.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        invoke(capsys, monkeypatch, "classify", "x", "--model", "/no/such/model", "--debug")
    code, _, err = invoke(capsys, monkeypatch, "classify", "x", "--model", "/no/such/model")
    assert code == 1 and err.startswith("error: no such folder")  # the next run is quiet again


def test_usage_error_from_typer_exits_2(capsys, monkeypatch):
    code, _, err = invoke(capsys, monkeypatch, "classify", "x", "--top-k", "0")
    assert code == 2 and "top-k" in err


def test_truncation_warned_once_on_stderr(capsys, monkeypatch, tiny):
    code, out, err = invoke(
        capsys, monkeypatch, "classify", "great " * 100, "ok", "-m", tiny["bert"], "-f", "jsonl"
    )
    assert code == 0 and len(out.splitlines()) == 2
    assert err.count("truncated") == 1 and err.startswith("warning: ")


def test_output_file_and_overwrite(capsys, monkeypatch, tiny, tmp_path):
    target = tmp_path / "out.csv"
    args = ["classify", "a", "b", "-m", tiny["bert"], "-f", "csv", "-o", str(target)]
    assert invoke(capsys, monkeypatch, *args)[0] == 0
    assert target.read_text().splitlines()[0] == "text,label,score,top"
    code, _, err = invoke(capsys, monkeypatch, *args)
    assert code == 1 and "--overwrite" in err
    assert invoke(capsys, monkeypatch, *args, "--overwrite")[0] == 0


def test_translate_names_its_model(capsys, monkeypatch, tiny):
    code, out, err = invoke(
        capsys,
        monkeypatch,
        "translate",
        "hello",
        "--src",
        "en",
        "--tgt",
        "ro",
        "-m",
        tiny["marian"],
        "-f",
        "jsonl",
    )
    assert code == 0 and f"model: {tiny['marian']}" in err
    code, _, err = invoke(capsys, monkeypatch, "translate", "hello", "--src", "en", "--tgt", "ro")
    assert code == 1 and "Helsinki-NLP/opus-mt-en-ro" in err


def test_summarize_reads_file_argument_as_one_document(capsys, monkeypatch, tiny, tmp_path):
    doc = tmp_path / "article.txt"
    doc.write_text("first line .\nsecond line .\n")
    code, out, _ = invoke(
        capsys, monkeypatch, "summarize", str(doc), "-m", tiny["t5"], "-f", "json"
    )
    assert code == 0 and json.loads(out)[0]["text"] == "first line .\nsecond line .\n"


def test_env_json(capsys, monkeypatch):
    code, out, _ = invoke(capsys, monkeypatch, "env", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["hf_hub_offline"] is True and data["hub_reachable"] is False
    assert (
        data["model_translate"] == "Helsinki-NLP/opus-mt-{src}-{tgt}"
        and data["torch"] != "not installed"
    )


@pytest.mark.parametrize(
    ("message", "params", "shown"),
    [
        ("max_new_tokens must be at least 1", ("max_new_tokens",), "--max-new-tokens must be"),
        ("device='cuda' and device_map='auto': one", ("device", "device_map"), "--device cuda"),
        ("device='cpu' and device_map='auto': one", ("device", "device_map"), "--device-map auto:"),
        ("no template; pass chat=False to continue", ("chat",), "pass --no-chat to continue"),
        ("src and tgt are both 'en'", ("src", "tgt"), "--src and --tgt are both 'en'"),
        ("labels gives 3 names but model has 2 labels", ("labels",), "--labels gives 3 names"),
        ("labels gives 3 names but model has 2 labels", ("labels",), "model has 2 labels"),
        ("pass a local folder as model=, or run", ("model",), "as --model, or run"),
        ("max_new_tokens must be at least 1", (), "max_new_tokens must be at least 1"),
    ],
)
def test_library_messages_get_cli_flags(message, params, shown):
    from nlpkit.cli.app import with_flags

    assert shown in with_flags(message, params)


def test_library_warnings_only_with_debug(capsys, monkeypatch, tiny, tmp_path):
    import shutil
    import warnings

    import transformers

    real = transformers.AutoConfig.from_pretrained

    def chatty(*args, **kwargs):
        warnings.warn("`old_arg` is deprecated", FutureWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", chatty)
    for name, debug in [("quiet", []), ("debug", ["--debug"])]:
        model = str(shutil.copytree(tiny["bert"], tmp_path / name))
        code, _, err = invoke(capsys, monkeypatch, *debug, "classify", "great", "-m", model)
        assert code == 0 and ("old_arg" in err) == bool(debug), err


def _all_commands():
    """(path, click command) for every command and subcommand of the app."""
    import typer

    from nlpkit.cli.app import app

    todo, found = [((), typer.main.get_command(app))], []
    while todo:
        path, command = todo.pop()
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            todo.append(((*path, name), sub))
    return found


COMMANDS = _all_commands()


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "nlpkit" for path, _ in COMMANDS]
)
def test_help_at_80_columns_shows_every_option_whole(capsys, monkeypatch, path, command):
    import re

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = invoke(capsys, monkeypatch, *path, "--help")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    for param in command.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", out), name
    assert not re.search(r"<(bool|str|int|float|path|file|list\[)", out), out


def test_shell_completion_is_offered(capsys, monkeypatch):
    code, out, _ = invoke(capsys, monkeypatch, "--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out
    import os
    import shlex
    import subprocess

    from tests.conftest import STARTING_ENV, nlpkit_command

    # The environment the suite started with: an earlier test's leaked variable made
    # typer read an empty shell name ("Shell  not supported") after tests/test_batch.py.
    for name in set(os.environ) - set(STARTING_ENV):
        monkeypatch.delenv(name)
    for name, value in STARTING_ENV.items():
        monkeypatch.setenv(name, value)
    # typer names the shell from the process tree (shellingham), as a user's shell runs
    # it: a bash parent, kept alive by a second command (no exec of the last one)
    line = f"{shlex.join(nlpkit_command())} --show-completion; true"
    result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "-F _nlpkit_completion nlpkit" in result.stdout


def test_finetune_to_a_pipe_prints_plain_progress_lines(tiny, tmp_path):
    import yaml

    from tests.conftest import run_nlpkit
    from tests.tiny_models import SENTENCES

    rows = [f"{s}\t{int('great' in s or 'fine' in s)}" for s in SENTENCES]
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    recipe = {
        "task": "text-classification",
        "model": tiny["bert"],
        "data": {"train_file": str(tmp_path / "train.tsv"), "text_column": "sentence"},
        "training": {"max_steps": 6, "batch_size": 8, "logging_steps": 2, "eval_strategy": "no"},
        "output_dir": str(tmp_path / "run"),
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = run_nlpkit("finetune", str(tmp_path / "r.yaml"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("train step")]
    assert [line.split()[2] for line in lines] == ["2/6", "4/6", "6/6"], result.stderr
    assert all(" | loss " in line and " | ETA 0:" in line for line in lines)
    assert "\x1b[" not in result.stderr  # no live-bar escape codes in a log file


def _events():
    from nlpkit.training.callbacks import TrainEvent

    where = {"total": 6, "metric": "accuracy", "elapsed": 3.2, "eta": 6.4}
    return [
        TrainEvent("message", text="resuming from checkpoint-3 (step 3)"),
        TrainEvent("start", step=0, **where),
        TrainEvent("step", step=1, epoch=0.17, **where),
        TrainEvent("step", step=2, epoch=0.33, **where),
        TrainEvent("log", step=2, epoch=0.33, loss=0.69314, **where),
        TrainEvent("eval", step=2, epoch=0.33, metrics={"loss": 0.7, "accuracy": 0.5}, score=0.5),
        TrainEvent("end", step=6, epoch=1.0, **where),
    ]


def test_training_events_render_as_plain_lines(capsys):
    from nlpkit.cli.progress import plain_report

    for event in _events():
        plain_report(event)
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        "resuming from checkpoint-3 (step 3)",
        "train step 2/6 (33%) | epoch 0.33 | loss 0.6931 | elapsed 0:00:03 | ETA 0:00:06",
        "eval at step 2: loss 0.7000, accuracy 0.5000",
    ]


def test_training_events_render_as_a_live_bar_on_a_terminal(capsys, monkeypatch):
    import io

    from rich.console import Console

    from nlpkit.cli import progress
    from nlpkit.cli.render import out

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=160)
    monkeypatch.setattr(out, "console", lambda stderr=False: terminal)
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True)
    with progress.train_reporter() as report:
        assert isinstance(report, progress.LiveTrainBar)
        for event in _events():
            report(event)
        assert report.bar is None  # the end event stopped the bar
    drawn = screen.getvalue()
    assert "loss 0.6931" in drawn and "accuracy 0.5000" in drawn and "2/6" in drawn
    assert "eval at step 2: loss 0.7000, accuracy 0.5000" in drawn
    assert "resuming from checkpoint-3" in capsys.readouterr().err  # before the bar began
