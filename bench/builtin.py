"""Load time and one-sentence latency of the built-in sentiment model, in fresh processes.

Each figure is a new Python process, as a user's command is, median of --repeat runs:
  - store, first use: merge the adapter into an empty model store (once per machine)
  - store, later uses: load the merged safetensors folder from the store
  - merge in memory: import peft, load base + adapter and merge at every load (the
    alternative to keeping a merged copy in the store)
  - the whole `nlpkit classify "I love Python!"` command, and for scale `nlpkit --help`
    and a usage error (both must stay under 0.3 s: no torch import)
Load figures exclude importing torch and transformers' BERT code, which every variant
pays alike; that import is measured on its own.
Run: python bench/builtin.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PRELUDE = (
    "import time\n"
    "start = time.perf_counter()\n"
    "import json, torch, transformers\n"
    "from transformers import BertForSequenceClassification, BertTokenizerFast\n"
    "from nlpkit.models.builtin import BUILTIN_MODELS\n"
    "imports = time.perf_counter() - start\n"
    "start = time.perf_counter()\n"
)
LOAD_FROM_STORE = (
    "from nlpkit.models.load import load_model\nload_model('sequence', 'sentiment', 'cpu')\n"
)
LOADERS = {  # the same store load twice: the first finds the store empty
    "store, first use (merge + save)": LOAD_FROM_STORE,
    "store, later uses (load merged)": LOAD_FROM_STORE,
    "merge in memory at every load": (
        "from nlpkit.models.builtin.merge import merged_model\n"
        "merged_model(BUILTIN_MODELS['sentiment'])\n"
    ),
}
IMPORTS = "import torch + transformers BERT code"
REPORT = "print(json.dumps([imports, time.perf_counter() - start]))\n"


def child_seconds(code: str, home: str) -> list[float]:
    """[import seconds, load seconds] of one fresh process."""
    env = dict(os.environ, NLPKIT_HOME=home, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code + REPORT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def command_seconds(args: list[str], home: str) -> float:
    env = dict(os.environ, NLPKIT_HOME=home, HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    subprocess.run(args, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    nlpkit = shutil.which("nlpkit") or sys.exit("bench needs the nlpkit command on PATH")

    home = tempfile.mkdtemp(prefix="nlpkit-bench-home-")
    try:
        figures: dict[str, list[float]] = {IMPORTS: [], **{name: [] for name in LOADERS}}
        for _ in range(args.repeat):
            shutil.rmtree(home)
            for name, code in LOADERS.items():
                imports, load = child_seconds(code, home)
                figures[name].append(load)
                figures[IMPORTS].append(imports)
        for label, command in {
            'nlpkit classify "I love Python!"': [nlpkit, "classify", "I love Python!"],
            "nlpkit --help": [nlpkit, "--help"],
            "nlpkit classify --top-k 0 x (usage error)": [nlpkit, "classify", "--top-k", "0", "x"],
        }.items():
            figures[label] = [command_seconds(command, home) for _ in range(args.repeat)]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"built-in sentiment model, CPU, fresh process each, median of {args.repeat}")
    print(f"{'what':44} {'seconds':>8} {'min':>7} {'max':>7}")
    for name, values in figures.items():
        what = name if name.startswith(("nlpkit", "import")) else f"load: {name}"
        print(f"{what:44} {statistics.median(values):8.2f} {min(values):7.2f} {max(values):7.2f}")
    store = statistics.median(figures["store, later uses (load merged)"])
    merge = statistics.median(figures["merge in memory at every load"])
    print(f"merge in memory / load merged from the store: {merge / store:.1f}x")


if __name__ == "__main__":
    main()
