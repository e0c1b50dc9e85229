"""Input readers: every format, and a clear InputError for every bad input."""

from __future__ import annotations

import io
import json

import pytest

from nlpkit.errors import InputError
from nlpkit.inputs.readers import collect_texts, read_document


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


def test_one_empty_text_policy_for_lists_and_streams(tmp_path):
    """collect_texts and TextSource (count and records) word every empty-text case alike."""
    from nlpkit.inputs.stream import TextSource

    path = write(tmp_path / "gaps.txt", "one\n\ntwo\n  \n")
    cases = [
        (dict(input_file=path), r"gaps.txt line 2: empty text \(and 1 more\); .*--skip-empty"),
        (dict(texts=["  "], skip_empty=True), "no input text left after dropping 1 empty texts"),
        (dict(), "no input text: pass texts as arguments"),
    ]
    for options, message in cases:
        source = TextSource(**options)
        with pytest.raises(InputError, match=message):
            collect_texts(**options)
        with pytest.raises(InputError, match=message):
            source.count()
        streamed = message.replace(r" \(and 1 more\)", "")  # a stream stops at the first
        with pytest.raises(InputError, match=streamed):
            list(source.records())
    assert collect_texts(input_file=path, skip_empty=True) == ["one", "two"]
    assert TextSource(input_file=path, skip_empty=True).count() == 2
    assert list(TextSource(input_file=path, skip_empty=True).texts_iter()) == ["one", "two"]


# Training data without a header row: data.column_names and `evaluate --column-names`.

POSITIVE = ("great", "wonderful", "amazing", "fine")


def headerless_tsv(path, rows: int | None = None):
    from tests.tiny_models import SENTENCES

    lines = [f"{s}\t{int(any(w in s for w in POSITIVE))}\n" for s in SENTENCES[:rows]]
    return write(path, "".join(lines))


def data_recipe(train_file, **data):
    from nlpkit.recipe.schema import validate_recipe

    content = {
        "task": "text-classification",
        "model": "google-bert/bert-base-uncased",
        "data": {"train_file": str(train_file), **data},
        "training": {"eval_strategy": "no"},
        "output_dir": "runs/x",
    }
    return validate_recipe(content)


def test_column_names_read_the_first_row_as_data(tmp_path):
    from nlpkit.training.data import load_raw

    path = headerless_tsv(tmp_path / "train.tsv", rows=5)
    raw = load_raw(data_recipe(path, column_names=["text", "label"]))["train"]
    assert raw.column_names == ["text", "label"] and len(raw) == 5
    assert raw[0]["text"] == "the movie is great ." and raw[0]["label"] == 1
    one = write(tmp_path / "one.csv", "a single row,0\n")  # one line is a row, not a header
    assert len(load_raw(data_recipe(one, column_names=["text", "label"]))["train"]) == 1


def test_column_names_must_match_the_fields_of_the_file(tmp_path):
    from nlpkit.training.data import load_raw

    path = headerless_tsv(tmp_path / "train.tsv", rows=3)
    recipe = data_recipe(path, column_names=["id", "text", "label"])
    with pytest.raises(InputError, match="the first row has 2 fields but 3 column names"):
        load_raw(recipe)


@pytest.mark.parametrize(
    ("content", "cells", "names"),
    [
        (None, '"the movie is great ." / "1"', "[text, label]"),
        (
            "3\tWall St. Bears Claw Back Into the Black\tReuters - short-sellers\n"
            "1\tsome other news headline here\tmore text\n",
            '"3" / "Wall St. Bears C ..."',
            "[label, text, column3]",
        ),
        (
            "great\tpositive\nawful\tnegative\nfine\tpositive\n",
            '"great" / "positive"',
            "[text, label]",
        ),
    ],
)
def test_a_header_that_looks_like_data_names_column_names(tmp_path, content, cells, names):
    from nlpkit.training.data import load_raw

    path = tmp_path / "train.tsv"
    headerless_tsv(path) if content is None else write(path, content)
    with pytest.raises(InputError) as caught:
        load_raw(data_recipe(path))
    message = str(caught.value)
    assert f"{path}: the first row looks like data, not a header ({cells}" in message
    assert f"name its columns with data.column_names: {names}" in message
    assert "mixes numbers" not in message


def test_a_real_header_is_unaffected(tmp_path):
    from nlpkit.training.data import label_names, load_raw

    path = write(tmp_path / "train.tsv", "sentence\tlabel\nthe movie is great .\t1\nbad\t0\n")
    raw = load_raw(data_recipe(path, text_column="sentence"))["train"]
    assert len(raw) == 2 and label_names(data_recipe(path), raw) == ["LABEL_0", "LABEL_1"]
    wrong = write(tmp_path / "wrong.tsv", "sentence\tsentiment\nthe movie is great .\t1\n")
    raw = load_raw(data_recipe(wrong, text_column="sentence"))["train"]  # no header guess
    with pytest.raises(InputError, match="data.label_column: no column 'label' in the train"):
        label_names(data_recipe(wrong, text_column="sentence"), raw)


def test_headerless_tsv_trains_and_evaluates_from_the_cli(tiny, tmp_path, capsys, monkeypatch):
    import yaml

    from tests.conftest import invoke

    train = headerless_tsv(tmp_path / "train.tsv")
    recipe = {
        "task": "text-classification",
        "model": tiny["bert"],
        "data": {"train_file": str(train), "column_names": ["text", "label"], "max_length": 32},
        "training": {"max_steps": 2, "batch_size": 8, "eval_strategy": "no"},
        "output_dir": str(tmp_path / "run"),
    }
    path = write(tmp_path / "recipe.yaml", yaml.safe_dump(recipe))
    code, _, err = invoke(capsys, monkeypatch, "finetune", str(path), "-f", "json")
    assert code == 0, err
    run = str(tmp_path / "run")
    args = ("evaluate", "--model", run, "--data", str(train), "-f", "json")
    code, out, err = invoke(capsys, monkeypatch, *args, "--column-names", "text, label")
    assert code == 0, err
    assert json.loads(out)["samples"] == len(train.read_text().splitlines())
    code, _, err = invoke(capsys, monkeypatch, *args)  # --data: the file's own header, or none
    assert code == 2 and "the first row looks like data" in err
    assert "name its columns with --column-names text,label" in err
    del recipe["data"]["column_names"]
    write(path, yaml.safe_dump(recipe))
    code, _, err = invoke(capsys, monkeypatch, "finetune", str(path), "--overwrite")
    assert code == 2 and "name its columns with data.column_names: [text, label]" in err


def test_evaluate_guesses_the_text_column_as_classify_does(tiny, tmp_path, capsys, monkeypatch):
    from tests.conftest import invoke

    headered = write(tmp_path / "dev.tsv", "sentence\tlabel\nthe movie is great .\t1\nbad\t0\n")
    args = ("evaluate", "--model", tiny["bert"], "--task", "text-classification", "-f", "json")
    code, out, err = invoke(capsys, monkeypatch, *args, "--data", str(headered))
    assert code == 0, err
    assert json.loads(out)["samples"] == 2
    headerless = headerless_tsv(tmp_path / "dev-no-header.tsv", rows=4)
    more = ("--data", str(headerless), "--column-names", "sentence,label")
    code, out, err = invoke(capsys, monkeypatch, *args, *more)
    assert code == 0, err
    assert json.loads(out)["samples"] == 4
