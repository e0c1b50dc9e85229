"""Output formats and safe writing."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest

from nlpkit.cli.options import OutputFormat
from nlpkit.cli.render import emit, format_rows, output_format, to_rows, write_atomic
from nlpkit.errors import OutputError, UsageError
from nlpkit.results import Classification, LabelScore

RESULTS = [
    Classification('good, "really"', "positive", 0.9, [LabelScore("positive", 0.9)]),
    Classification("bad", "negative", 0.8, [LabelScore("negative", 0.8)]),
]


def test_json_and_jsonl_round_trip():
    rows = to_rows(RESULTS)
    assert json.loads(format_rows(rows, OutputFormat.json)) == rows
    lines = format_rows(rows, OutputFormat.jsonl).splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_csv_flattens_top_labels():
    parsed = list(csv.DictReader(io.StringIO(format_rows(to_rows(RESULTS), OutputFormat.csv))))
    assert parsed[0]["text"] == 'good, "really"'
    assert parsed[0]["top"] == "positive 0.9000"


def test_table_goes_to_stdout(capsys):
    emit(RESULTS, OutputFormat.table)
    out = capsys.readouterr().out
    assert "positive" in out and "negative" in out


def test_output_file_is_never_overwritten_unasked(tmp_path):
    path = tmp_path / "out.jsonl"
    emit(RESULTS, OutputFormat.jsonl, path)
    first = path.read_text()
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        emit(RESULTS[:1], OutputFormat.jsonl, path)
    assert path.read_text() == first
    emit(RESULTS[:1], OutputFormat.jsonl, path, overwrite=True)
    assert len(path.read_text().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_unwritable_destination(tmp_path):
    with pytest.raises(OutputError, match="cannot write there"):
        write_atomic(tmp_path / "missing-dir" / "out.txt", "x")


def test_parquet_keeps_nested_labels_as_arrow_types(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "out.parquet"
    emit(RESULTS, OutputFormat.table, path)  # the default format: the extension decides
    table = pq.read_table(path)
    assert table.schema.field("top").type.value_type.names == ["label", "score"]
    assert table.to_pylist() == to_rows(RESULTS)


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        ("table", None, "table"),
        ("table", "o.csv", "csv"),
        ("table", "o.ndjson", "jsonl"),
        ("table", "dir/o.Parquet", "parquet"),
        ("json", "o.csv", "json"),  # --format wins (with a warning)
        ("jsonl", "o", "jsonl"),
    ],
)
def test_output_format_from_flag_or_extension(fmt, name, expected):
    output = Path(name) if name else None
    assert output_format(OutputFormat(fmt), output) == OutputFormat(expected)


def test_output_format_refuses_to_guess():
    with pytest.raises(UsageError, match="cannot tell the output format from its extension"):
        output_format(OutputFormat.table, Path("out.tsv"))
    with pytest.raises(UsageError, match="pass --output FILE.parquet"):
        output_format(OutputFormat.parquet, None)


@pytest.fixture
def umask():
    """Set the process umask for one test, then put it back."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_written_files_get_the_umask_permissions(
    tmp_path, monkeypatch, umask, mask, file_mode, dir_mode
):
    """-o outputs, run-folder files and model-store entries: one atomic writer, user's umask."""
    from nlpkit.cli.stream_output import run_streaming
    from nlpkit.inputs.stream import TextSource
    from nlpkit.models.store import ensure_entry
    from nlpkit.training.outputs import write_text

    def rows(texts, progress=None):
        return [{"text": text} for text in texts]

    umask(mask)
    outputs = [tmp_path / name for name in ("o.jsonl", "o.csv", "o.parquet", "e.json")]
    for out in outputs[:3]:
        run_streaming(rows, TextSource(["a"]), OutputFormat.table, out)
    emit(RESULTS, OutputFormat.json, outputs[3])
    write_atomic(tmp_path / "recipe.yaml", "x: 1\n")
    write_text(tmp_path / "metrics.json", "{}\n")
    for path in [*outputs, tmp_path / "recipe.yaml", tmp_path / "metrics.json"]:
        assert mode(path) == file_mode, path.name

    source = tmp_path / "model.gguf"
    source.write_bytes(b"GGUF")

    def build(_source, folder):
        import torch
        from safetensors.torch import save_file

        (folder / "config.json").write_text("{}")
        save_file({"w": torch.zeros(1)}, folder / "model.safetensors")  # written 0600

    monkeypatch.setenv("NLPKIT_HOME", str(tmp_path / "home"))
    entry = ensure_entry("tiny", source, build, "building")
    assert mode(entry) == dir_mode and mode(entry / "config.json") == file_mode
    assert mode(entry / "model.safetensors") == file_mode
