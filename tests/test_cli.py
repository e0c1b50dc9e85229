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
        (["classify", "x", "--model", "/no/such/model"], 1, "no such folder"),
        (["classify", "x", "--model", "org/missing"], 1, "'org/missing' is not in the local cache"),
        (["classify", "x", "--input", "/no/such.txt"], 2, "no such file"),
        (["classify", "", "x"], 2, "argument 1: empty text"),
        (["generate", "x", "--max-new-tokens", "-1"], 2, "--max-new-tokens must be at least 1"),
        (["generate", "x", "--temperature", "0"], 2, "--temperature must be greater than 0"),
        (["translate", "x", "--src", "en", "--tgt", "en"], 2, "both 'en'"),
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
