"""Input readers: every format, and a clear InputError for every bad input."""

from __future__ import annotations

import io
import json

import pytest

from nlpkit.data import collect_texts, read_document
from nlpkit.errors import InputError


def write(path, text: str, encoding: str = "utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def test_arguments_and_stdin_keep_order():
    stdin = io.StringIO("from stdin 1\nfrom stdin 2\n")
    assert collect_texts(["a", "-", "b"], stdin=stdin) == ["a", "from stdin 1", "from stdin 2", "b"]


def test_txt_lines(tmp_path):
    path = write(tmp_path / "in.txt", "one\ntwo\r\nthree\n")
    assert collect_texts(input_file=path) == ["one", "two", "three"]


def test_csv_guesses_text_column(tmp_path):
    path = write(tmp_path / "in.csv", 'id,text\n1,"hello, world"\n2,bye\n')
    assert collect_texts(input_file=path) == ["hello, world", "bye"]


def test_tsv_reads_quotes_literally(tmp_path):
    path = write(tmp_path / "in.tsv", 'sentence\tlabel\n"quoted" start\t1\nit \'s "fine\t0\n')
    assert collect_texts(input_file=path) == ['"quoted" start', "it 's \"fine"]


def test_jsonl_with_column_and_plain_strings(tmp_path):
    rows = [{"review": "good", "id": 1}, {"review": "bad", "id": 2}]
    path = write(tmp_path / "in.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert collect_texts(input_file=path, text_column="review") == ["good", "bad"]
    plain = write(tmp_path / "plain.jsonl", '"a"\n"b"\n')
    assert collect_texts(input_file=plain) == ["a", "b"]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["x", "y"], "n": [1, 2]}), path)
    assert collect_texts(input_file=path) == ["x", "y"]


def test_document_is_whole_file(tmp_path):
    path = write(tmp_path / "doc.txt", "line one\nline two\n")
    assert read_document(path) == "line one\nline two\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty file"),
        ("header.csv", "text,label\n", "header only"),
        ("ragged.csv", "text,label\na,1\nb\n", "line 3: 1 field, header has 2"),
        ("nocol.csv", "a,b\n1,2\n", "--text-column"),
        ("badjson.jsonl", '{"text": "a"}\n{oops\n', "line 2: invalid JSON"),
        ("nulls.jsonl", '{"text": null}\n', "is null"),
        ("number.jsonl", "[1, 2]\n", "expected an object"),
        ("blank.txt", "one\n   \nthree\n", "line 2: empty text"),
        ("quote.csv", 'text\n"unterminated\n', "malformed CSV"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(InputError, match=message):
        collect_texts(input_file=path)


def test_missing_named_column(tmp_path):
    path = write(tmp_path / "in.csv", "text\na\n")
    with pytest.raises(InputError, match="no column 'body'; columns are 'text'"):
        collect_texts(input_file=path, text_column="body")


def test_not_utf8_names_line(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="line 2 is not valid UTF-8"):
        collect_texts(input_file=path)


def test_binary_parquet_garbage(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(InputError, match="not a readable parquet"):
        collect_texts(input_file=path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        collect_texts(input_file=tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a directory"):
        collect_texts(input_file=tmp_path)


def test_empty_inputs_and_skip_empty():
    with pytest.raises(InputError, match="no input text"):
        collect_texts([])
    with pytest.raises(InputError, match="argument 2: empty text"):
        collect_texts(["fine", "  "])
    assert collect_texts(["fine", "  ", ""], skip_empty=True) == ["fine"]
    with pytest.raises(InputError, match="no input text left after dropping 1"):
        collect_texts(["  "], skip_empty=True)
