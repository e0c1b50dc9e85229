"""What the package ships: files that hold nothing of the machine they were made on."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nlpkit"
# Absolute paths of a build machine: home folders, /work checkouts, a virtualenv's packages.
MACHINE_PATH = re.compile(rb"(?<![\w.])/(?:work|root|home|Users)/|site-packages|[A-Z]:\\\\Users")


def _shipped_files() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def test_no_shipped_file_holds_a_machine_path():
    found = {
        str(path.relative_to(PACKAGE)): match.group().decode(errors="replace")
        for path in _shipped_files()
        if (match := MACHINE_PATH.search(path.read_bytes()))
    }
    assert found == {}, "machine paths in shipped files (use a neutral name or Hub id)"


def test_the_check_finds_a_machine_path():
    samples = [
        b'"base_model_name_or_path": "/work/main/.venv/lib/python3.11/site-packages/x"',
        b"/home/alice/model",
        b"/root/.cache/x",
    ]
    assert all(MACHINE_PATH.search(sample) for sample in samples)
    neutral = b'"base_model_name_or_path": "sentence-transformers/all-MiniLM-L6-v2"'
    assert not MACHINE_PATH.search(neutral) and not MACHINE_PATH.search(b"see docs/home/x.md")
    assert len(_shipped_files()) > 50 and any(p.suffix == ".json" for p in _shipped_files())
