"""What an operator relies on: GET /metrics (scraped and parsed as Prometheus does) and
back-pressure (a flood of requests gets 503 + Retry-After at once, never a queue that
only grows or a timeout), over a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nlpkit.serve.app import create_app
from nlpkit.serve.batcher import Batcher, Job, QueueFull
from nlpkit.serve.engine import Engine, Settings
from tests.serve_helpers import running, slow_recorded_generation


@pytest.fixture(scope="module")
def engine(tiny):
    # A queue of 2 rows behind batches of 2: a flood of 12 cannot all wait.
    settings = Settings(device="cpu", threads=1, max_batch=2, max_wait_ms=5, max_queue=2)
    engine = Engine({"classify": tiny["bert"], "generate": tiny["gpt2"]}, settings)
    engine.load()
    yield engine
    engine.close()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _flood(url: str, count: int) -> list[httpx.Response]:
    body = {"prompts": ["the cat"], "max_new_tokens": 6}
    async with httpx.AsyncClient(timeout=60) as http:
        return await asyncio.gather(
            *(http.post(f"{url}/v1/generate", json=body) for _ in range(count))
        )


def test_a_flood_gets_503_with_retry_after_at_once_and_the_rest_are_served(engine, monkeypatch):
    from nlpkit.serve import generation

    slow_recorded_generation(monkeypatch, generation)  # 20 ms a token: the queue fills
    with running(create_app(engine)) as url:
        start = time.monotonic()
        replies = asyncio.run(_flood(url, 12))
        seconds = time.monotonic() - start
        metrics = scrape(url)
    statuses = sorted(reply.status_code for reply in replies)
    assert set(statuses) == {200, 503} and statuses.count(200) >= 2, statuses
    refused = [reply for reply in replies if reply.status_code == 503]
    for reply in refused:
        assert int(reply.headers["retry-after"]) >= 1
        error = reply.json()["error"]
        assert error["type"] == "overloaded_error" and "max_queue=2" in error["message"]
    assert seconds < 30  # refused at once, not after a timeout
    model = engine.models["generate"]
    assert metrics[
        ("nlpkit_requests_total", (("endpoint", "/v1/generate"), ("status", "503")))
    ] == len(refused)
    assert metrics[("nlpkit_queue_rows", (("model", model),))] == 0  # drained


def test_metrics_count_requests_batches_and_tokens_per_model(engine):
    with running(create_app(engine)) as url:
        for _ in range(3):
            assert (
                httpx.post(f"{url}/v1/classify", json={"texts": ["good", "bad"]}).status_code == 200
            )
        reply = httpx.post(f"{url}/v1/generate", json={"prompts": ["a"], "max_new_tokens": 4})
        bad = {"texts": ["good"], "top_k": 0}
        assert httpx.post(f"{url}/v1/classify", json=bad).status_code == 400
        httpx.get(f"{url}/no/such/path")
        response = httpx.get(f"{url}/metrics")
        metrics = scrape(url)
    assert response.headers["content-type"].startswith("text/plain")
    classify, generate = engine.models["classify"], engine.models["generate"]
    ok = ("nlpkit_requests_total", (("endpoint", "/v1/classify"), ("status", "200")))
    assert metrics[ok] == 3
    assert (
        metrics[("nlpkit_requests_total", (("endpoint", "/v1/classify"), ("status", "400")))] == 1
    )
    assert metrics[("nlpkit_requests_total", (("endpoint", "unmatched"), ("status", "404")))] == 1
    assert metrics[("nlpkit_request_seconds_count", (("endpoint", "/v1/classify"),))] == 4
    assert metrics[("nlpkit_batch_rows_count", (("model", classify),))] >= 2  # 2 rows each
    assert metrics[("nlpkit_batch_rows_sum", (("model", classify),))] >= 6
    made = reply.json()["results"][0]["new_tokens"]
    assert metrics[("nlpkit_generated_tokens_total", (("model", generate),))] == made > 0
    assert ("nlpkit_queue_rows", (("model", classify),)) in metrics


def test_the_queue_bound_counts_rows_and_a_lone_big_job_still_fits():
    async def scenario() -> None:
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def runner(jobs):
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(10)
            return [job.payload for job in jobs]

        batcher = Batcher("m", max_batch=2, max_wait_s=0, max_queue=3)
        try:
            running_job = asyncio.ensure_future(batcher.submit(Job(runner, None, "first")))
            while batcher.batches == []:  # the first job is in the worker, not the queue
                await asyncio.sleep(0.01)
            waiting = [asyncio.ensure_future(batcher.submit(Job(runner, None, "w", 2)))]
            await asyncio.sleep(0.05)
            with pytest.raises(QueueFull) as refused:
                batcher.start(Job(runner, None, "two more", 2))
            assert refused.value.retry_after >= 1
            waiting.append(asyncio.ensure_future(batcher.submit(Job(runner, None, "w", 1))))
            release.set()
            assert await asyncio.gather(running_job, *waiting) == ["first", "w", "w"]
            # an empty queue takes a job over the bound: one big request is never refused forever
            assert await batcher.submit(Job(runner, None, "big", 5)) == "big"
        finally:
            batcher.close()

    asyncio.run(scenario())
