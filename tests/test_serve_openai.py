"""The official openai client against a real local server (uvicorn on 127.0.0.1), and a
client that hangs up mid-stream over real HTTP."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.serve_helpers import serving, slow_recorded_generation, tiny_chat_model

KEY = "test-key"


@pytest.fixture(scope="module")
def served(tiny, tmp_path_factory):
    chat = tiny_chat_model(tiny["gpt2"], tmp_path_factory.mktemp("chat") / "gpt2-chat")
    with serving({"classify": tiny["bert"], "generate": chat}, api_key=KEY) as (url, engine):
        yield url, engine


@pytest.fixture
def client(served):
    return openai.OpenAI(base_url=f"{served[0]}/v1", api_key=KEY, max_retries=0, timeout=30)


def test_chat_completion(client, served):
    reply = client.chat.completions.create(
        model="nlpkit", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8
    )
    assert reply.model == served[1].models["generate"]
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content and reply.choices[0].finish_reason in ("length", "stop")
    assert 0 < reply.usage.completion_tokens <= 8


def test_chat_completion_streams_token_by_token(client):
    kwargs = {
        "model": "nlpkit",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_tokens": 8,
    }
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    chunks = list(client.chat.completions.create(**kwargs, stream=True))
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 1 and "".join(pieces) == whole
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")


def test_completions_and_models(client, served):
    reply = client.completions.create(model="nlpkit", prompt="the cat", max_tokens=5)
    assert reply.choices[0].text and reply.usage.completion_tokens <= 5
    streamed = client.completions.create(
        model="nlpkit", prompt="the cat", max_tokens=5, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in streamed) == reply.choices[0].text
    assert [m.id for m in client.models.list()] == list(served[1].models.values())


def test_stop_cuts_the_text_before_the_first_stop_string_streaming_too(client):
    chat = {"model": "nlpkit", "messages": [{"role": "user", "content": "Say hi"}]}
    whole = client.chat.completions.create(**chat, max_tokens=24).choices[0].message.content
    stop = whole[len(whole) // 2 :][:3]
    expected = whole[: whole.find(stop)]
    reply = client.chat.completions.create(**chat, max_tokens=24, stop=[stop, "never seen"])
    assert reply.choices[0].message.content == expected
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens < 24
    chunks = list(client.chat.completions.create(**chat, max_tokens=24, stop=stop, stream=True))
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == expected and chunks[-1].choices[0].finish_reason == "stop"
    text = client.completions.create(model="nlpkit", prompt="the cat", max_tokens=24).choices[0]
    cut = text.text[len(text.text) // 2 :][:2]
    streamed = client.completions.create(
        model="nlpkit", prompt="the cat", max_tokens=24, stop=cut, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == text.text[: text.text.find(cut)]


def test_a_seed_repeats_a_sampled_reply_even_beside_other_requests(client):
    from concurrent.futures import ThreadPoolExecutor

    def sample(seed: int) -> str:
        reply = client.completions.create(
            model="nlpkit", prompt="the cat", max_tokens=12, temperature=1.0, seed=seed
        )
        return reply.choices[0].text

    alone = sample(7)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(sample, [7, 7, 8, 9]))
    assert together[:2] == [alone, alone]
    assert len({alone, *together[2:]}) > 1  # other seeds, other samples


def test_errors_arrive_as_the_clients_own_exceptions(client, served):
    chat = {"model": "nlpkit", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        client.chat.completions.create(**chat, logprobs=True, top_logprobs=2)
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        client.completions.create(model="nlpkit", prompt="x", logprobs=2)
    with pytest.raises(openai.BadRequestError, match="up to 4 non-empty strings"):
        client.completions.create(model="nlpkit", prompt="x", stop=["a", "b", "c", "d", "e"])
    anonymous = openai.OpenAI(base_url=f"{served[0]}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()


def test_a_client_that_hangs_up_mid_stream_frees_its_slot(served, monkeypatch):
    from nlpkit.serve import generation

    finished = slow_recorded_generation(monkeypatch, generation)
    url, engine = served
    request = {"prompts": ["the cat"], "max_new_tokens": 40, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream("POST", f"{url}/v1/generate", json=request, headers=headers) as response:
        assert next(response.iter_lines()).startswith("data: ")
    deadline = time.monotonic() + 10
    while not finished and time.monotonic() < deadline:
        time.sleep(0.02)
    [done] = finished
    assert done.finish_reason == "cancelled" and done.new_tokens < 40
    reply = httpx.post(
        f"{url}/v1/generate",
        json={"prompts": ["a"], "max_new_tokens": 2},
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 200
