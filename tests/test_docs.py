"""The documents' checked console examples still print what they show."""

from __future__ import annotations

import pytest

from tests.doc_examples import ROOT, examples_in, normalize, run

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [example for path in DOCUMENTS for example in examples_in(path)]


def test_the_readme_has_checked_examples():
    assert any(example.path.name == "README.md" for example in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.id)
def test_example_prints_what_the_document_shows(example):
    assert normalize(run(example.command)) == normalize(example.expected), (
        f"{example.id}: `{example.command}` prints something else now; if that is intended, "
        "regenerate with `python -m tests.doc_examples --update " + example.path.name + "`"
    )
