"""nlpkit serve in-process: every endpoint and every error, over tiny random models.

The app runs under fastapi's TestClient (its lifespan, real ASGI) or httpx's ASGI
transport for concurrent requests; a real server and real clients are in
test_serve_openai.py, the real command in test_serve_cli.py, the page in
test_serve_browser.py.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient

import nlpkit
from nlpkit.serve.app import create_app
from nlpkit.serve.engine import Engine, Settings, choose_models
from nlpkit.serve.limits import Limits
from tests.serve_helpers import slow_recorded_generation, tiny_chat_model

TEXTS = ["I love this", "this is awful", "a film"]
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def engine(tiny, tmp_path_factory):
    chat = tiny_chat_model(tiny["gpt2"], tmp_path_factory.mktemp("chat") / "gpt2-chat")
    models = {
        "classify": tiny["bert"],
        "generate": chat,
        "summarize": tiny["t5"],
        "translate": tiny["marian"],
    }
    engine = Engine(models, Settings(device="cpu", threads=1, max_batch=16, max_wait_ms=30))
    loaded = []
    engine.load(lambda task, model, seconds: loaded.append(task))
    assert loaded == list(models)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine)) as client:
        yield client


def error_of(response, status: int, kind: str = "invalid_request_error") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] == kind
    return body["error"]["message"]


def sse(response) -> list:
    """The data of each server-sent event; the stream must end with [DONE]."""
    events = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def test_health_models_page_and_openapi(client, engine):
    assert client.get("/health").json() == {"status": "ok", "tasks": list(engine.models)}
    ids = [row["id"] for row in client.get("/v1/models").json()["data"]]
    assert ids == list(engine.models.values())
    page = client.get("/")
    assert page.status_code == 200 and "<script>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/classify", "/v1/generate", "/v1/chat/completions"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_favicon_is_no_404_and_the_page_carries_its_icon(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 204 and icon.content == b""
    assert '<link rel="icon"' in client.get("/").text


def test_classify_answers_as_the_library_does(client, engine):
    body = client.post("/v1/classify", json={"texts": TEXTS, "top_k": 2}).json()
    expected = nlpkit.classify(TEXTS, model=engine.models["classify"], top_k=2, device="cpu")
    assert [row["label"] for row in body["results"]] == [r.label for r in expected]
    assert [row["score"] for row in body["results"]] == [r.score for r in expected]
    assert all(len(row["top"]) == 2 for row in body["results"])
    one = client.post("/v1/classify", json={"texts": TEXTS[:1]}).json()["results"][0]
    assert len(one["top"]) == 1 and one["label"] == expected[0].label


def test_generate_answers_as_the_library_does(client, engine):
    prompts = ["the cat", "once upon a time there"]
    body = client.post("/v1/generate", json={"prompts": prompts, "max_new_tokens": 8}).json()
    expected = nlpkit.generate(prompts, model=engine.models["generate"], max_new_tokens=8)
    assert [row["text"] for row in body["results"]] == [g.text for g in expected]
    assert all(row["finish_reason"] in ("length", "stop") for row in body["results"])


def test_generate_streams_the_same_text_token_by_token(client):
    request = {"prompts": ["the cat"], "max_new_tokens": 8}
    whole = client.post("/v1/generate", json=request).json()["results"][0]
    response = client.post("/v1/generate", json={**request, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response)
    pieces = [event["text"] for event in events if "text" in event]
    assert len(pieces) > 1 and "".join(pieces) == whole["text"]
    assert events[-1] == {
        "done": True,
        "new_tokens": whole["new_tokens"],
        "finish_reason": whole["finish_reason"],
    }


def test_summarize_and_translate(client):
    summaries = client.post("/v1/summarize", json={"texts": TEXTS, "max_new_tokens": 4}).json()
    assert len(summaries["results"]) == 3 and all("summary" in r for r in summaries["results"])
    request = {"texts": TEXTS[:2], "src": "en", "tgt": "de", "max_new_tokens": 4}
    translations = client.post("/v1/translate", json=request).json()
    assert [set(r) for r in translations["results"]] == [{"translation"}] * 2


def test_chat_and_completions_in_openai_shapes(client):
    chat = client.post(
        "/v1/chat/completions",
        json={
            "model": "anything",
            "max_tokens": 6,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
        },
    ).json()
    assert (
        chat["object"] == "chat.completion" and chat["choices"][0]["message"]["role"] == "assistant"
    )
    assert chat["usage"]["completion_tokens"] <= 6
    text = client.post("/v1/completions", json={"prompt": ["a", "b"], "max_tokens": 5}).json()
    assert [c["index"] for c in text["choices"]] == [0, 1] and text["object"] == "text_completion"
    streamed = client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 6,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    chunks = sse(streamed)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] in ("length", "stop")
    assert chunks[-1]["usage"]["completion_tokens"] <= 6


def test_concurrent_requests_share_one_forward_pass(engine):
    app = create_app(engine)

    async def many() -> list:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            calls = [http.post("/v1/classify", json={"texts": [text]}) for text in TEXTS * 4]
            return await asyncio.gather(*calls)

    batcher = engine.batchers[engine.models["classify"]]
    before = len(batcher.batches)
    responses = asyncio.run(many())
    labels = [r.json()["results"][0]["label"] for r in responses]
    expected = nlpkit.classify(TEXTS * 4, model=engine.models["classify"], device="cpu")
    assert labels == [r.label for r in expected]
    ran = batcher.batches[before:]
    assert sum(ran) == 12 and max(ran) > 1, ran


def test_a_stream_left_early_stops_its_row_and_frees_the_batch(engine, monkeypatch):
    from nlpkit.serve import generation

    finished = slow_recorded_generation(monkeypatch, generation)

    async def leave_after_two_pieces() -> None:
        [prompt] = engine.prompts(["the cat"], max_new_tokens=40, chat=False)
        stream = engine.stream(prompt, {"do_sample": False})
        pieces = [await stream.__anext__(), await stream.__anext__()]
        assert all(isinstance(piece, str) for piece in pieces)
        await stream.aclose()  # what starlette does when the client disconnects
        for _ in range(200):
            if finished:
                return
            await asyncio.sleep(0.01)

    asyncio.run(leave_after_two_pieces())
    [done] = finished
    assert done.finish_reason == "cancelled" and done.new_tokens < 40


def test_limits_are_400_or_413_json(engine):
    limits = Limits(max_texts=2, max_chars=20, max_body_bytes=400, max_new_tokens=10)
    with TestClient(create_app(engine, limits)) as client:
        assert "at most 2" in error_of(client.post("/v1/classify", json={"texts": TEXTS}), 400)
        long = {"texts": ["x" * 21]}
        assert "texts[0] has 21 characters" in error_of(client.post("/v1/classify", json=long), 400)
        tokens = {"prompts": ["a"], "max_new_tokens": 11}
        assert "cap of 10" in error_of(client.post("/v1/generate", json=tokens), 400)
        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
        assert "max_tokens" in error_of(client.post("/v1/chat/completions", json=chat), 400)
        big = json.dumps({"texts": ["x" * 10] * 50})
        sized = client.post(
            "/v1/classify", content=big, headers={"content-type": "application/json"}
        )
        assert "400 bytes" in error_of(sized, 413, "request_too_large")
        chunked = client.post(
            "/v1/classify",
            content=iter([big.encode()]),
            headers={"content-type": "application/json"},
        )
        error_of(chunked, 413, "request_too_large")


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/v1/classify", {"texts": []}, "texts is empty"),
        ("/v1/classify", {"texts": [""]}, "texts[0] is empty"),
        ("/v1/classify", {"texts": ["fine", " \n"]}, "texts[1] is empty"),
        ("/v1/summarize", {"texts": ["a", "", "b"]}, "texts[1] is empty"),
        ("/v1/translate", {"texts": ["  "]}, "texts[0] is empty"),
        ("/v1/generate", {"prompts": ["a", ""]}, "prompts[1] is empty"),
        ("/v1/classify", {"text": ["a"]}, "texts: Field required"),
        ("/v1/classify", {"texts": "a string"}, "texts: Input should be a valid list"),
        ("/v1/classify", {"texts": ["a"], "top_k": 0}, "top_k"),
        ("/v1/classify", {"texts": ["a"], "model": "/etc"}, "model: Extra inputs are not"),
        ("/v1/generate", {"prompts": ["a", "b"], "stream": True}, "one prompt at a time"),
        ("/v1/generate", {"prompts": ["a"], "temperature": 0}, "temperature"),
        ("/v1/chat/completions", {"messages": []}, "messages"),
        ("/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "n": 2}, "n=2"),
        ("/v1/completions", {"prompt": "x", "stop": ["a", ""]}, "up to 4 non-empty strings"),
        ("/v1/completions", {"prompt": "x", "logprobs": 1}, "logprobs"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x"}], "logprobs": True},
            "logprobs",
        ),
        ("/v1/completions", {"prompt": ["a", "b"], "stream": True}, "one prompt at a time"),
    ],
)
def test_bad_requests_are_400_json(client, path, body, expected):
    assert expected in error_of(client.post(path, json=body), 400)


def test_broken_json_unknown_paths_and_methods(client):
    broken = client.post(
        "/v1/classify", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert "JSON" in error_of(broken, 400)
    error_of(client.get("/v1/nothing"), 404, "not_found_error")
    error_of(client.get("/v1/classify"), 405)


def test_a_task_not_served_is_400_and_names_the_flag(tiny):
    engine = Engine({"classify": tiny["bert"]}, Settings(device="cpu", threads=1))
    with TestClient(create_app(engine)) as client:
        message = error_of(client.post("/v1/generate", json={"prompts": ["a"]}), 400)
        assert "does not serve generate" in message and "--task generate" in message
        error_of(
            client.post(
                "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
            ),
            400,
        )
    engine.close()


def test_an_unexpected_failure_is_a_500_without_a_traceback(engine, monkeypatch):
    from nlpkit.tasks import classify

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom in the model")

    monkeypatch.setattr(classify, "classify", broken)
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        response = client.post("/v1/classify", json={"texts": ["a"]})
    message = error_of(response, 500, "server_error")
    assert "RuntimeError" in message and "Traceback" not in response.text


def test_api_key_guards_everything_but_the_page_and_health(engine):
    with TestClient(create_app(engine, api_key=KEY)) as client:
        request = {"texts": ["a"]}
        error_of(client.post("/v1/classify", json=request), 401, "authentication_error")
        wrong = {"Authorization": "Bearer nope"}
        error_of(
            client.post("/v1/classify", json=request, headers=wrong), 401, "authentication_error"
        )
        error_of(client.get("/v1/models"), 401, "authentication_error")
        error_of(client.get("/openapi.json"), 401, "authentication_error")
        right = {"Authorization": f"Bearer {KEY}"}
        assert client.post("/v1/classify", json=request, headers=right).status_code == 200
        assert client.get("/health").status_code == 200 and client.get("/").status_code == 200
        assert client.get("/favicon.ico").status_code == 204  # a browser sends no key for it


def test_cors_is_off_unless_an_origin_is_given(engine):
    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(engine)) as client:
        response = client.options("/v1/classify", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    with TestClient(create_app(engine, cors_origins=["http://app.example"])) as client:
        response = client.options("/v1/classify", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "http://app.example"
        other = client.options("/v1/classify", headers={**preflight, "Origin": "http://evil"})
        assert "access-control-allow-origin" not in other.headers


def test_choose_models_serves_what_is_available_offline(tiny):
    from nlpkit.errors import UsageError
    from nlpkit.models.builtin import BUILTIN_MODELS

    chosen = choose_models(models={"classify": tiny["bert"]})
    assert chosen["classify"] == tiny["bert"]
    if BUILTIN_MODELS["smollm2"].source_path() is not None:
        assert chosen["generate"] == chosen["summarize"] == "smollm2"
    assert choose_models(["classify"]) == {"classify": "sentiment"}
    for tasks, models, message in [
        (["nope"], {}, "unknown task 'nope'"),
        (["classify"], {"generate": "x"}, "not served"),
        (["translate"], {}, "translate needs its model named"),
    ]:
        with pytest.raises(UsageError, match=message):
            choose_models(tasks, models)


def test_a_failure_after_the_stream_began_is_its_last_event(client, monkeypatch):
    from nlpkit.serve import generation

    def broken(*_args):
        raise RuntimeError("boom in generate")

    monkeypatch.setattr(generation, "generate_batch", broken)
    request = {"prompts": ["a"], "max_new_tokens": 4, "stream": True}
    response = client.post("/v1/generate", json=request)
    assert response.status_code == 200
    [event] = sse(response)
    assert event["error"]["type"] == "server_error" and "RuntimeError" in event["error"]["message"]


@pytest.mark.parametrize(
    ("setting", "classifier_wait", "generator_wait"),
    [(None, 0.005, 0.02), (7.0, 0.007, 0.007)],
)
def test_a_model_that_generates_waits_longer_for_company_unless_told(
    setting, classifier_wait, generator_wait
):
    models = {"classify": "a-classifier", "generate": "a-chat-model", "summarize": "a-chat-model"}
    engine = Engine(models, Settings(max_wait_ms=setting))  # batchers only: nothing loads
    try:
        assert engine.batchers["a-classifier"].max_wait_s == pytest.approx(classifier_wait)
        assert engine.batchers["a-chat-model"].max_wait_s == pytest.approx(generator_wait)
    finally:
        engine.close()


def test_entities_endpoint_gives_the_entities_of_the_python_api(tmp_path):
    """Two requests batched together; offsets index each text; a bad aggregation is a 400."""
    import dataclasses

    from nlpkit import entities
    from tests.tiny_models import build_bert_tagger

    tagger = str(build_bert_tagger(tmp_path / "tagger"))
    engine = Engine({"entities": tagger}, Settings(device="cpu", threads=1))
    texts = ["Angela Merkel visited Paris in 2019.", "the  wonderful cat sat in Berlin"]
    with TestClient(create_app(engine)) as client:
        body = client.post("/v1/entities", json={"texts": texts, "aggregation": "first"}).json()
        error_of(client.post("/v1/entities", json={"texts": ["a"], "aggregation": "mean"}), 400)
        error_of(client.post("/v1/entities", json={"texts": [""]}), 400)
    engine.close()
    expected = entities(texts, model=tagger, aggregation="first", backend="torch")
    assert body["model"] == tagger
    for row, result, text in zip(body["results"], expected, texts, strict=True):
        assert row["entities"] == [dataclasses.asdict(e) for e in result.entities]
        assert all(text[e["start"] : e["end"]] == e["text"] for e in row["entities"])
