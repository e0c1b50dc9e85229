"""Training data for token classification: words and tags per sentence, as run_ner.py does.

Rows hold a list of words and a list of tags (strings, or ids with
``data.label_names``). Tags are checked for the IOB scheme: IOB2 passes, IOB1 (an
entity may start with ``I-``) is converted to IOB2 with a note, any other scheme
(BIOES, BILOU) is refused naming the tags found. Labels go to the first sub-word
of each word, the rest get -100 (or the word's ``I-`` tag with
``data.label_all_tokens``). CoNLL column files (``.conll``: one word per line, the
tag in the last column, a blank line between sentences, ``-DOCSTART-`` skipped)
read into the same rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.errors import InputError, NlpkitWarning

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe

OUTSIDE = "O"
IGNORED = -100  # the label id the loss skips
DOCUMENT_START = "-DOCSTART-"


def read_conll(path: Path) -> list[dict[str, list[str]]]:
    """Sentences of a CoNLL column file as ``{"tokens": [...], "ner_tags": [...]}`` rows."""
    rows: list[dict[str, list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    columns = None
    from nlpkit.recipe.checks import open_text

    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields or fields[0] == DOCUMENT_START:
                if words:
                    rows.append({"tokens": words, "ner_tags": tags})
                words, tags = [], []
                continue
            columns = columns or len(fields)
            if len(fields) != columns or columns < 2:
                raise InputError(
                    f"{path}:{number}: {len(fields)} columns where the file's lines have "
                    f"{columns}; a CoNLL line is a word, optional columns, then its tag"
                )
            words.append(fields[0])
            tags.append(fields[-1])
    if words:
        rows.append({"tokens": words, "ner_tags": tags})
    if not rows:
        raise InputError(f"{path}: no sentences (words one per line, a blank line between)")
    return rows


def tag_names(rows: Any, recipe: Recipe) -> list[str]:
    """The label list: the recipe's ``label_names``, else every tag seen (O first)."""
    data = recipe.data
    if data.label_names:
        names = list(data.label_names)
    else:
        seen = {str(tag) for tags in rows[data.tags_column] for tag in (tags or ())}
        names = [OUTSIDE, *sorted(seen - {OUTSIDE})]
    check_scheme(names)
    return to_iob2_names(names)


def check_scheme(names: Sequence[str]) -> None:
    """IOB tags only: ``O``, ``B-TYPE``, ``I-TYPE``; name what else was found."""
    odd = [name for name in names if name != OUTSIDE and name[:2] not in ("B-", "I-")]
    if odd:
        scheme = "BIOES/BILOU" if any(n[:2] in ("E-", "S-", "L-", "U-") for n in odd) else None
        found = f"a {scheme} scheme" if scheme else "tags outside the IOB scheme"
        raise InputError(
            f"data: {found} ({', '.join(odd[:5])}); nlpkit trains IOB/IOB2 tags "
            "(O, B-TYPE, I-TYPE): convert the tags first"
        )


def to_iob2_names(names: list[str]) -> list[str]:
    """Every type gets both its B- and I- tag, so IOB1 data converts without new ids."""
    types = sorted({name[2:] for name in names if name != OUTSIDE})
    missing = [f"{prefix}-{kind}" for kind in types for prefix in "BI"]
    return names + [name for name in missing if name not in names]


def iob2(tags: list[str]) -> tuple[list[str], bool]:
    """Tags in IOB2 (every entity starts with B-), and whether any had to change."""
    out, changed = [], False
    for index, tag in enumerate(tags):
        if tag.startswith("I-"):
            before = out[index - 1] if index else OUTSIDE
            if before == OUTSIDE or before[2:] != tag[2:]:
                tag, changed = "B-" + tag[2:], True
        out.append(tag)
    return out, changed


def tag_encoder(recipe: Recipe, tokenizer: Any, names: list[str]) -> Callable:
    """A batched datasets.map function: words -> sub-word ids, tags -> aligned label ids."""
    data = recipe.data
    ids = {name: i for i, name in enumerate(names)}
    inside = {i: ids.get("I-" + name[2:], i) for i, name in enumerate(names)}
    converted = []

    def encode(batch):
        words = [_words(row) for row in batch[data.tokens_column]]
        given = batch[data.tags_column]
        tags = [_tags(row, names, len(w)) for row, w in zip(given, words, strict=True)]
        fixed = [iob2(row) for row in tags]
        if any(changed for _, changed in fixed) and not converted:
            converted.append(True)
            note = "data: IOB1 tags (entities starting with I-) converted to IOB2"
            warnings.warn(note, NlpkitWarning, stacklevel=2)
        encoded = tokenizer(
            words, is_split_into_words=True, truncation=True, max_length=data.max_length
        )
        encoded["labels"] = [
            _aligned(encoded.word_ids(i), [ids[t] for t in row], inside, data.label_all_tokens)
            for i, (row, _) in enumerate(fixed)
        ]
        return encoded

    return encode


def _words(row: Any) -> list[str]:
    if not isinstance(row, list) or not row:
        raise InputError("data: a sentence has no words (an empty or missing tokens list)")
    return [str(word) for word in row]


def _tags(row: Any, names: list[str], count: int) -> list[str]:
    """Tag names for one sentence: strings as they are, ids through ``names``."""
    tags = list(row or [])
    if len(tags) != count:
        raise InputError(
            f"data: a sentence has {count} words and {len(tags)} tags ({_preview(tags)}); "
            "give one tag per word"
        )
    out = []
    for tag in tags:
        if isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(names):
            out.append(names[tag])
        elif str(tag) in names:
            out.append(str(tag))
        else:
            raise InputError(
                f"data: tag {tag!r} is not one of {', '.join(names)}; "
                "set data.label_names to every tag the data uses, in id order"
            )
    return out


def _preview(tags: list) -> str:
    return " ".join(map(str, tags[:6])) + (" ..." if len(tags) > 6 else "")


def _aligned(word_ids: Sequence[int | None], tags: list[int], inside: dict, every: bool):
    """One label per sub-word: the word's tag on its first piece, -100 (or I-) after."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORED)
        elif word != previous:
            labels.append(tags[word])
        else:
            labels.append(inside[tags[word]] if every else IGNORED)
        previous = word
    return labels


def entity_scores(predicted: list[list[str]], gold: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (seqeval, IOB2, overall and per type) and
    token accuracy, as run_ner.py reports them."""
    from seqeval.metrics import accuracy_score, classification_report

    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    overall = report["micro avg"]
    scores = {
        "f1": overall["f1-score"],
        "precision": overall["precision"],
        "recall": overall["recall"],
        "accuracy": accuracy_score(gold, predicted),
    }
    for kind, row in sorted(report.items()):
        if " avg" not in kind:
            scores[f"f1_{kind}"] = row["f1-score"]
    return scores


def tag_scorer(names: list[str], score: Callable | None = None) -> Callable:
    """A Trainer ``compute_metrics`` over (logits, label ids): positions labelled -100
    (later sub-words, special tokens, padding) are not scored."""

    def compute(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        best = logits.argmax(axis=-1)
        predicted, gold = [], []
        for row, row_labels in zip(best, labels, strict=True):
            kept = [(p, g) for p, g in zip(row, row_labels, strict=True) if g != IGNORED]
            predicted.append([names[p] for p, _ in kept])
            gold.append([names[g] for _, g in kept])
        return (score or entity_scores)(predicted, gold)

    return compute
