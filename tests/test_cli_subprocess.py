"""The real `nlpkit` command in a subprocess, as users run it (network guard on)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, nlpkit_command, run_import_check, run_nlpkit, subprocess_env


def parse(fmt: str, out: str) -> list[dict]:
    if fmt == "json":
        return json.loads(out)
    if fmt == "jsonl":
        return [json.loads(line) for line in out.splitlines()]
    return list(csv.DictReader(io.StringIO(out)))


TASKS = {
    "classify": ("bert", [], "label"),
    "generate": ("gpt2", ["--max-new-tokens", "4"], "text"),
    "summarize": ("t5", ["--max-new-tokens", "4"], "summary"),
    "translate": ("marian", ["--src", "en", "--tgt", "ro"], "translation"),
}


@pytest.mark.parametrize(
    ("task", "fmt"),
    [("classify", "csv"), ("generate", "jsonl"), ("summarize", "json"), ("translate", "csv")],
)
def test_every_task_writes_a_format(tiny, tmp_path, task, fmt):
    model, extra, field = TASKS[task]
    out_file = tmp_path / f"out.{fmt}"
    result = run_nlpkit(
        task,
        "the movie is great .",
        "python",
        "-m",
        tiny[model],
        *extra,
        "-f",
        fmt,
        "-o",
        str(out_file),
    )
    assert result.returncode == 0, result.stderr
    rows = parse(fmt, out_file.read_text())
    assert [r.get("prompt", r.get("text")) for r in rows] == ["the movie is great .", "python"]
    assert all(field in r for r in rows)


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_table_from_input_file(tiny, tmp_path, task):
    model, extra, _ = TASKS[task]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "body": f"text {i}"}) + "\n" for i in range(3)))
    result = run_nlpkit(
        task, "--input", str(source), "--text-column", "body", "-m", tiny[model], *extra
    )
    assert result.returncode == 0, result.stderr
    assert "text 2" in result.stdout and "─" in result.stdout


def test_stdin_pipe_keeps_stdout_clean(tiny):
    lines = "".join(f"the movie {i} was great .\n" for i in range(40))
    result = run_nlpkit("classify", "-", "-m", tiny["bert"], "-f", "jsonl", input=lines)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == lines.splitlines()


def test_reader_leaving_early_is_not_an_error(tiny, tmp_path):
    """`nlpkit classify ... | head -1`: exit 0, nothing on stderr (broken pipe handled)."""
    source = tmp_path / "in.txt"
    source.write_text("".join(f"the movie {i} was great .\n" for i in range(5000)))
    command = [*nlpkit_command(), "classify", "-i", str(source), "-m", tiny["bert"]]
    process = subprocess.Popen(
        [*command, "-f", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` does once it has its line
    err = process.stderr.read()
    assert process.wait(timeout=180) == 0, err
    assert json.loads(first)["text"] == "the movie 0 was great ." and err == ""


def test_output_extension_picks_the_format_and_table_columns_carry(tiny, tmp_path):
    """-o out.csv writes csv, -o out.parquet parquet; the input's id and gold label come along."""
    import pyarrow.parquet as pq

    source = tmp_path / "dev.tsv"
    source.write_text("id\tsentence\tlabel\na1\tthe movie is great .\t1\nb2\tawful .\t0\n")
    for name in ("out.csv", "out.parquet"):
        result = run_nlpkit(
            "classify", "-i", str(source), "-m", tiny["bert"], "-o", name, cwd=tmp_path
        )
        assert result.returncode == 0 and result.stderr == "", result.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert list(rows[0]) == ["text", "label", "score", "top", "id", "input_label"]
    assert [(r["id"], r["input_label"], r["text"]) for r in rows] == [
        ("a1", "1", "the movie is great ."),
        ("b2", "0", "awful ."),
    ]
    table = pq.read_table(tmp_path / "out.parquet")
    assert str(table.schema.field("top").type) == (
        "list<element: struct<label: string, score: double>>"
    )
    assert table.column("id").to_pylist() == ["a1", "b2"]
    result = run_nlpkit(
        "classify", "-i", str(source), "-m", tiny["bert"], "-o", "out.tsv", cwd=tmp_path
    )
    assert result.returncode == 2 and "cannot tell the output format" in result.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_error_is_one_line_and_exit_code(tiny):
    result = run_nlpkit("classify", "x", "--model", "org/not-cached")
    assert result.returncode == 1
    assert result.stderr.startswith("error: model 'org/not-cached'")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_python_dash_m_and_version():
    result = subprocess.run(
        [sys.executable, "-m", "nlpkit", "--version"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0 and result.stdout.startswith("nlpkit ")


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["classify", "--help"],
        ["classify", "--top-k", "x"],
        ["models"],
        ["generate", "-h"],
        # A Hub model that cannot be had offline fails before torch is imported.
        ["classify", "hi", "--model", "org/absent-model"],
        ["generate", "hi", "--model", "org/absent-model"],
        ["summarize", "hi", "--model", "org/absent-model"],
        ["translate", "hi", "--src", "en", "--tgt", "xx"],
    ],
)
def test_help_and_argument_errors_do_not_import_heavy_libraries(args):
    start = time.perf_counter()
    stderr = run_import_check(*args).stderr
    elapsed = time.perf_counter() - start
    assert "HEAVY []" in stderr, stderr
    assert elapsed < 3, f"start-up took {elapsed:.2f}s"
