"""/v1/embeddings with the official openai client against a real server, /v1/similarity,
concurrent requests batched together, bad input answered with 400s, and --index's hook."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest

import nlpkit
from tests.conftest import invoke
from tests.serve_helpers import serving
from tests.test_serve_browser import browser  # noqa: F401 (the fixture)
from tests.tiny_models import SENTENCES, build_bert_encoder


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = str(build_bert_encoder(tmp_path_factory.mktemp("encoder") / "st"))
    with serving({"embed": folder}) as (url, _engine):
        yield url, folder


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=f"{served[0]}/v1", api_key="none", max_retries=0, timeout=30)


def test_the_openai_client_gets_the_library_vectors(client, served):
    reply = client.embeddings.create(model="anything", input=SENTENCES[:3])
    expected = nlpkit.embed(SENTENCES[:3], model=served[1])
    assert reply.model == served[1] and [d.index for d in reply.data] == [0, 1, 2]
    np.testing.assert_allclose([d.embedding for d in reply.data], expected, atol=1e-5)
    assert reply.usage.prompt_tokens == reply.usage.total_tokens > 3
    # the client asks for base64 unless told otherwise, and decodes it; float as asked
    one = client.embeddings.create(model="x", input=SENTENCES[0], encoding_format="float")
    np.testing.assert_allclose(one.data[0].embedding, expected[0], atol=1e-5)


def test_base64_is_little_endian_float32(served):
    body = {"input": SENTENCES[0], "encoding_format": "base64"}
    reply = httpx.post(f"{served[0]}/v1/embeddings", json=body, timeout=30).json()
    vector = np.frombuffer(base64.b64decode(reply["data"][0]["embedding"]), "<f4")
    np.testing.assert_allclose(vector, nlpkit.embed(SENTENCES[0], model=served[1])[0], atol=1e-5)


def test_concurrent_requests_get_their_own_vectors(served):
    def one(text: str) -> list[float]:
        reply = httpx.post(f"{served[0]}/v1/embeddings", json={"input": text}, timeout=30)
        return reply.json()["data"][0]["embedding"]

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, SENTENCES[:32]))
    np.testing.assert_allclose(got, nlpkit.embed(SENTENCES[:32], model=served[1]), atol=1e-5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": "hi", "dimensions": 8}, "gives 32-dimensional vectors"),
        ({"input": ["fine", " "]}, "input[1] is empty"),
        ({"input": []}, "input is empty"),
        ({"input": "hi", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(served, body, message):
    reply = httpx.post(f"{served[0]}/v1/embeddings", json=body, timeout=30)
    assert reply.status_code == 400 and message in reply.json()["error"]["message"]


def test_similarity_endpoint(served):
    body = {"texts": SENTENCES[:3]}
    scores = httpx.post(f"{served[0]}/v1/similarity", json=body, timeout=30).json()["scores"]
    expected = nlpkit.similarity(SENTENCES[:3], model=served[1])
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    body = {"texts": SENTENCES[:1], "others": SENTENCES[:3]}
    scores = httpx.post(f"{served[0]}/v1/similarity", json=body, timeout=30).json()["scores"]
    np.testing.assert_allclose(scores, expected[:1], atol=1e-5)
    alone = httpx.post(f"{served[0]}/v1/similarity", json={"texts": ["one"]}, timeout=30)
    assert alone.status_code == 400 and "at least two" in alone.json()["error"]["message"]


def test_index_needs_an_embedding_task(tiny, tmp_path, capsys, monkeypatch):
    args = ("serve", "--task", "classify", "--model", f"classify={tiny['bert']}")
    code, _, err = invoke(capsys, monkeypatch, *args, "--index", str(tmp_path), "--port", "0")
    assert code != 0 and "--index" in err and "--task embed" in err


def test_the_page_embeds_and_compares(served, browser, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 900, "height": 720})
    page.goto(served[0] + "/")
    page.wait_for_selector("#task option[value=similarity]", state="attached")
    page.select_option("#task", "embed")
    page.fill("#input", "\n".join(SENTENCES[:2]))
    page.click("#run")
    page.wait_for_selector(".vector")
    shown = page.locator(".vector").all_text_contents()
    assert len(shown) == 2 and all(s.startswith("32 dimensions, norm 1.0000: [") for s in shown)
    page.select_option("#task", "similarity")
    page.fill("#input", "\n".join(SENTENCES[:3]))
    page.click("#run")
    page.wait_for_selector(".sims")
    cells = page.locator(".sims td.num").all_text_contents()
    expected = nlpkit.similarity(SENTENCES[:3], model=served[1])
    np.testing.assert_allclose([float(c) for c in cells], expected.ravel(), atol=1e-3)
    page.screenshot(path=str(tmp_path / "similarity.png"), full_page=True)
    page.close()
