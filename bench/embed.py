"""Sentence embeddings: nlpkit (PyTorch, ONNX fp32, ONNX int8) against sentence-transformers,
and /v1/embeddings with 1 client against 32.

Throughput: the same SST-2 train sentences (--sentences, default 10,000) embedded by
``SentenceTransformer(folder).encode(batch_size=32)`` and by nlpkit's three backends
(batch 32, length-sorted, dynamic padding), all on the built-in all-MiniLM-L6-v2 with the
same CPU threads, rounds in alternating order. Prints sentences/s (median of rounds), the
ratio to sentence-transformers and the mean cosine of each setting's vectors to
sentence-transformers' (1.0 = the same vectors).

Serve (--serve): a real `nlpkit serve --task embed` server, one SST-2 dev sentence per
POST /v1/embeddings request, 1 client against 32 concurrent clients (bench/serve.py's
clients and rounds); prints requests/s, p50/p95 latency and the ratio.

One sentence (--one-sentence): whole `nlpkit embed "I love Python!"` processes, ONNX
(the default once the built-in model's export exists) and --backend torch, beside
`nlpkit classify` of the same sentence; medians of --runs.

Run: python bench/embed.py [--sentences 10000] [--rounds 3] [--threads 2]
     python bench/embed.py --serve [--requests 512] [--rounds 3]
     python bench/embed.py --one-sentence [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import minilm_folder, sst2_rows


def settings(folder: Path, threads: int) -> dict:
    """name -> function(texts) -> unit vectors (numpy), each loaded once before timing."""
    import torch
    from sentence_transformers import SentenceTransformer

    from nlpkit.models.backends import FP32_FILE, INT8_FILE
    from nlpkit.models.resolve import resolve_model
    from nlpkit.tasks.embed import embed, open_embedder
    from nlpkit.tasks.embed.encoders import EMBED_BATCH, embed_with, onnx_embedder, unit_rows

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(folder), device="cpu")
    open_embedder("minilm", backend="auto")  # the built-in model's gated export, made once
    onnx = Path(resolve_model("minilm").path) / "onnx"

    def onnx_run(file: str):
        embedder = onnx_embedder("minilm", onnx / file, threads, 10_000)
        return lambda texts: unit_rows(embed_with(embedder, texts, EMBED_BATCH, False, _ignore))

    return {
        "sentence-transformers": lambda texts: model.encode(texts, batch_size=32),
        "nlpkit torch": lambda texts: embed(
            texts, model="minilm", backend="torch", threads=threads
        ),
        "nlpkit onnx fp32": onnx_run(FP32_FILE),
        "nlpkit onnx int8": onnx_run(INT8_FILE),
    }


def _ignore(_count: int) -> None:
    """No progress bar in a benchmark."""


def throughput(args) -> None:
    texts = [row["sentence"] for row in sst2_rows("train", args.sentences)]
    runs = settings(minilm_folder(), args.threads)
    for run in runs.values():
        run(texts[:64])  # warm up: first-call allocations out of the figures
    rates: dict[str, list[float]] = {name: [] for name in runs}
    vectors = {}
    for round_no in range(args.rounds):
        names = list(runs) if round_no % 2 == 0 else list(reversed(runs))
        for name in names:
            start = time.perf_counter()
            vectors[name] = runs[name](texts)
            rates[name].append(len(texts) / (time.perf_counter() - start))
            print(f"round {round_no + 1} {name:<22} {rates[name][-1]:8.1f} sentences/s", flush=True)
    reference = vectors["sentence-transformers"]
    base = statistics.median(rates["sentence-transformers"])
    print(
        f"\n{len(texts)} SST-2 train sentences, all-MiniLM-L6-v2, {args.threads} threads, "
        f"medians of {args.rounds} rounds (load average {os.getloadavg()[0]:.1f}):"
    )
    print(
        f"{'setting':<22} {'sentences/s':>12} {'vs s-t':>8} {'mean cosine':>12} {'min cosine':>11}"
    )
    for name, rate in rates.items():
        cosine = (vectors[name] * reference).sum(axis=1)
        median = statistics.median(rate)
        print(
            f"{name:<22} {median:12.1f} {median / base:7.2f}x "
            f"{cosine.mean():12.5f} {cosine.min():11.5f}"
        )


def serve(args) -> None:
    import serve as serve_bench

    sentences = [row["sentence"] for row in sst2_rows("validation", args.requests)]
    bodies = [{"input": text, "model": "minilm"} for text in sentences]
    port = serve_bench.free_port()
    server = serve_bench.start_server(port, args.threads, ("embed",))
    try:
        medians = serve_bench.measure(
            f"http://127.0.0.1:{port}",
            {
                "embeddings, 1 client": ("/v1/embeddings", bodies, 1),
                "embeddings, 32 clients": ("/v1/embeddings", bodies, 32),
            },
            args.rounds,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(
        f"\nmedians of {args.rounds} rounds, {len(bodies)} requests of one sentence "
        f"(load average {os.getloadavg()[0]:.1f}):"
    )
    print(f"{'setting':<24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in medians.items():
        print(f"{name:<24} {row['rps']:8.1f} {row['p50']:8.0f} {row['p95']:8.0f}")
    ratio = medians["embeddings, 32 clients"]["rps"] / medians["embeddings, 1 client"]["rps"]
    print(f"32 clients / 1 client: {ratio:.2f}x")


SENTENCE = "I love Python!"
ONE_SENTENCE = {
    "nlpkit embed (auto: ONNX)": ["embed", SENTENCE],
    "nlpkit embed --backend torch": ["embed", SENTENCE, "--backend", "torch"],
    "nlpkit classify (auto: ONNX)": ["classify", SENTENCE],
}


def one_sentence(args) -> None:
    """Whole `nlpkit embed "I love Python!"` processes (python -m nlpkit: this interpreter),
    beside the same for classify, interleaved; medians."""
    times: dict[str, list[float]] = {name: [] for name in ONE_SENTENCE}
    for _ in range(args.runs):
        for name, words in ONE_SENTENCE.items():
            start = time.perf_counter()
            command = [sys.executable, "-m", "nlpkit", *words]
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    load = os.getloadavg()[0]
    print(f"whole process, one sentence, median of {args.runs} runs (load average {load:.1f}):")
    for name, values in times.items():
        print(f"{name:36} {statistics.median(values):6.2f} s  (min {min(values):.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--one-sentence", action="store_true")
    parser.add_argument("--runs", type=int, default=9, help="whole-process runs (--one-sentence)")
    args = parser.parse_args()
    (serve if args.serve else one_sentence if args.one_sentence else throughput)(args)


if __name__ == "__main__":
    main()
