"""Dynamic batching in `nlpkit serve`: one client against many concurrent clients.

Starts a real server (`nlpkit serve`, a subprocess on a free port) with the built-in
models, then measures side by side, in rounds that alternate the order: classify
(one SST-2 dev sentence per request; then one short SST-2 train phrase per request)
with 1 client vs 32 concurrent clients, and generate
(one chat prompt per request, greedy, --max-new-tokens new tokens) with 1 client vs
16. Prints requests per second, p50/p95 latency per setting (medians over rounds) and
the throughput ratios that batching gives.

With --compare-workers it measures `--workers 1` against `--workers 2` instead: the
built-in classifier, 32 clients, one SST-2 train sentence per request, and the same two
servers pinned with taskset (1 worker on core 0; 2 workers on cores 0 and 1), every
server started once and measured in turn, rounds in alternating order. Model loading
is outside the figures: a server is measured once it says it is serving.

Run: python bench/serve.py [--rounds 3] [--classify-requests 256] [--max-new-tokens 20]
     [--threads N]
     python bench/serve.py --compare-workers [--worker-requests 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from _common import CHAT_PROMPTS, ROOT, sst2_rows

PROMPTS = CHAT_PROMPTS[:16]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    port: int,
    threads: int | None,
    tasks: tuple[str, ...] = ("classify", "generate"),
    extra: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
) -> subprocess.Popen:
    command = [*prefix, sys.executable, "-m", "nlpkit", "serve", "--port", str(port)]
    command += [arg for task in tasks for arg in ("--task", task)]
    command += ["--max-batch", "32", *extra]
    if threads:
        command += ["--threads", str(threads)]
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        print("server:", line.rstrip(), flush=True)
        if "serving" in line:
            threading.Thread(target=server.stderr.read, daemon=True).start()  # keep draining
            return server
    sys.exit(f"the server did not start (exit code {server.wait()})")


async def run_clients(url: str, bodies: list[dict], clients: int) -> tuple[float, list[float]]:
    """(seconds for all requests, latency of each) with ``clients`` requests in flight.

    aiohttp, a light client: the clients share the CPU with the server they measure."""
    import aiohttp

    pending = list(reversed(bodies))
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def client() -> None:
            while pending:
                body = pending.pop()
                start = time.perf_counter()
                async with http.post(url, json=body) as response:
                    response.raise_for_status()
                    await response.read()
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - start, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(base: str, settings: dict, rounds: int) -> dict[str, dict[str, float]]:
    """Each setting once per round; the order flips every round."""
    seen: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for round_no in range(rounds):
        names = list(settings) if round_no % 2 == 0 else list(reversed(settings))
        for name in names:
            path, bodies, clients = settings[name]
            seconds, latencies = asyncio.run(run_clients(base + path, bodies, clients))
            row = {
                "rps": len(bodies) / seconds,
                "p50": percentile(latencies, 50) * 1000,
                "p95": percentile(latencies, 95) * 1000,
            }
            seen[name].append(row)
            print(
                f"round {round_no + 1} {name:<24} {row['rps']:7.2f} req/s  "
                f"p50 {row['p50']:7.0f} ms  p95 {row['p95']:7.0f} ms",
                flush=True,
            )
    return {
        name: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for name, rows in seen.items()
    }


# name -> (taskset prefix, serve flags)
WORKER_SETTINGS = {
    "1 worker": ((), ("--workers", "1")),
    "2 workers": ((), ("--workers", "2")),
    "1 worker, core 0": (("taskset", "-c", "0"), ("--workers", "1")),
    "2 workers, cores 0+1": (("taskset", "-c", "0,1"), ("--workers", "2")),
}


def compare_workers(args) -> None:
    """--workers 1 vs 2 (and pinned), 32 clients of one SST-2 sentence each."""
    sentences = [row["sentence"] for row in sst2_rows("train", args.worker_requests)]
    bodies = [{"texts": [text]} for text in sentences]
    pinned = shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2
    chosen = {k: v for k, v in WORKER_SETTINGS.items() if pinned or not v[0]}
    servers, settings = [], {}
    try:
        for name, (prefix, extra) in chosen.items():
            port = free_port()
            servers.append(start_server(port, args.threads, ("classify",), extra, prefix))
            settings[name] = (f"http://127.0.0.1:{port}/v1/classify", bodies, 32)
        medians = measure("", settings, args.rounds)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=120)
    print(f"\nmedians of {args.rounds} rounds ({os.cpu_count()} CPUs, {len(bodies)} requests):")
    print(f"{'setting':<24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'vs 1 worker':>12}")
    base = medians["1 worker"]["rps"]
    for name, row in medians.items():
        ratio = row["rps"] / base
        print(f"{name:<24} {row['rps']:8.1f} {row['p50']:8.0f} {row['p95']:8.0f} {ratio:11.2f}x")
    if "2 workers, cores 0+1" in medians:
        pinned_ratio = medians["2 workers, cores 0+1"]["rps"] / medians["1 worker, core 0"]["rps"]
        print(f"pinned, one core each: 2 workers = {pinned_ratio:.2f}x 1 worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--classify-requests", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--threads", type=int, help="server torch threads (default: its own)")
    parser.add_argument("--compare-workers", action="store_true")
    parser.add_argument("--worker-requests", type=int, default=20_000)
    args = parser.parse_args()
    if args.compare_workers:
        compare_workers(args)
        return

    sentences = [row["sentence"] for row in sst2_rows("validation", args.classify_requests)]
    phrases = [row["sentence"] for row in sst2_rows("train", args.classify_requests)]
    classify = [{"texts": [text]} for text in sentences]
    short = [{"texts": [text]} for text in phrases]
    generate = [{"prompts": [p], "max_new_tokens": args.max_new_tokens} for p in PROMPTS]
    settings = {
        "classify, 1 client": ("/v1/classify", classify, 1),
        "classify, 32 clients": ("/v1/classify", classify, 32),
        "short texts, 1 client": ("/v1/classify", short, 1),
        "short texts, 32 clients": ("/v1/classify", short, 32),
        "generate, 1 client": ("/v1/generate", generate, 1),
        "generate, 16 clients": ("/v1/generate", generate, 16),
    }
    port = free_port()
    server = start_server(port, args.threads)
    try:
        medians = measure(f"http://127.0.0.1:{port}", settings, args.rounds)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(
        f"\nmedians of {args.rounds} rounds ({os.cpu_count()} CPUs; "
        f"{len(classify)} classify requests, {len(generate)} generate requests of "
        f"{args.max_new_tokens} new tokens):"
    )
    print(f"{'setting':<24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in medians.items():
        print(f"{name:<24} {row['rps']:8.2f} {row['p50']:8.0f} {row['p95']:8.0f}")
    for task, many in (
        ("classify", "32 clients"),
        ("short texts", "32 clients"),
        ("generate", "16 clients"),
    ):
        ratio = medians[f"{task}, {many}"]["rps"] / medians[f"{task}, 1 client"]["rps"]
        print(f"{task}: {many} vs 1 client: {ratio:.1f}x the throughput")


if __name__ == "__main__":
    main()
