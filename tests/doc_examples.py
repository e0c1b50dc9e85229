"""Console examples in README.md and docs/ that are run for real, so they cannot drift.

A block is checked when the line before its fence is ``<!-- checked -->``:

    <!-- checked -->
    ```console
    $ nlpkit plan recipes/sst2-minilm.yaml
    ...output...
    ```

Each ``$ nlpkit ...`` line runs from the repository root with COLUMNS=80, and its
stdout must match the lines that follow it: words, labels, columns and shapes exactly,
and each decimal number within ``TOLERANCE`` of the one shown, because a model's scores
differ in their last digits from one CPU to another (int8 kernels most of all). A block
whose numbers move more (vector values, which int8 moves by up to ~0.015 where the
gate keeps it) states its own bound: ``<!-- checked within 0.02 -->``. To regenerate
the outputs from real runs after a deliberate change:

    python -m tests.doc_examples --update README.md docs/*.md
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"^<!-- checked(?: within (\d+\.\d+))? -->$")
FENCE = re.compile(r"^```console\s*$")
ROOT = Path(__file__).resolve().parent.parent
ENV = {"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}


@dataclass
class Example:
    """One ``$ command`` with the output the document shows for it."""

    path: Path
    line: int  # 1-based line of the command
    command: str
    expected: list[str]
    tolerance: float = 0.01  # absolute, for every decimal number the example prints

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def checked_blocks(lines: list[str]) -> list[tuple[int, int, float]]:
    """(first, end, tolerance) of each checked block's body, fences excluded."""
    blocks, index = [], 0
    while index < len(lines):
        marker = MARKER.match(lines[index].strip())
        if marker and FENCE.match(lines[index + 1]):
            end = next(i for i in range(index + 2, len(lines)) if lines[i].startswith("```"))
            blocks.append((index + 2, end, float(marker.group(1) or TOLERANCE)))
            index = end
        index += 1
    return blocks


def examples_in(path: Path) -> list[Example]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for first, end, tolerance in checked_blocks(lines):
        for index in range(first, end):
            if lines[index].startswith("$ "):
                stop = next((i for i in range(index + 1, end) if lines[i].startswith("$ ")), end)
                shown = lines[index + 1 : stop]
                found.append(Example(path, index + 1, lines[index][2:], shown, tolerance))
    return found


def run(command: str) -> list[str]:
    """The command's stdout lines, as ``mismatches`` compares them."""
    from tests.conftest import run_nlpkit

    words = shlex.split(command)
    if words[0] != "nlpkit":
        raise ValueError(f"only nlpkit commands are checked, not {command!r}")
    result = run_nlpkit(*words[1:], cwd=ROOT, timeout=600, **ENV)
    if result.returncode != 0:
        raise RuntimeError(f"{command}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout.splitlines()


CORES = re.compile(r"\(\d+ cores?\)")
DECIMAL = re.compile(r"-?\d+\.\d+")
TOLERANCE = 0.01  # absolute, for every decimal number a checked example prints (default)


def normalize(lines: list[str]) -> list[str]:
    """Trailing spaces go (rich pads titles), and the core count is the machine's, not ours."""
    return [CORES.sub("(N cores)", line.rstrip()) for line in lines]


def mismatches(actual: list[str], expected: list[str], tolerance: float = TOLERANCE) -> list[str]:
    """Lines that differ beyond ``tolerance``, as ``shown != printed`` pairs; [] when they match."""
    actual, expected = normalize(actual), normalize(expected)
    found = [
        f"{shown!r} != {printed!r}"
        for shown, printed in zip(expected, actual, strict=False)
        if not _line_matches(printed, shown, tolerance)
    ]
    if len(actual) != len(expected):
        found.append(f"{len(expected)} lines shown, {len(actual)} printed")
    return found


def _line_matches(printed: str, shown: str, tolerance: float) -> bool:
    """Same text around the numbers, and each decimal number within ``tolerance``."""
    if DECIMAL.sub("#", printed) != DECIMAL.sub("#", shown):
        return False
    pairs = zip(DECIMAL.findall(printed), DECIMAL.findall(shown), strict=True)
    return all(abs(float(a) - float(b)) <= tolerance for a, b in pairs)


def update(path: Path) -> int:
    """Rewrite every checked example's output in ``path``; the number of examples run."""
    lines = path.read_text(encoding="utf-8").splitlines()
    examples = examples_in(path)
    for example in reversed(examples):  # bottom-up keeps earlier line numbers valid
        start = example.line
        del lines[start : start + len(example.expected)]
        lines[start:start] = [line.rstrip() for line in run(example.command)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(examples)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: python -m tests.doc_examples --update FILE.md ...")
    for name in args[1:]:
        print(f"{name}: {update(Path(name))} examples rewritten from real runs")
