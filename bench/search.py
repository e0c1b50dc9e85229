"""Semantic search at scale: exact (FAISS flat) vs approximate (FAISS IVF) as nlpkit builds them.

Vectors: up to --real sentences shipped in recipes/data (SST-2 train, CoNLL-2003,
STS-B; deduplicated), embedded once with nlpkit.embed (the built-in MiniLM, torch)
and cached in bench/.cache/search/ (git-ignored), chunk by chunk, so a killed run
goes on where it stopped. Larger sizes are made from them: vector i >= real is
real[i % real] plus Gaussian noise (--sigma per dimension, seeded), renormalized
(sigma 0.03: cosine about 0.86 to its source). Queries: SST-2 validation sentences,
none of them in the corpus.

For each size, in a fresh process (its peak RSS is the build's): build the exact and
the IVF index with nlpkit.index.vectors.build_vectors (IVF includes k-means and the
nprobe calibration), write them, open them memory-mapped as `nlpkit search` does, then
one query at a time: latency p50/p95 of each, and recall@10 of IVF against exact.
Run: python bench/search.py [--real 100000] [--sizes 100000,1000000] [--queries 500]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA, ROOT, sst2_rows

CACHE = ROOT / "bench" / ".cache" / "search"
CHUNK = 5000
TOP_K = 10
SWEEP = (32, 64, 128, 256, 512)  # IVF cells per query, beside the calibrated value


def corpus_sentences() -> list[str]:
    """Distinct sentences from the data shipped in recipes/data, in a fixed order."""
    texts = [row["sentence"] for row in sst2_rows("train")]
    for split in ("train", "validation", "test"):
        with gzip.open(DATA / "conll2003" / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
            texts += [" ".join(json.loads(line)["tokens"]) for line in f]
    for split in ("train", "validation"):
        with gzip.open(DATA / "stsb" / f"{split}.tsv.gz", "rt", encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                texts += [row["sentence1"], row["sentence2"]]
    distinct = [t for t in dict.fromkeys(t.strip() for t in texts) if len(t.split()) >= 3]
    return distinct


def cached_vectors(name: str, texts: list[str], limit: int | None = None) -> np.ndarray:
    """nlpkit.embed vectors of the first ``limit`` texts, cached chunk by chunk (of all
    ``texts``) under CACHE/name, so a run with a smaller limit reuses a bigger one's."""
    import nlpkit

    folder = CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    chunks = []
    for start in range(0, min(len(texts), limit or len(texts)), CHUNK):
        path = folder / f"{start:08d}-{min(start + CHUNK, len(texts)):08d}.npy"
        if not path.exists():
            began = time.perf_counter()
            part = nlpkit.embed(texts[start : start + CHUNK], backend="torch", batch_size=64)
            np.save(path.with_suffix(".tmp.npy"), part)
            path.with_suffix(".tmp.npy").rename(path)
            rate = CHUNK / (time.perf_counter() - began)
            print(f"  embedded {name} {start + len(part)}/{len(texts)} ({rate:.0f}/s)", flush=True)
        chunks.append(np.load(path))
    return np.concatenate(chunks)[:limit]


def grown(real: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """``size`` unit vectors: the real ones, then noisy copies of them."""
    rng = np.random.default_rng(0)
    out = np.empty((size, real.shape[1]), dtype=np.float32)
    out[: min(size, len(real))] = real[:size]
    for start in range(len(real), size, len(real)):
        stop = min(start + len(real), size)
        part = real[: stop - start] + rng.normal(0, sigma, (stop - start, real.shape[1]))
        out[start:stop] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def latencies(index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Seconds per single-query search, and the top-10 ids of each query."""
    from nlpkit.index.vectors import search_vectors

    times, found = [], []
    for query in queries:
        began = time.perf_counter()
        _, ids = search_vectors(index, query[None, :], TOP_K)
        times.append(time.perf_counter() - began)
        found.append(ids[0])
    return times, np.array(found)


def measure(vectors_file: str, queries_file: str, kind: str, out: dict) -> None:
    """In a fresh process: build one kind, write it as an index folder (vectors, rows of
    real sentences, manifest), open it as `nlpkit search` does, time the queries: the
    vector search alone, and whole hits with their rows read from parquet."""
    import faiss

    from nlpkit.index import open_index
    from nlpkit.index import vectors as vx

    faiss.omp_set_num_threads(2)  # build on both cores; queries one thread (below)
    vectors, queries = np.load(vectors_file), np.load(queries_file)
    began = time.perf_counter()
    index, layout = vx.build_vectors(vectors, kind)
    build_s = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vectors_mb = vectors.nbytes / 2**20
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_folder(Path(scratch), index, layout, len(vectors), vectors.shape[1])
        del index, vectors
        began = time.perf_counter()
        opened = open_index(folder)
        open_s = time.perf_counter() - began
        faiss.omp_set_num_threads(1)
        times, found = latencies(opened.vectors, queries)
        hit_times = []
        for query in queries:
            start = time.perf_counter()
            opened.search_vectors(query[None, :], TOP_K)
            hit_times.append(time.perf_counter() - start)
        sweep = {}
        for nprobe in SWEEP if layout.nlist else ():
            opened.vectors.nprobe = nprobe
            probe_times, probe_found = latencies(opened.vectors, queries)
            sweep[nprobe] = (probe_times, probe_found.tolist())
        search_rss_mb = current_rss_mb()  # the build's arrays are freed: a searcher's memory
    out.update(
        kind=kind,
        build_s=build_s,
        peak_rss_mb=peak_mb,
        open_ms=open_s * 1000,
        p50_ms=statistics.median(times) * 1000,
        p95_ms=float(np.percentile(times, 95)) * 1000,
        hits_p95_ms=float(np.percentile(hit_times, 95)) * 1000,
        nlist=layout.nlist,
        nprobe=layout.nprobe,
        found=found.tolist(),
        vectors_mb=vectors_mb,
        sweep={
            n: (statistics.median(t) * 1000, float(np.percentile(t, 95)) * 1000, f)
            for n, (t, f) in sweep.items()
        },
        search_rss_mb=search_rss_mb,
    )


def current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def write_folder(scratch: Path, index, layout, count: int, dimension: int) -> Path:
    """An index folder as nlpkit writes one; its rows hold the corpus sentences, cycled."""
    import pyarrow as pa

    from nlpkit.index import vectors as vx
    from nlpkit.index.manifest import MANIFEST, VECTORS, IndexManifest, part_name
    from nlpkit.index.rows import write_part

    folder = scratch / "index"
    folder.mkdir()
    texts = corpus_sentences()
    rows = pa.table({"text": [texts[i % len(texts)] for i in range(count)]})
    write_part(rows, folder / part_name(0))
    vx.write_vectors(index, folder / VECTORS)
    manifest = IndexManifest(
        model="minilm",
        pooling="mean",
        dimension=dimension,
        count=count,
        kind=layout.kind,
        library=vx.library_version(),
        text_column="text",
        nlist=layout.nlist,
        nprobe=layout.nprobe,
        parts=[part_name(0)],
    )
    (folder / MANIFEST).write_text(manifest.with_files(folder).to_json(), encoding="utf-8")
    return folder


def run_kind(vectors_file: Path, queries_file: Path, kind: str) -> dict:
    with multiprocessing.Manager() as manager:
        shared = manager.dict()
        child = multiprocessing.get_context("spawn").Process(
            target=measure, args=(str(vectors_file), str(queries_file), kind, shared)
        )
        child.start()
        child.join()
        return dict(shared)


def compare_libraries(vectors: np.ndarray, queries: np.ndarray) -> None:
    """HNSW in FAISS and in usearch with the same graph settings, and FAISS IVF as nlpkit
    builds it: build time, recall@10 against exact, single-query p95 (one thread)."""
    import faiss
    import usearch.index

    from nlpkit.index import vectors as vx

    truth = faiss.knn(queries, vectors, TOP_K, metric=faiss.METRIC_INNER_PRODUCT)[1]
    began = time.perf_counter()
    graph = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction, graph.hnsw.efSearch = 64, 64
    graph.add(vectors)
    built = {"faiss HNSW (M 32, efC 64, ef 64)": (graph, time.perf_counter() - began)}
    began = time.perf_counter()
    other = usearch.index.Index(
        ndim=vectors.shape[1], metric="ip", dtype="f32", connectivity=32, expansion_add=64
    )
    other.expansion_search = 64
    other.add(np.arange(len(vectors)), vectors, threads=2)
    built["usearch HNSW (M 32, efC 64, ef 64)"] = (other, time.perf_counter() - began)
    began = time.perf_counter()
    built["faiss IVF (nlpkit)"] = (vx.build_vectors(vectors, "ivf")[0], time.perf_counter() - began)
    faiss.omp_set_num_threads(1)
    for name, (index, seconds) in built.items():
        times, found = [], []
        for query in queries:
            start = time.perf_counter()
            if isinstance(index, usearch.index.Index):
                found.append(index.search(query, TOP_K, threads=1).keys)
            else:
                found.append(index.search(query[None, :], TOP_K)[1][0])
            times.append(time.perf_counter() - start)
        p95 = float(np.percentile(times, 95)) * 1000
        print(
            f"{name:<36} build {seconds:6.1f} s  recall@10 {recall_at_10(found, truth):.3f}  "
            f"p95 {p95:.2f} ms",
            flush=True,
        )
    faiss.omp_set_num_threads(2)


def recall_at_10(found, truth) -> float:
    return float(np.mean([len(set(f) & set(t)) / TOP_K for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=int, default=100_000, help="real sentences to embed")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--sigma", type=float, default=0.03)
    parser.add_argument("--kinds", default="flat,ivf", help="flat,ivf (recall needs flat)")
    parser.add_argument(
        "--libraries",
        type=int,
        default=0,
        metavar="N",
        help="also compare FAISS and usearch HNSW on the first N vectors (0: skip)",
    )
    args = parser.parse_args()
    texts = corpus_sentences()
    real = cached_vectors(f"corpus-{len(texts)}", texts, args.real)
    print(f"corpus: {len(real)} real sentences embedded, of {len(texts)} distinct ones")
    queries = cached_vectors("sst2-validation", [r["sentence"] for r in sst2_rows()])[
        : args.queries
    ]
    query_file = CACHE / "queries.npy"
    np.save(query_file, queries)
    if args.libraries:
        print(f"libraries, {args.libraries} vectors:")
        compare_libraries(np.ascontiguousarray(grown(real, args.libraries, args.sigma)), queries)
    print(
        f"{'size':>9} {'kind':>5} {'build s':>8} {'peak RSS MB':>11} {'open ms':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'hits p95':>8} {'recall@10':>9}  layout"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        vectors_file = CACHE / f"grown-{len(real)}-{size}-{args.sigma}.npy"
        if not vectors_file.exists():
            np.save(vectors_file, grown(real, size, args.sigma))
        rows = {kind: run_kind(vectors_file, query_file, kind) for kind in args.kinds.split(",")}
        if "flat" not in rows:  # the exact top 10, without timing a flat index
            import faiss

            exact = faiss.knn(
                queries,
                np.load(vectors_file, mmap_mode="r")[:],
                TOP_K,
                metric=faiss.METRIC_INNER_PRODUCT,
            )[1]
            rows["flat"] = {"found": exact.tolist(), "skip": True}
        for kind, row in rows.items():
            if row.get("skip"):
                continue
            score = recall_at_10(row["found"], rows["flat"]["found"])
            layout = f"nlist {row['nlist']}, nprobe {row['nprobe']}" if row["nlist"] else "exact"
            print(
                f"{size:>9} {kind:>5} {row['build_s']:>8.1f} {row['peak_rss_mb']:>11.0f} "
                f"{row['open_ms']:>8.1f} {row['p50_ms']:>7.2f} {row['p95_ms']:>7.2f} "
                f"{row['hits_p95_ms']:>8.2f} "
                f"{score:>9.3f}  {layout}; vectors {row['vectors_mb']:.0f} MB, searching process "
                f"{row['search_rss_mb']:.0f} MB RSS",
                flush=True,
            )
        for nprobe, (p50, p95, found) in rows.get("ivf", {}).get("sweep", {}).items():
            score = recall_at_10(found, rows["flat"]["found"])
            print(
                f"{size:>9}   ivf nprobe {nprobe:>4}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                f"recall@10 {score:.3f}",
                flush=True,
            )
        if "p95_ms" in rows["flat"] and "ivf" in rows:
            ratio = rows["flat"]["p95_ms"] / rows["ivf"]["p95_ms"]
            print(f"{size:>9} p95 exact / IVF: {ratio:.1f}x", flush=True)


if __name__ == "__main__":
    main()
