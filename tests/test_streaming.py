"""Large inputs stream: rows written chunk by chunk, Ctrl-C leaves a valid truncated file."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest

from nlpkit.cli.options import OutputFormat
from nlpkit.cli.stream_output import Interrupted, run_streaming
from nlpkit.errors import InputError, UsageError
from nlpkit.inputs.stream import TextSource, chunked, stream_results
from tests.conftest import nlpkit_command, subprocess_env


def lines_file(folder, count: int, name: str = "in.txt"):
    path = folder / name
    path.write_text("".join(f"text number {i}\n" for i in range(count)), encoding="utf-8")
    return path


def fake_task(chunk: list[str], progress=None) -> list[dict]:
    return [{"text": text, "length": len(text)} for text in chunk]


def parse(fmt: OutputFormat, path) -> list[dict]:
    if fmt == OutputFormat.parquet:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if fmt == OutputFormat.json:
        return json.loads(text)
    if fmt == OutputFormat.csv:
        return list(csv.DictReader(text.splitlines()))
    return [json.loads(line) for line in text.splitlines()]


FILE_FORMATS = [OutputFormat.jsonl, OutputFormat.csv, OutputFormat.json, OutputFormat.parquet]


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_chunks_write_every_row_in_order(tmp_path, fmt):
    source = TextSource(input_file=lines_file(tmp_path, 2500))
    out = tmp_path / f"out.{fmt.value}"
    assert run_streaming(fake_task, source, fmt, out, chunk_size=100) == 2500
    rows = parse(fmt, out)
    assert [row["text"] for row in rows] == [f"text number {i}" for i in range(2500)]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_interrupt_keeps_a_valid_truncated_file(tmp_path, fmt):
    calls = []

    def interrupted_on_third_chunk(chunk, progress=None):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fake_task(chunk)

    source = TextSource(input_file=lines_file(tmp_path, 1000))
    out = tmp_path / "out"
    with pytest.raises(Interrupted, match=f"after 200 of 1000 rows; partial output in {out}$"):
        run_streaming(interrupted_on_third_chunk, source, fmt, out, chunk_size=100)
    assert len(parse(fmt, out)) == 200
    assert Interrupted.exit_code == 130
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("o.csv", "csv"), ("o.json", "json"), ("o.jsonl", "jsonl"), ("o.PARQUET", "parquet")],
)
def test_output_extension_picks_the_format(tmp_path, name, fmt):
    """-o out.csv without --format writes csv (the default format, table, means: ask the name)."""
    out = tmp_path / name
    run_streaming(fake_task, TextSource(["a", "b"]), OutputFormat.table, out)
    assert [row["text"] for row in parse(OutputFormat(fmt), out)] == ["a", "b"]


def test_explicit_format_beats_the_extension_with_a_warning(tmp_path, capsys):
    out = tmp_path / "o.json"
    run_streaming(fake_task, TextSource(["a", "b"]), OutputFormat.csv, out)
    assert [row["text"] for row in parse(OutputFormat.csv, out)] == ["a", "b"]
    assert "warning: writing csv to" in capsys.readouterr().err
    other = tmp_path / "o.txt"  # an extension that names no format: no warning
    run_streaming(fake_task, TextSource(["a"]), OutputFormat.jsonl, other)
    assert parse(OutputFormat.jsonl, other) == [{"text": "a", "length": 1}]
    assert capsys.readouterr().err == ""


def test_unknown_extension_without_format_fails_before_any_work(tmp_path):
    ran = []
    with pytest.raises(UsageError, match=r"o\.tsv: cannot tell the output format.*--format"):
        run_streaming(ran.append, TextSource(["a"]), OutputFormat.table, tmp_path / "o.tsv")
    with pytest.raises(UsageError, match="parquet writes a file"):
        run_streaming(ran.append, TextSource(["a"]), OutputFormat.parquet)
    assert ran == [] and list(tmp_path.iterdir()) == []


TABLE_INPUTS = {
    "in.csv": 'id,sentence,label\n7,good film,1\n8,"bad, bad",0\n9,fine,1\n',
    "in.tsv": "id\tsentence\tlabel\n7\tgood film\t1\n8\tbad, bad\t0\n9\tfine\t1\n",
    "in.jsonl": "".join(
        json.dumps({"id": i, "sentence": t, "label": g}) + "\n"
        for i, t, g in [(7, "good film", "1"), (8, "bad, bad", "0"), (9, "fine", "1")]
    ),
}


@pytest.mark.parametrize("name", [*TABLE_INPUTS, "in.parquet"])
def test_keep_columns_carries_the_other_columns_in_input_order(tmp_path, name):
    path = tmp_path / name
    if name == "in.parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = {"id": [7, 8, 9], "sentence": ["good film", "bad, bad", "fine"]}
        pq.write_table(pa.table({**table, "label": ["1", "0", "1"]}), path)
    else:
        path.write_text(TABLE_INPUTS[name], encoding="utf-8")

    def classify_like(chunk, progress=None):  # a result field named like a gold column
        return [{"text": text, "label": "positive"} for text in chunk]

    out = tmp_path / "out.jsonl"
    source = TextSource(input_file=path, keep_columns=True)
    assert run_streaming(classify_like, source, OutputFormat.jsonl, out, chunk_size=2) == 3
    rows = parse(OutputFormat.jsonl, out)
    assert [list(row) for row in rows] == [["text", "label", "id", "input_label"]] * 3
    assert [row["text"] for row in rows] == ["good film", "bad, bad", "fine"]
    assert [str(row["id"]) for row in rows] == ["7", "8", "9"]
    assert [row["input_label"] for row in rows] == ["1", "0", "1"]
    assert {row["label"] for row in rows} == {"positive"}
    out.unlink()
    run_streaming(classify_like, TextSource(input_file=path), OutputFormat.jsonl, out)
    assert list(parse(OutputFormat.jsonl, out)[0]) == ["text", "label"]  # off by default


def test_kept_columns_follow_skip_empty_and_argument_texts():
    source = TextSource(["typed"], None, None, True, keep_columns=True)
    assert list(source.records()) == [("typed", {})]  # no file, no columns


def test_kept_columns_skip_dropped_rows(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,id\na,1\n,2\nc,3\n", encoding="utf-8")
    source = TextSource(["typed"], path, skip_empty=True, keep_columns=True)
    assert source.count() == 3
    assert list(source.records()) == [
        ("typed", {"id": None}),
        ("a", {"id": "1"}),
        ("c", {"id": "3"}),
    ]


def test_progress_advances_per_batch_not_per_chunk(tmp_path, monkeypatch):
    """The task reports each batch through progress=; the CLI's bar adds them up."""
    from nlpkit.cli import stream_output

    advanced = []

    @contextmanager
    def recording_bar(total, description, enabled):
        yield advanced.append

    monkeypatch.setattr(stream_output, "progress_bar", recording_bar)

    def batched_task(chunk, progress=None):
        for start in range(0, len(chunk), 8):
            progress(len(chunk[start : start + 8]))
        return fake_task(chunk)

    source = TextSource(input_file=lines_file(tmp_path, 100))
    run_streaming(batched_task, source, OutputFormat.jsonl, tmp_path / "o.jsonl", chunk_size=50)
    assert advanced == [8] * 6 + [2] + [8] * 6 + [2]


def test_task_functions_report_batches_to_a_callback(tiny, capsys):
    from nlpkit import classify

    batches = []
    texts = [f"the movie is {w} ." for w in ["great", "awful", "fine", "long", "ok"]]
    results = classify(texts, model=tiny["bert"], batch_size=2, progress=batches.append)
    assert batches == [2, 2, 1] and len(results) == 5
    assert capsys.readouterr().err == ""  # a callback: the library itself draws nothing


def test_a_failure_leaves_no_output_and_bad_rows_fail_before_any_work(tmp_path):
    def broken(chunk, progress=None):
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
    """SIGINT to `nlpkit classify -i FILE -o FILE` (a batch job): exit 130, a message, the
    done shards kept; the same command with --resume finishes every row once."""
    total = 20_000  # long enough that the job is still running when the signal lands
    source = lines_file(tmp_path, total)
    out = tmp_path / "out.jsonl"
    command = [*nlpkit_command(), "classify", "-i", str(source), "-m", tiny["bert"]]
    command += ["-o", str(out), "--shard-rows", "500"]
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        # as from a terminal: a suite started in the background (nohup, `&`) would hand
        # its children an ignored SIGINT, and Python keeps it ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    manifest = tmp_path / "out.jsonl.parts" / "manifest.json"
    start = time.monotonic()
    while not (manifest.exists() and json.loads(manifest.read_text())["done"]):
        if process.poll() is not None or time.monotonic() > start + 120:
            process.kill()
            _, err = process.communicate()
            seen = sorted(p.name for p in tmp_path.iterdir())
            pytest.fail(
                f"no done shard to interrupt: exit {process.returncode} after "
                f"{time.monotonic() - start:.1f} s; files {seen}; stderr {err!r}"
            )
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    done = len(json.loads(manifest.read_text())["done"]) * 500
    assert 0 < done < total and not out.exists()
    assert err.strip().splitlines()[-1] == (
        f"error: interrupted after {done} of {total} rows; the done shards are kept in "
        f"{out}.parts: rerun the same command with --resume"
    )
    resumed = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows == [f"text number {i}" for i in range(total)]
    assert not list(tmp_path.glob(".*.tmp")) and not manifest.exists()
