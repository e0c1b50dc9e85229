"""Peak memory of `nlpkit classify -i FILE -o OUT` at 10k and 100k lines: streaming stays flat.

Each run is a fresh `nlpkit` process; its peak RSS comes from getrusage of that child.
For contrast, the same texts through the Python list API (all texts and results held).
Run: nice -n 10 python bench/stream_memory.py [--model DIR] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST_API = (
    "import sys, json\n"
    "from nlpkit.inputs.readers import collect_texts\n"
    "from nlpkit import classify\n"
    "texts = collect_texts(input_file=sys.argv[1])\n"
    "rows = classify(texts, model=sys.argv[2])\n"
    "open(sys.argv[3], 'w').writelines(json.dumps(r.__dict__, default=str) + '\\n' for r in rows)\n"
)


def child_peak_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    pid = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    if status:
        raise SystemExit(f"{command[:4]} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # ru_maxrss: KiB on Linux


def model_folder(model: str | None, scratch: Path) -> str:
    if model:
        return model
    sys.path.insert(0, str(ROOT))
    from tests.tiny_models import build_bert_classifier

    return str(build_bert_classifier(scratch / "tiny-bert"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="classifier folder (default: the tests' tiny bert)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        model = model_folder(args.model, scratch)
        print(f"{'lines':>8} {'stream MB':>10} {'s':>6} {'list API MB':>12} {'s':>6}")
        for size in args.sizes:
            source = scratch / f"in-{size}.txt"
            words = ("great", "awful", "boring", "fine")
            lines = (f"line {i}: the movie was {words[i % 4]} ." for i in range(size))
            source.write_text("\n".join(lines) + "\n", encoding="utf-8")
            cli = [sys.executable, "-m", "nlpkit", "classify", "-i", str(source), "-m", model]
            cli += ["-f", "jsonl", "-o", str(scratch / "out.jsonl"), "--overwrite"]
            stream = child_peak_mb(cli)
            listed = child_peak_mb([sys.executable, "-c", LIST_API, str(source), model, os.devnull])
            figures = f"{stream[0]:>10.0f} {stream[1]:>6.1f} {listed[0]:>12.0f} {listed[1]:>6.1f}"
            print(f"{size:>8} {figures}")


if __name__ == "__main__":
    main()
