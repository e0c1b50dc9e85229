"""Output formats and safe writing."""

from __future__ import annotations

import csv
import io
import json

import pytest

from nlpkit.cli.options import OutputFormat
from nlpkit.cli.render import emit, format_rows, to_rows, write_atomic
from nlpkit.errors import OutputError
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
