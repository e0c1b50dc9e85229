"""Batch jobs: shards + manifest, kill -9 and --resume, N processes, Ray, metrics, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nlpkit.batch.job import Engine, JobInterrupted, run_job
from nlpkit.errors import InputError, OutputError, UsageError
from tests.conftest import invoke, nlpkit_command, run_nlpkit, subprocess_env

WORDS = ["great", "awful", "fine", "boring", "wonderful", "bad"]


def write_input(folder: Path, count: int, name: str = "in.jsonl", bad: bool = True) -> Path:
    """jsonl rows {id, text, label}; with ``bad`` an empty text, a null and a broken line."""
    lines = []
    for i in range(count):
        text = f"the movie {i} was {WORDS[i % len(WORDS)]} ."
        if bad and i in (3, count - 2):
            text = "" if i == 3 else None
        lines.append(json.dumps({"id": f"r{i}", "text": text, "label": i % 2}))
    if bad:
        lines.insert(7, "{not json")
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def job(tiny, source, output, **options):
    return run_job("classify", source, output, model=tiny["bert"], **options)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_job_writes_what_the_plain_command_writes(tiny, tmp_path, capsys, monkeypatch, fmt):
    """Shards joined == the streaming output of the same rows; no parts folder is left."""
    source = write_input(tmp_path, 40, bad=False)
    args = ["classify", "-i", str(source), "-m", tiny["bert"]]
    code, stdout, _ = invoke(capsys, monkeypatch, *args, "-f", fmt if fmt != "parquet" else "jsonl")
    assert code == 0
    output = tmp_path / f"out.{fmt}"
    code, _, err = invoke(capsys, monkeypatch, *args, "-o", str(output), "--shard-rows", "7")
    assert code == 0, err
    if fmt == "csv":
        assert output.read_bytes().decode() == stdout  # byte for byte
    else:
        expected = [json.loads(line) for line in stdout.splitlines()]
        assert read_rows(output) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", output.name]


def test_unreadable_rows_go_to_the_errors_file_and_strict_stops_first(tiny, tmp_path):
    source = write_input(tmp_path, 30)
    result = job(tiny, source, tmp_path / "out.jsonl", id_column="id", shard_rows=8)
    rows = read_rows(tmp_path / "out.jsonl")
    assert (result.total, result.rows, result.errors) == (31, 28, 3)
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(30) if i not in (3, 28)]
    errors = read_rows(result.errors_file)
    assert result.errors_file == tmp_path / "out.errors.jsonl"
    assert [(e["row"], e.get("id"), e["error"]) for e in errors] == [
        (3, "r3", "empty text"),
        (7, None, "invalid JSON (Expecting property name enclosed in double quotes)"),
        (29, "r28", "column 'text' is null; fill or drop the row"),
    ]
    assert errors[0]["where"] == f"{source} row 4"
    with pytest.raises(InputError, match=r"in\.jsonl row 4: empty text; fix the row, or drop"):
        job(tiny, source, tmp_path / "strict.jsonl", strict=True)
    assert sorted(p.name for p in tmp_path.glob("strict*")) == []


@pytest.mark.parametrize(("name", "content"), [("in.txt", ""), ("in.csv", "text,label\n")])
def test_an_input_without_rows_fails_the_job_and_writes_nothing(tiny, tmp_path, name, content):
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    for strict in (False, True):
        with pytest.raises(InputError, match=rf"{name}: no rows to process"):
            job(tiny, source, tmp_path / "out.jsonl", strict=strict)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no parts


def test_classify_metrics_map_label_ids_to_names(tiny, tmp_path):
    source = write_input(tmp_path, 20, bad=False)
    result = job(tiny, source, tmp_path / "out.csv", gold_column="label", labels=["neg", "pos"])
    saved = json.loads((tmp_path / "out.metrics.json").read_text())
    rows = read_rows(tmp_path / "out.csv")
    gold = ["neg" if r["input_label"] == "0" else "pos" for r in rows]
    accuracy = sum(r["label"] == g for r, g in zip(rows, gold, strict=True)) / len(rows)
    assert saved == result.metrics and saved["rows"] == 20 and saved["label_column"] == "label"
    assert saved["accuracy"] == pytest.approx(accuracy) and 0 <= saved["f1_macro"] <= 1


def test_summarize_and_translate_score_against_a_reference_column(tiny, tmp_path):
    source = tmp_path / "pairs.csv"
    rows = [f'"the movie {i} was great .","der film {i} war gut ."' for i in range(6)]
    source.write_text("text,reference\n" + "\n".join(rows) + "\n", encoding="utf-8")
    summary = run_job(
        "summarize",
        source,
        tmp_path / "s.jsonl",
        model=tiny["t5"],
        max_new_tokens=4,
        gold_column="reference",
    )
    assert set(summary.metrics) == {
        "task",
        "reference_column",
        "rows",
        "rouge1",
        "rouge2",
        "rougeL",
    }
    translation = run_job(
        "translate",
        source,
        tmp_path / "t.jsonl",
        model=tiny["marian"],
        max_new_tokens=4,
        gold_column="reference",
    )
    assert {"bleu", "chrf"} <= set(translation.metrics) and translation.metrics["rows"] == 6
    assert json.loads((tmp_path / "t.metrics.json").read_text()) == translation.metrics


def test_processes_write_the_single_process_output(tiny, tmp_path, monkeypatch):
    from nlpkit.batch import processes

    monkeypatch.setattr(processes, "MIN_ROWS_CLASSIFYING", 100)  # 300 rows: 2 workers
    source = write_input(tmp_path, 300)
    single = job(tiny, source, tmp_path / "one.jsonl", shard_rows=40, id_column="id")
    ticks = []
    pooled = job(
        tiny,
        source,
        tmp_path / "two.jsonl",
        shard_rows=40,
        id_column="id",
        engine=Engine(processes=2),
        progress=lambda done, total: ticks.append((done, total)),
    )
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert (tmp_path / "two.errors.jsonl").read_bytes() == single.errors_file.read_bytes()
    assert pooled.rows == single.rows == 298 and ticks[-1] == (301, 301)
    assert [done for done, _ in ticks] == sorted(done for done, _ in ticks)


def test_a_job_too_short_for_more_processes_says_so_and_runs_in_one(tiny, tmp_path):
    from nlpkit.batch import processes
    from nlpkit.errors import NlpkitWarning

    source = write_input(tmp_path, 300)
    with pytest.warns(NlpkitWarning, match="301 rows are too few to gain from 2 processes"):
        short = job(tiny, source, tmp_path / "a.jsonl", shard_rows=40, engine=Engine(processes=2))
    with pytest.warns(NlpkitWarning, match="the job is one shard of 301 rows"):
        job(tiny, source, tmp_path / "b.jsonl", engine=Engine(processes=2))
    assert short.rows == 298
    assert processes.worth_processes("classify", 4_000, 2, 2) is None
    assert processes.worth_processes("generate", 16, 2, 2) is None


def test_a_worker_that_cannot_load_its_model_fails_the_job_with_that_error(tmp_path, monkeypatch):
    from nlpkit.batch import processes
    from nlpkit.errors import ModelLoadError

    monkeypatch.setattr(processes, "MIN_ROWS_CLASSIFYING", 1)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert"}))
    source = write_input(tmp_path, 50, bad=False)
    with pytest.raises(ModelLoadError, match="no weights"):
        run_job("classify", source, tmp_path / "o.jsonl", model=str(broken), shard_rows=10,
                engine=Engine(processes=2))  # fmt: skip


@pytest.fixture
def local_ray():
    """A Ray cluster on 127.0.0.1 with 2 CPUs, started and stopped by the test."""
    ray = pytest.importorskip("ray")
    ray.init("local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.xdist_group("ray")  # one Ray at a time
def test_ray_engine_writes_the_single_process_output(
    tiny, tmp_path, local_ray, capsys, monkeypatch
):
    source = write_input(tmp_path, 120)
    job(tiny, source, tmp_path / "one.parquet", shard_rows=25, id_column="id")
    result = job(
        tiny,
        source,
        tmp_path / "ray.parquet",
        shard_rows=25,
        id_column="id",
        engine=Engine("ray", workers=2),
    )
    assert read_rows(tmp_path / "ray.parquet") == read_rows(tmp_path / "one.parquet")
    assert result.engine == "ray" and result.rows == 118 and result.errors == 3
    errors = [(tmp_path / f"{name}.errors.jsonl").read_text() for name in ("ray", "one")]
    assert errors[0] == errors[1]
    cli = ["classify", "-i", str(source), "-m", tiny["bert"], "-o", str(tmp_path / "cli.csv")]
    code, _, err = invoke(capsys, monkeypatch, *cli, "--engine", "ray", "--workers", "2")
    assert code == 0 and "3 unreadable rows" in err, err
    assert [row["text"] for row in read_rows(tmp_path / "cli.csv")] == [
        row["text"] for row in read_rows(tmp_path / "one.parquet")
    ]


def test_resume_refuses_another_job_and_an_unfinished_job_needs_a_choice(tiny, tmp_path):
    source = write_input(tmp_path, 30, bad=False)
    output = tmp_path / "out.jsonl"

    def stop_after_two_shards(done, total):  # Ctrl-C while the third shard runs
        if done > 20:
            raise KeyboardInterrupt

    with pytest.raises(JobInterrupted, match="interrupted after 20 of 30 rows"):
        job(tiny, source, output, shard_rows=10, progress=stop_after_two_shards)
    manifest = json.loads((tmp_path / "out.jsonl.parts" / "manifest.json").read_text())
    assert sorted(manifest["done"]) == ["0", "1"] and not output.exists()
    with pytest.raises(OutputError, match="unfinished job .20 of 30 rows done.; pass --resume"):
        job(tiny, source, output, shard_rows=10)
    with pytest.raises(UsageError, match=r"other settings \(shard_rows, options\)"):
        job(tiny, source, output, shard_rows=5, top_k=2, resume=True)
    result = job(tiny, source, output, shard_rows=10, resume=True)
    assert (result.resumed_rows, result.rows) == (20, 30)
    assert [r["id"] for r in read_rows(output)] == [f"r{i}" for i in range(30)]
    with pytest.raises(OutputError, match="nothing to resume"):
        job(tiny, source, output, shard_rows=10, resume=True)


def test_job_flags_need_a_job_and_engines_their_own_flags(tiny, tmp_path, capsys, monkeypatch):
    source = write_input(tmp_path, 5, bad=False)
    base = ["classify", "-m", tiny["bert"]]
    cases = [
        ([*base, "x", "--resume"], "--resume is for batch jobs"),
        ([*base, "-i", str(source), "--processes", "2"], "--processes is for batch jobs"),
        ([*base, "-i", str(source), "-o", "o.json", "--id-column", "id"], "--id-column is for"),
        (
            [*base, "-i", str(source), "-o", f"{tmp_path}/o.jsonl", "--workers", "2"],
            "--workers needs --engine ray",
        ),
        (
            [*base, "-i", str(source), "-o", f"{tmp_path}/o.jsonl", "--id-column", "nope"],
            "no column 'nope'",
        ),
    ]
    for args, message in cases:
        code, _, err = invoke(capsys, monkeypatch, *args)
        assert code == 2 and message in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def wait_for_shards(process, parts: Path, at_least: int, timeout: float = 120) -> int:
    """Block until the manifest names ``at_least`` done shards; their count then."""
    start = time.monotonic()
    while time.monotonic() < start + timeout:
        try:
            done = len(json.loads((parts / "manifest.json").read_text())["done"])
        except (FileNotFoundError, ValueError, KeyError):
            done = 0
        if done >= at_least:
            return done
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no shard done to kill after: exit {process.returncode}, {process.stderr.read()}")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_kill_9_then_resume_loses_and_repeats_no_row(tiny, tmp_path, fmt):
    """A real `nlpkit classify` killed with SIGKILL after a shard; --resume finishes it."""
    source = write_input(tmp_path, 6000)
    output = tmp_path / f"out.{fmt}"
    command = [*nlpkit_command(), "classify", "-i", str(source), "-m", tiny["bert"]]
    command += ["-o", str(output), "--id-column", "id", "--shard-rows", "200"]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=subprocess_env(OMP_NUM_THREADS="1")
    )
    done = wait_for_shards(process, Path(f"{output}.parts"), at_least=2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and not output.exists()
    assert done < 31, "the job finished before the kill: make the input longer"
    resumed = run_nlpkit(*command[len(nlpkit_command()) :], "--resume", OMP_NUM_THREADS="1")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed: " in resumed.stderr and "3 unreadable rows" in resumed.stderr
    ids = [str(row["id"]) for row in read_rows(output)]
    assert ids == [f"r{i}" for i in range(6000) if i not in (3, 5998)]  # none lost, none twice
    expected = tmp_path / f"whole.{fmt}"
    job(tiny, source, expected, id_column="id", shard_rows=200)

    def key(rows):
        return [(str(r["id"]), r["text"], r["label"]) for r in rows]

    assert key(read_rows(output)) == key(read_rows(expected))
    assert not Path(f"{output}.parts").exists()


def test_a_warning_every_shard_repeats_is_shown_once(tiny, tmp_path, capsys, monkeypatch):
    source = tmp_path / "long.txt"
    long = " ".join(["the movie was great ."] * 40)
    source.write_text("\n".join([long, long, "short .", long]) + "\n", encoding="utf-8")
    args = ["classify", "-i", str(source), "-m", tiny["bert"], "-o", str(tmp_path / "o.jsonl")]
    code, _, err = invoke(capsys, monkeypatch, *args, "--shard-rows", "2")  # 2 of 2, 1 of 2
    assert code == 0 and len(read_rows(tmp_path / "o.jsonl")) == 4
    assert err.count("were truncated") == 1, err


def test_kill_9_of_a_process_pool_leaves_no_worker_and_resumes(tiny, tmp_path):
    source = write_input(tmp_path, 6000, bad=False)
    output = tmp_path / "out.jsonl"
    command = [*nlpkit_command(), "classify", "-i", str(source), "-m", tiny["bert"]]
    command += ["-o", str(output), "--shard-rows", "200", "--processes", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    wait_for_shards(process, Path(f"{output}.parts"), at_least=2)
    workers = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(workers) >= 2, workers
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}/status").exists()]
    assert all("zombie" in Path(f"/proc/{pid}/status").read_text() for pid in alive), alive
    resumed = run_nlpkit(*command[len(nlpkit_command()) :], "--resume")
    assert resumed.returncode == 0 and "resumed: " in resumed.stderr, resumed.stderr
    assert [row["id"] for row in read_rows(output)] == [f"r{i}" for i in range(6000)]


def test_progress_in_a_log_file_is_a_plain_line_with_rate_and_eta(capsys, monkeypatch):
    from nlpkit.cli import progress

    monkeypatch.setattr(progress, "JOB_LINE_EVERY_S", 0.0)
    clock = iter([100.0, 100.0, 110.0, 120.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with progress.JobProgress("classify") as report:  # stderr is not a terminal here
        report(2000, 10000)  # resumed: 2000 rows were done before, the clock starts
        report(4000, 10000)
    assert capsys.readouterr().err == (
        "classify rows 4000/10000 (40%) | 200 rows/s | ETA 0:00:30\n"
    )


@pytest.mark.parametrize("name", ["in.parquet", "in.jsonl", "in.csv", "in.txt", "in.json"])
def test_rows_from_a_start_equal_the_tail_of_all_rows(tmp_path, name):
    """Ray workers and resumed jobs start mid-file: skipped parquet row groups and
    unparsed json lines must not shift a row's number, text or columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nlpkit.batch.rows import RowSource

    texts = [f"text {i}" if i % 5 else "" for i in range(23)]
    path = tmp_path / name
    if name == "in.parquet":
        table = pa.table({"id": list(range(23)), "text": texts})
        pq.write_table(table, path, row_group_size=4)
    elif name == "in.csv":
        path.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts)))
    elif name == "in.txt":
        path.write_text("".join(f"{t}\n" for t in texts))
    else:
        items = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]
        body = "[" + ",\n".join(items) + "]" if name == "in.json" else "\n\n".join(items)
        path.write_text(body + "\n")
    source = RowSource(path)
    every = list(source.rows())
    assert len(every) == source.count() == 23
    assert [row.error for row in every].count("empty text") == 5
    for start in (0, 3, 4, 9, 22, 23):
        assert list(source.rows(start=start)) == every[start:]
