"""Large inputs stream: rows written chunk by chunk, Ctrl-C leaves a valid truncated file."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time

import pytest

from nlpkit.cli.options import OutputFormat
from nlpkit.cli.stream_output import Interrupted, run_streaming
from nlpkit.errors import InputError
from nlpkit.streaming import TextSource, chunked, stream_results
from tests.conftest import nlpkit_command, subprocess_env


def lines_file(folder, count: int, name: str = "in.txt"):
    path = folder / name
    path.write_text("".join(f"text number {i}\n" for i in range(count)), encoding="utf-8")
    return path


def fake_task(chunk: list[str]) -> list[dict]:
    return [{"text": text, "length": len(text)} for text in chunk]


def parse(fmt: OutputFormat, text: str) -> list[dict]:
    if fmt == OutputFormat.json:
        return json.loads(text)
    if fmt == OutputFormat.csv:
        return list(csv.DictReader(text.splitlines()))
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("fmt", [OutputFormat.jsonl, OutputFormat.csv, OutputFormat.json])
def test_chunks_write_every_row_in_order(tmp_path, fmt):
    source = TextSource(input_file=lines_file(tmp_path, 2500))
    out = tmp_path / f"out.{fmt.value}"
    assert run_streaming(fake_task, source, fmt, out, chunk_size=100) == 2500
    rows = parse(fmt, out.read_text(encoding="utf-8"))
    assert [row["text"] for row in rows] == [f"text number {i}" for i in range(2500)]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("fmt", [OutputFormat.jsonl, OutputFormat.csv, OutputFormat.json])
def test_interrupt_keeps_a_valid_truncated_file(tmp_path, fmt):
    calls = []

    def interrupted_on_third_chunk(chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fake_task(chunk)

    source = TextSource(input_file=lines_file(tmp_path, 1000))
    out = tmp_path / "out"
    with pytest.raises(Interrupted, match=f"after 200 of 1000 rows; partial output in {out}$"):
        run_streaming(interrupted_on_third_chunk, source, fmt, out, chunk_size=100)
    assert len(parse(fmt, out.read_text(encoding="utf-8"))) == 200
    assert Interrupted.exit_code == 130


def test_a_failure_leaves_no_output_and_bad_rows_fail_before_any_work(tmp_path):
    def broken(chunk):
        raise RuntimeError("model exploded")

    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        run_streaming(broken, TextSource(["a", "b"]), OutputFormat.jsonl, out)
    assert list(tmp_path.iterdir()) == []
    bad = tmp_path / "in.txt"
    bad.write_text("fine\n" * 5000 + "\n", encoding="utf-8")
    ran = []
    with pytest.raises(InputError, match="line 5001: empty text"):
        run_streaming(ran.append, TextSource(input_file=bad), OutputFormat.jsonl, out)
    assert ran == [] and not out.exists()


def test_stdin_streams_without_a_count(capsys):
    source = TextSource(["-"], stdin=iter(["a\n", "b\n", "c\n"]))
    assert source.count() is None
    assert run_streaming(fake_task, source, OutputFormat.jsonl, chunk_size=2) == 3
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == [
        "a",
        "b",
        "c",
    ]


def test_library_generator(tiny):
    from nlpkit import classify

    texts = (f"the movie is {w} ." for w in ["great", "awful", "fine"] * 5)
    results = list(stream_results(classify, chunked(texts, 4), model=tiny["bert"]))
    assert len(results) == 15 and results[1].text == "the movie is awful ."


def test_ctrl_c_on_a_real_run(tiny, tmp_path):
    """SIGINT to `nlpkit classify` on 60k lines: exit 130, a message, valid partial jsonl."""
    total = 60_000
    source = lines_file(tmp_path, total)
    out = tmp_path / "out.jsonl"
    command = [*nlpkit_command(), "classify", "-i", str(source), "-m", tiny["bert"]]
    command += ["-f", "jsonl", "-o", str(out)]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path
    )
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".out.jsonl.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert 0 < len(rows) < total and err.strip().splitlines()[-1] == (
        f"error: interrupted after {len(rows)} of {total} rows; partial output in {out}"
    )
    assert rows[0]["text"] == "text number 0" and not list(tmp_path.glob(".*.tmp"))
