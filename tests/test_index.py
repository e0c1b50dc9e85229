"""nlpkit index build|add and nlpkit search: a small index on a tiny random model, the
real CLI, the Python API, a kill and resume, and every bad input the issue lists."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nlpkit
from nlpkit.errors import InputError, OutputError, UsageError
from nlpkit.index import add_to_index, build_index, open_index
from tests.conftest import invoke, run_nlpkit
from tests.tiny_models import SENTENCES

ROWS = len(SENTENCES)  # 280


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    keys = [f"doc-{i}" for i in range(ROWS)]
    pq.write_table(pa.table({"key": keys, "sentence": SENTENCES, "n": list(range(ROWS))}), path)
    return path


@pytest.fixture(scope="module")
def index(tiny, corpus, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("indexes") / "idx"
    build_index(corpus, folder, text_column="sentence", id_column="key", model=tiny["bert"])
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_build_then_search_through_the_cli(tiny, tmp_path, capsys, monkeypatch):
    rows = "\n".join(f"{i}\t{s}" for i, s in enumerate(SENTENCES[:60]))
    (tmp_path / "c.tsv").write_text("id\ttext\n" + rows + "\n", encoding="utf-8")
    build = run_nlpkit(
        "index", "build", "-i", "c.tsv", "-o", "idx", "-m", tiny["bert"], cwd=tmp_path
    )
    assert build.returncode == 0, build.stderr
    assert "60 rows built idx" in build.stdout and "flat (exact)" in build.stdout
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["model"] == str(Path(tiny["bert"]).resolve())
    assert (manifest["dimension"], manifest["count"], manifest["metric"]) == (32, 60, "cosine")
    assert manifest["library"].startswith("faiss-cpu ") and manifest["pooling"] == "mean"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    query = SENTENCES[7]
    monkeypatch.chdir(tmp_path)
    code, found, err = invoke(capsys, monkeypatch, "search", "idx", query, "-k", "3", "-f", "json")
    assert code == 0, err
    hits = json.loads(found)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["text"] == query and str(hits[0]["id"]) == "7"  # a row is its own nearest
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]


def test_python_search_gives_typed_hits_and_add_grows_the_index(tiny, index, tmp_path):
    hits = nlpkit.search(index, SENTENCES[5], top_k=4)
    assert isinstance(hits[0], nlpkit.SearchHit) and len(hits) == 4
    assert (hits[0].id, hits[0].text, hits[0].columns) == ("doc-5", SENTENCES[5], {"n": 5})
    many = open_index(index).search([SENTENCES[1], SENTENCES[2]], top_k=2)
    assert [[h.id for h in hits][0] for hits in many] == ["doc-1", "doc-2"]
    grown = Path(shutil.copytree(index, tmp_path / "grown"))
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps({"key": "new", "sentence": "python rocks hard ."}) + "\n"))
    result = add_to_index(grown, more, text_column="sentence")
    assert (result.added, result.manifest.count, len(result.manifest.parts)) == (1, ROWS + 1, 2)
    assert (grown / "rows-00000.parquet").stat().st_ino != 0
    assert nlpkit.search(grown, "python rocks hard .", top_k=1)[0].id == "new"
    assert json.loads((index / "manifest.json").read_text())["count"] == ROWS  # copy untouched


def test_a_killed_build_resumes_and_leaves_nothing_half_written(tiny, corpus, tmp_path):
    out = tmp_path / "idx"
    seen = []

    def stop_after_first_shard(done: int, total: int) -> None:
        seen.append(done)
        if done > 100:  # in the second shard: the first one is saved
            raise KeyboardInterrupt

    options = {"text_column": "sentence", "model": tiny["bert"], "shard_rows": 100}
    with pytest.raises(nlpkit.NlpkitError, match="--resume"):
        build_index(corpus, out, progress=stop_after_first_shard, **options)
    assert not out.exists() and (tmp_path / ".idx.building").is_dir()
    with pytest.raises(OutputError, match="unfinished build"):
        build_index(corpus, out, **options)
    done = []
    result = build_index(corpus, out, resume=True, progress=lambda d, t: done.append(d), **options)
    assert result.manifest.count == ROWS and done[0] == 100  # the first shard was kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_an_ivf_index_finds_what_the_exact_one_finds(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16))
    vectors = (centers[rng.integers(0, 20, 2000)] + 0.3 * rng.normal(size=(2000, 16))).astype(
        np.float32
    )
    path = tmp_path / "v.parquet"
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 16)
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(2000)], "vec": column}), path)
    flat = build_index(path, tmp_path / "flat", vector_column="vec", model="minilm", kind="flat")
    ivf = build_index(path, tmp_path / "ivf", vector_column="vec", model="minilm", kind="ivf")
    assert (flat.manifest.kind, ivf.manifest.kind) == ("flat", "ivf") and ivf.manifest.nprobe
    queries = vectors[:50] + 0.1 * rng.normal(size=(50, 16)).astype(np.float32)
    exact = open_index(tmp_path / "flat").search_vectors(queries, top_k=10)
    approx = open_index(tmp_path / "ivf").search_vectors(queries, top_k=10)
    overlap = [
        len({h.id for h in a} & {h.id for h in e}) / 10 for a, e in zip(approx, exact, strict=True)
    ]
    assert np.mean(overlap) >= 0.9


def test_another_model_is_refused_with_both_names(index, tiny, capsys, monkeypatch):
    with pytest.raises(UsageError, match=r"built with model '.*bert', not 'minilm'"):
        nlpkit.search(index, "hello", model="minilm")
    code, _, err = invoke(capsys, monkeypatch, "search", str(index), "hello", "-m", "minilm")
    assert code == 2 and "not 'minilm'" in err and "--model " in err
    with pytest.raises(UsageError, match="not 'minilm'"):
        add_to_index(index, index / "rows-00000.parquet", model="minilm")


def test_top_k_zero_and_empty_queries_are_refused(index, capsys, monkeypatch):
    code, _, err = invoke(capsys, monkeypatch, "search", str(index), "hello", "--top-k", "0")
    assert code == 2 and err.strip() == "error: --top-k must be 1 or more, got 0"
    with pytest.raises(InputError):
        nlpkit.search(index, "   ")


def test_a_dimension_mismatch_on_add_changes_nothing(index, tmp_path):
    before = files_of(index)
    path = tmp_path / "v8.parquet"
    column = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(8, np.float32)), 8)
    pq.write_table(pa.table({"text": ["x"], "vec": column}), path)
    with pytest.raises(InputError, match="dimension 8 cannot join an index of dimension 32"):
        add_to_index(index, path, vector_column="vec")
    assert files_of(index) == before


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_a_missing_or_truncated_file_is_named(index, tmp_path, damage, capsys, monkeypatch):
    broken = Path(shutil.copytree(index, tmp_path / "broken"))
    target = broken / ("vectors.faiss" if damage == "truncate" else "rows-00000.parquet")
    if damage == "truncate":
        os.truncate(target, target.stat().st_size // 2)
    else:
        target.unlink()
    before = files_of(broken)
    code, _, err = invoke(capsys, monkeypatch, "search", str(broken), "hello")
    assert code == 2 and str(target) in err
    assert ("truncated" if damage == "truncate" else "missing") in err and "--overwrite" in err
    with pytest.raises(InputError):
        add_to_index(broken, index / "rows-00000.parquet")
    assert files_of(broken) == before
    code, _, err = invoke(capsys, monkeypatch, "search", str(tmp_path / "nothing"), "hello")
    assert code == 2 and "no such index folder" in err


def test_bad_rows_and_columns_are_refused_before_any_embedding(tiny, tmp_path, index):
    model = tiny["bert"]
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"text": [1, 2, 3]}), numbers)
    with pytest.raises(InputError, match="column 'text' holds int64, not text"):
        build_index(numbers, tmp_path / "a", model=model)
    holes = tmp_path / "holes.csv"
    holes.write_text('text\nthe movie is great .\n""\nthe plot is bad .\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"holes.csv row 2: empty text.*skip_bad_rows"):
        build_index(holes, tmp_path / "b", model=model)
    assert not (tmp_path / "b").exists()
    result = build_index(holes, tmp_path / "b", model=model, skip_bad_rows=True)
    assert (result.manifest.count, result.skipped) == (2, 1)
    assert json.loads(result.skipped_file.read_text())["row"] == 1
    before = files_of(index)
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        build_index(holes, index, model=model)
    assert files_of(index) == before


def test_serve_answers_v1_search_from_the_index(tiny, index, tmp_path):
    import httpx

    from nlpkit.serve.app import create_app
    from nlpkit.serve.engine import Engine, Settings
    from tests.serve_helpers import serving

    with serving({"embed": tiny["bert"]}, index=str(index)) as (url, _engine):
        body = {"query": [SENTENCES[3], SENTENCES[9]], "top_k": 2}
        reply = httpx.post(f"{url}/v1/search", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        results = reply.json()["results"]
        assert [r["hits"][0]["id"] for r in results] == ["doc-3", "doc-9"]
        assert results[0]["hits"][0]["columns"] == {"n": 3}
        expected = nlpkit.search(index, SENTENCES[3], top_k=2)
        assert [h["score"] for h in results[0]["hits"]] == pytest.approx(
            [h.score for h in expected], abs=1e-5
        )
        for bad in ({"query": "x", "top_k": 0}, {"query": " "}, {"query": "x", "k": 1}):
            refused = httpx.post(f"{url}/v1/search", json=bad, timeout=30)
            assert refused.status_code in (400, 422), (bad, refused.text)
    other = Engine({"embed": str(Path(tiny["bert"]).parent / "gpt2")}, Settings(index=str(index)))
    with pytest.raises(UsageError, match="built with model"):
        create_app(other)
