"""nlpkit.entities: offsets that index the text, transformers' grouping, long texts in
windows, the CLI and batch jobs, the no-head error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import nlpkit
from nlpkit.errors import ModelLoadError, UsageError
from nlpkit.tasks.entities.aggregate import AGGREGATIONS
from nlpkit.tasks.entities.windows import split
from tests.conftest import invoke, run_nlpkit
from tests.tiny_models import NER_SENTENCES, build_bert_tagger

ENTITY_FIELDS = ("text", "type", "start", "end", "score")

TEXTS = [
    *NER_SENTENCES,
    "Zoë  visited   Köln 🙂 with naïve café owners\tand  Ōsaka's mayor.",
    "  leading and trailing spaces  ",
    "a",
]


@pytest.fixture(scope="module")
def taggers(tmp_path_factory) -> dict[str, str]:
    """Tiny random NER models: WordPiece and BPE tokenizers, and a context-free model
    whose labels do not depend on the window around a token, twice: reading 64 tokens at
    once, and only 12 (so a long text takes many windows)."""
    root = tmp_path_factory.mktemp("taggers")
    folders = {
        "bert": build_bert_tagger(root / "bert"),
        "bpe": build_bert_tagger(root / "bpe", tokenizer="bpe"),
        "free": build_bert_tagger(root / "free", context_free=True),
    }
    narrow = Path(shutil.copytree(folders["free"], root / "narrow"))
    config_file = narrow / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config_file.write_text(json.dumps({**config, "model_max_length": 12}), encoding="utf-8")
    return {name: str(path) for name, path in {**folders, "narrow": narrow}.items()}


def spans(result) -> list[tuple[str, int, int]]:
    return [(e.type, e.start, e.end) for e in result.entities]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_every_entity_is_the_text_at_its_offsets(taggers, aggregation):
    results = nlpkit.entities(TEXTS, model=taggers["bert"], aggregation=aggregation)
    assert [r.text for r in results] == TEXTS
    assert sum(len(r.entities) for r in results) > 10
    for result in results:
        for entity in result.entities:
            assert entity.text == result.text[entity.start : entity.end] != ""
            assert 0 < entity.score <= 1
        starts = [e.start for e in result.entities]
        assert starts == sorted(starts)
        if aggregation != "none":  # groups never overlap
            ends = [e.end for e in result.entities]
            assert all(end <= start for end, start in zip(ends, starts[1:], strict=False))


@pytest.mark.parametrize("tokenizer", ["bert", "bpe"])
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_the_entities_of_transformers_pipeline(taggers, tokenizer, aggregation):
    """Same types and offsets as pipeline("token-classification"), scores to float noise."""
    from transformers import pipeline

    tagger = pipeline("token-classification", model=taggers[tokenizer], device="cpu")
    ours = nlpkit.entities(TEXTS, model=taggers[tokenizer], aggregation=aggregation)
    for text, result in zip(TEXTS, ours, strict=True):
        theirs = tagger(text, aggregation_strategy=aggregation)
        kind = "entity" if aggregation == "none" else "entity_group"
        assert spans(result) == [(e[kind], e["start"], e["end"]) for e in theirs]
        for entity, expected in zip(result.entities, theirs, strict=True):
            assert entity.score == pytest.approx(float(expected["score"]), abs=1e-4)


def test_a_long_text_in_windows_gives_the_entities_of_one_pass(taggers):
    """A model that reads 12 tokens at a time finds what one that reads 64 does: nothing
    lost or doubled where the windows meet, words cut by a window whole."""
    long_text = " ".join(NER_SENTENCES[:2])
    texts = [long_text, NER_SENTENCES[2]]
    tokens, windows = split(_tokenizer(taggers["narrow"]), texts, 12)
    assert len(tokens[0].ids) > 30 and sum(w.text == 0 for w in windows) > 3
    for aggregation in AGGREGATIONS:
        narrow = nlpkit.entities(texts, model=taggers["narrow"], aggregation=aggregation)
        wide = nlpkit.entities(texts, model=taggers["free"], aggregation=aggregation)
        assert [spans(r) for r in narrow] == [spans(r) for r in wide]
        assert len(narrow[0].entities) > 5
        for a, b in zip(narrow[0].entities, wide[0].entities, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_windows_cover_each_token_once(taggers):
    tokens, windows = split(_tokenizer(taggers["bert"]), [" ".join(NER_SENTENCES * 6)], 20)
    kept = [position for w in windows for position in range(*w.keep)]
    assert kept == list(range(len(tokens[0].ids)))
    for window in windows:  # a window's tokens are the text's tokens at its positions
        first = window.first
        assert [window.ids[k] for k in window.content] == tokens[0].ids[
            first : first + len(window.content)
        ]


def _tokenizer(folder: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


def test_a_model_without_a_token_head_is_refused(tiny):
    with pytest.raises(ModelLoadError, match="not a token classifier"):
        nlpkit.entities("Angela Merkel", model=tiny["bert"])


def test_an_unknown_aggregation_is_refused(taggers):
    with pytest.raises(UsageError, match="unknown aggregation 'longest'"):
        nlpkit.entities("Angela Merkel", model=taggers["bert"], aggregation="longest")


def test_the_cli_prints_a_line_per_entity(taggers, capsys, monkeypatch):
    text = NER_SENTENCES[0]
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    code, out, err = invoke(capsys, monkeypatch, "entities", text, "-m", taggers["bert"])
    assert code == 0, err
    expected = nlpkit.entities(text, model=taggers["bert"])[0].entities
    lines = [line for line in out.splitlines() if "│" in line or "┃" in line]
    assert "input_text" in lines[0] and "type" in lines[0] and "score" in lines[0]
    assert len(lines) == 1 + len(expected)
    for line, entity in zip(lines[1:], expected, strict=True):
        assert entity.type in line and f" {entity.start} " in line


def test_the_command_in_a_real_process(taggers, tmp_path):
    texts = [NER_SENTENCES[0], TEXTS[3]]
    done = run_nlpkit("entities", *texts, "-m", taggers["bert"], "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["text"] for row in rows] == texts
    for row in rows:
        for entity in row["entities"]:
            assert entity["text"] == row["text"][entity["start"] : entity["end"]]
    expected = nlpkit.entities(texts, model=taggers["bert"])
    assert [[e["type"] for e in row["entities"]] for row in rows] == [
        [e.type for e in r.entities] for r in expected
    ]


def test_a_batch_job_writes_entities_as_a_list_column(taggers, tmp_path):
    """Shards of two rows; the first one finds no entity (zero-width spaces tokenize to
    nothing), so its list column has no item type until the others show one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.jsonl"
    texts = ["\u200b", "\u200b", *NER_SENTENCES, "", "a"]
    lines = [json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)]
    source.write_text("".join(lines), encoding="utf-8")
    output = tmp_path / "out.parquet"
    args = ["-i", str(source), "-o", str(output), "-m", taggers["bert"], "--shard-rows", "2"]
    done = run_nlpkit("entities", *args)
    assert done.returncode == 0, done.stderr
    kind = pq.read_schema(output).field("entities").type
    assert pa.types.is_list(kind) and kind.value_type.names == [*ENTITY_FIELDS]
    rows = pq.read_table(output).to_pylist()
    assert [row["id"] for row in rows] == [0, 1, 2, 3, 4, 6]  # row 5 is empty: errors file
    assert rows[0]["entities"] == rows[1]["entities"] == []
    for row in rows:
        for entity in row["entities"]:
            assert entity["text"] == row["text"][entity["start"] : entity["end"]]


def test_parquet_rows_wait_for_a_list_to_show_its_items(tmp_path):
    from nlpkit.batch.writers import ParquetRows

    entity = {"text": "Paris", "type": "LOC", "start": 0, "end": 5, "score": 0.9}
    with (tmp_path / "out.parquet").open("wb") as handle:
        writer = ParquetRows(handle)
        writer.write([{"text": "a", "entities": []}])
        writer.write([{"text": "Paris", "entities": [entity]}])
        writer.close()
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [
        {"text": "a", "entities": []},
        {"text": "Paris", "entities": [entity]},
    ]


@pytest.fixture(scope="module")
def exported(taggers, tmp_path_factory) -> tuple[Path, dict]:
    """The WordPiece tagger exported to ONNX (fp32 and int8 through the gate), gated on
    sentences whose gold tags are PyTorch's own (so torch scores F1 1.0)."""
    from nlpkit.tasks.entities.gold import word_tags

    root = tmp_path_factory.mktemp("exported")
    folder = Path(shutil.copytree(taggers["bert"], root / "model"))
    sentences = [text.split() for text in [*NER_SENTENCES, *TEXTS[3:5]] * 4]
    found = nlpkit.entities(
        [" ".join(words) for words in sentences], model=str(folder), aggregation="first"
    )
    rows = [
        {"tokens": words, "ner_tags": word_tags(result.text, result.entities)}
        for words, result in zip(sentences, found, strict=True)
    ]
    gold = root / "gold.jsonl"
    gold.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = nlpkit.optimize(folder, int8=True, eval_data=gold)
    return folder, result.report


def test_the_gate_scores_entity_f1(exported):
    folder, report = exported
    assert report["torch"] == {"f1": 1.0} and report["gate"]["max_f1_drop"] == 0.005
    assert report["fp32"]["passed"] and report["fp32"]["agreement"] >= 0.99
    assert report["chosen"] in ("model.onnx", "model-int8.onnx")
    assert (folder / "onnx" / report["chosen"]).is_file()


def test_onnx_finds_the_entities_torch_finds(exported):
    folder, _ = exported
    for aggregation in AGGREGATIONS:
        on_torch = nlpkit.entities(
            TEXTS, model=str(folder), aggregation=aggregation, backend="torch"
        )
        on_onnx = _fp32(folder, aggregation)
        assert [spans(r) for r in on_onnx] == [spans(r) for r in on_torch]
        for a, b in zip(on_onnx, on_torch, strict=True):
            for x, y in zip(a.entities, b.entities, strict=True):
                assert x.score == pytest.approx(y.score, abs=1e-4) and x.text == y.text


def _fp32(folder: Path, aggregation: str):
    """entities on the fp32 export, whatever the gate chose for auto."""
    from nlpkit.models.backends.onnx import open_runner
    from nlpkit.tasks.entities import onnx_tagger
    from nlpkit.tasks.entities.aggregate import entities_of
    from nlpkit.tasks.entities.windows import run_windows

    tagger = onnx_tagger(str(folder), open_runner(folder / "onnx" / "model.onnx", 1))
    tokens, windows = split(tagger.tokenizer, TEXTS, tagger.max_length)
    run_windows(tokens, windows, len(tagger.names), 8, tagger.logits, lambda _n: None)
    return [
        nlpkit.Entities(t.text, entities_of(t, tagger.names, aggregation, tagger.words))
        for t in tokens
    ]


def test_one_sentence_runs_without_torch(exported):
    from tests.conftest import run_import_check

    folder, _ = exported
    done = run_import_check("entities", NER_SENTENCES[0], "-m", str(folder), "--format", "json")
    assert "HEAVY []" in done.stderr, done.stderr
    row = json.loads(done.stdout)[0]
    expected = nlpkit.entities(NER_SENTENCES[0], model=str(folder), backend="onnx")[0]
    assert [e["type"] for e in row["entities"]] == [e.type for e in expected.entities]


def test_optimize_shows_the_f1_gate(exported, capsys, monkeypatch, tmp_path):
    folder, _ = exported
    gold = folder.parent / "gold.jsonl"
    args = ["optimize", str(folder), "--eval-data", str(gold), "-o", str(tmp_path / "onnx")]
    code, out, err = invoke(capsys, monkeypatch, *args, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [row["backend"] for row in rows] == ["torch", "onnx fp32"]
    assert rows[0]["f1"] == 1.0 and rows[1]["verdict"] == "kept"


def test_a_batch_job_scores_gold_tags(taggers, tmp_path):
    """Gold tags that are the model's own findings score F1 1.0 (seqeval, per word)."""
    from nlpkit.tasks.entities.gold import word_tags

    found = nlpkit.entities(NER_SENTENCES, model=taggers["bert"])
    rows = [{"text": r.text, "tags": word_tags(r.text, r.entities)} for r in found]
    source = tmp_path / "gold.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = ["-i", str(source), "-o", str(tmp_path / "out.jsonl"), "--label-column", "tags"]
    done = run_nlpkit("entities", *args, "-m", taggers["bert"])
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "out.metrics.json").read_text(encoding="utf-8"))
    assert metrics["f1"] == 1.0 and metrics["rows"] == len(rows)
