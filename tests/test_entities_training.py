"""Token classification's training pieces: CoNLL files, IOB schemes, label alignment,
seqeval metrics, and found entities scored against gold word tags."""

from __future__ import annotations

import json
import warnings

import pytest
import yaml

from nlpkit.errors import InputError, NlpkitWarning
from nlpkit.results import Entity
from nlpkit.tasks.entities.gold import span_scores, word_tags
from nlpkit.tasks.entities.training import (
    check_scheme,
    entity_scores,
    iob2,
    read_conll,
    to_iob2_names,
)

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_conll_files_read_as_sentences_skipping_docstart(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nAngela NNP B-NP B-PER\nMerkel NNP I-NP I-PER\n"
        "visited VBD B-VP O\n\nParis NNP B-NP B-LOC\n",
        encoding="utf-8",
    )
    assert read_conll(path) == [
        {"tokens": ["Angela", "Merkel", "visited"], "ner_tags": ["B-PER", "I-PER", "O"]},
        {"tokens": ["Paris"], "ner_tags": ["B-LOC"]},
    ]


def test_a_conll_line_with_another_column_count_is_named_by_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Angela NNP B-PER\nMerkel I-PER\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.conll:2: 2 columns where the file's lines have 3"):
        read_conll(path)


def test_iob1_becomes_iob2_and_other_schemes_are_named():
    assert iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == (
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"],
        True,
    )
    assert iob2(["B-PER", "I-PER"]) == (["B-PER", "I-PER"], False)
    assert to_iob2_names(["O", "I-PER"]) == ["O", "I-PER", "B-PER"]
    with pytest.raises(InputError, match="a BIOES/BILOU scheme .S-PER, E-LOC"):
        check_scheme(["O", "S-PER", "E-LOC"])
    with pytest.raises(InputError, match="tags outside the IOB scheme .PERSON"):
        check_scheme(["O", "PERSON"])


def test_entity_scores_are_seqeval_entity_level():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    half = [["B-PER", "I-PER", "O", "O"]]
    scores = entity_scores(half, gold)
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5
    assert scores["f1"] == pytest.approx(2 / 3) and scores["accuracy"] == 0.75
    assert scores["f1_PER"] == 1.0 and scores["f1_LOC"] == 0.0


def test_found_entities_become_word_tags_and_score_against_gold():
    text = "Angela  Merkel visited Paris."
    found = [Entity("Angela  Merkel", "PER", 0, 14, 0.9), {"start": 23, "end": 28, "type": "LOC"}]
    assert word_tags(text, found) == ["B-PER", "I-PER", "O", "B-LOC"]
    scores = span_scores([text], [found], [["B-PER", "I-PER", "O", "B-LOC"]], lambda: NAMES)
    assert scores["f1"] == 1.0
    ids = span_scores([text], [found[:1]], [[1, 2, 0, 3]], lambda: NAMES)  # gold as label ids
    assert ids["recall"] == 0.5
    with pytest.raises(InputError, match="row 1: 3 gold tags for 4 words"):
        span_scores([text], [found], [["O", "O", "O"]], lambda: NAMES)


def _recipe(tmp_path, tiny, rows, **data):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    recipe = {
        "task": "token-classification",
        "model": tiny["bert"],
        "data": {"train_file": str(train), "max_length": 32, **data},
        "training": {"max_steps": 1, "batch_size": 4, "eval_strategy": "no"},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


ROWS = [{"tokens": ["the", "cat", "sat"], "ner_tags": ["B-PER", "I-PER", "O"]}] * 8


@pytest.mark.parametrize(
    ("rows", "data", "message"),
    [
        ([{"tokens": ["a", "b"], "ner_tags": ["O"]}], {}, "2 words and 1 tags"),
        ([{"tokens": ["a"], "ner_tags": ["B-XYZ"]}], {"label_names": NAMES}, "tag 'B-XYZ'"),
        ([{"tokens": [], "ner_tags": []}], {}, "a sentence has no words"),
        ([{"tokens": ["a"], "ner_tags": ["S-PER"]}], {}, "BIOES/BILOU"),
    ],
)
def test_bad_sentences_fail_with_one_clear_line(tiny, tmp_path, rows, data, message):
    from nlpkit import finetune

    with pytest.raises(InputError, match=message):
        finetune(_recipe(tmp_path, tiny, rows, **data), progress=False)
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_tagger_trains_aligns_sub_words_and_converts_iob1(tiny, tmp_path):
    """ids with label_names, IOB1 tags (converted, with a note), the first sub-word labelled."""
    from transformers import AutoTokenizer

    from nlpkit import finetune
    from nlpkit.recipe.schema import load_recipe
    from nlpkit.tasks.entities.training import tag_encoder

    rows = [{"tokens": ["the", "wonderful", "cat"], "ner_tags": [0, 2, 2]}] * 8  # I-PER: IOB1
    path = _recipe(tmp_path, tiny, rows, label_names=NAMES)
    tokenizer = AutoTokenizer.from_pretrained(tiny["bert"])
    encode = tag_encoder(load_recipe(path), tokenizer, NAMES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoded = encode({"tokens": [rows[0]["tokens"]], "ner_tags": [rows[0]["ner_tags"]]})
    assert any(issubclass(w.category, NlpkitWarning) and "IOB1" in str(w.message) for w in caught)
    word_ids = encoded.word_ids(0)
    labels = encoded["labels"][0]
    firsts = [labels[i] for i, w in enumerate(word_ids) if w is not None and w != word_ids[i - 1]]
    assert firsts == [0, 1, 2]  # O, then the IOB1 I-PER entity starts with B-PER
    assert all(labels[i] == -100 for i, w in enumerate(word_ids) if w is None)
    result = finetune(path, progress=False)
    assert result.task == "token-classification"
    assert (tmp_path / "run" / "config.json").is_file()
