"""nlpkit.answer: spans that index the context, long contexts in windows, run_qa.py's
post-processing, SQuAD v1.1 scoring, the CLI and batch jobs, training and evaluation,
bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import nlpkit
from nlpkit.errors import InputError, ModelLoadError
from nlpkit.tasks.answers.spans import Settings, Window, best_answer
from nlpkit.tasks.answers.squad import normalize_answer, squad_scores
from nlpkit.tasks.answers.training import gold_answers
from tests.conftest import run_nlpkit
from tests.tiny_models import QA_CONTEXTS, QA_QUESTIONS, build_bert_reader

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "recipes" / "data" / "squad" / "validation.jsonl.gz"


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> str:
    return str(build_bert_reader(tmp_path_factory.mktemp("reader") / "qa"))


def dev_rows(count: int) -> list[dict]:
    with gzip.open(DEV, "rt", encoding="utf-8") as handle:
        return [json.loads(next(handle)) for _ in range(count)]


def test_answers_are_the_context_at_their_offsets(reader):
    long_context = " ".join(QA_CONTEXTS * 6)  # many windows of 40 tokens
    pairs = [*zip(QA_QUESTIONS, QA_CONTEXTS, strict=True), (QA_QUESTIONS[0], long_context)]
    results = nlpkit.answer(pairs, model=reader, top_k=10, max_length=40, stride=10)
    assert [r.question for r in results] == [q for q, _ in pairs]
    for (_, context), result in zip(pairs, results, strict=True):
        assert result.answer == context[result.start : result.end] != ""
        assert len(result.top) == 10 and result.top[0].answer == result.answer
        scores = [span.score for span in result.top]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
        for span in result.top:
            assert span.answer == context[span.start : span.end]
    # candidates come from windows past the first too (which one wins is the random model's)
    assert max(span.start for span in results[-1].top) > len(QA_CONTEXTS[0])


def test_one_context_for_many_questions_and_a_shared_context(reader):
    shared = nlpkit.answer(QA_QUESTIONS, context=QA_CONTEXTS[0], model=reader)
    one = nlpkit.answer(QA_QUESTIONS[1], context=QA_CONTEXTS[0], model=reader)
    assert len(shared) == 3 and shared[1] == one[0] and one[0].top == []


def _window(question: int, offsets: list) -> Window:
    return Window(question, [0] * len(offsets), [0] * len(offsets), offsets)


def test_the_best_span_is_chosen_across_windows_by_start_plus_end():
    """run_qa.py's rule: candidates of every window ranked by start + end logit; a span
    longer than max_answer_length or ending before it starts is never chosen."""
    context = "alpha beta gamma delta epsilon"
    first = _window(0, [None, None, (0, 5), (6, 10), (11, 16), None])
    second = _window(0, [None, None, (11, 16), (17, 22), (23, 30), None])
    low = np.full(6, -10.0)
    start, end = low.copy(), low.copy()
    start[3], end[4] = 6.0, 6.0  # "delta epsilon" in the second window: 12
    odd_start, odd_end = low.copy(), low.copy()
    odd_start[4], odd_end[2] = 20.0, 20.0  # an end before its start: never a span (40)
    settings = Settings(6, 2, top_k=2, max_answer_length=2)
    found = best_answer(
        "q", context, [first, second], [(odd_start, odd_end), (start, end)], settings
    )
    assert (found.answer, found.start, found.end) == ("delta epsilon", 17, 30)
    assert found.top[0].score > found.top[1].score
    short = best_answer("q", context, [second], [(start, end)], Settings(6, 2, max_answer_length=1))
    assert short.answer in ("delta", "epsilon")


def test_no_answer_when_the_null_score_wins_by_the_threshold():
    context = "alpha beta"
    window = _window(0, [None, (0, 5), (6, 10), None])
    start, end = np.array([4.0, 1.0, 0.0, 0.0]), np.array([4.0, 1.0, 0.0, 0.0])
    settings = Settings(4, 1, allow_no_answer=True)
    assert best_answer("q", context, [window], [(start, end)], settings).answer == ""
    lenient = Settings(4, 1, allow_no_answer=True, null_score_diff_threshold=10.0)
    assert best_answer("q", context, [window], [(start, end)], lenient).answer == "alpha"
    assert best_answer("q", context, [window], [(start, end)], Settings(4, 1)).answer == "alpha"


def test_squad_scores_as_the_official_script():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple a day") == "apple day"
    scores = squad_scores(
        ["Shakespeare", "the red cat", "nothing"],
        [["William Shakespeare", "Shakespeare"], ["a red dog"], ["something"]],
    )
    assert scores["exact_match"] == pytest.approx(100 / 3)
    # 1 + F1("red cat", "red dog") = 0.5 + 0
    assert scores["f1"] == pytest.approx(100 * 1.5 / 3)


def test_evaluation_reads_answers_back_from_window_logits():
    from nlpkit.tasks.answers.training import read_answers

    columns = {
        "question_row": [0, 0, 1],
        "offset_mapping": [[None, [0, 5], [6, 10]], [None, [6, 10], [11, 16]], [None, [0, 3]]],
        "context_text": ["alpha beta gamma", "alpha beta gamma", "yes"],
        "gold_answers": [["gamma"], ["gamma"], ["no"]],
    }
    starts = np.full((3, 3), -9.0)
    ends = np.full((3, 3), -9.0)
    starts[1, 2] = ends[1, 2] = 5.0  # "gamma" in the second window of question 0
    starts[2, 1] = ends[2, 1] = 5.0
    predicted, gold = read_answers(columns, starts, ends, Settings(3, 1))
    assert predicted == ["gamma", "yes"] and gold == [["gamma"], ["no"]]
    assert squad_scores(predicted, gold) == {"exact_match": 50.0, "f1": 50.0}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"questions": "Who?", "context": "   "}, "no context"),
        ({"questions": ["Who?"]}, "no context"),
        ({"questions": "", "context": "Paris."}, "no question"),
        ({"questions": "Who?", "context": "Paris.", "stride": 64, "max_length": 64}, "--stride"),
    ],
)
def test_bad_questions_fail_with_one_clear_line(reader, call, message):
    with pytest.raises(InputError, match=message) as caught:
        nlpkit.answer(model=reader, **call)
    assert "\n" not in str(caught.value)


def test_a_model_without_a_span_head_is_refused(tiny):
    with pytest.raises(ModelLoadError, match="BertForSequenceClassification, not a question"):
        nlpkit.answer("Who?", context="Paris.", model=tiny["bert"])


def test_an_answer_not_at_its_answer_start_names_the_row():
    with pytest.raises(InputError, match=r"row 5733be28: answer 'Paris' is not at answer_start 2"):
        gold_answers({"text": ["Paris"], "answer_start": [2]}, "In Paris.", "5733be28")
    assert gold_answers({"text": ["Paris"], "answer_start": [3]}, "In Paris.", "1") == [
        ("Paris", 3)
    ]


def test_the_command_in_a_real_process(reader, tmp_path):
    context = tmp_path / "context.txt"
    context.write_text(QA_CONTEXTS[0], encoding="utf-8")
    done = run_nlpkit(
        "answer",
        QA_QUESTIONS[0],
        "--context-file",
        str(context),
        "--model",
        reader,
        "--format",
        "jsonl",
        "--max-length",
        "48",
        "--stride",
        "16",
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["answer"] == QA_CONTEXTS[0][row["start"] : row["end"]]
    bad = run_nlpkit("answer", "Who?", "--context", "", "--model", reader)
    assert bad.returncode != 0 and "no context" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_batch_job_scores_gold_answers(reader, tmp_path):
    """Questions and contexts from columns (named as the user likes), gold SQuAD answers
    scored as exact match and F1."""
    rows = [
        {"q": r["question"], "passage": r["context"], "answers": r["answers"]} for r in dev_rows(6)
    ]
    source = tmp_path / "questions.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    output = tmp_path / "answers.parquet"
    done = run_nlpkit(
        "answer",
        "-i",
        str(source),
        "--question-column",
        "q",
        "--context-column",
        "passage",
        "-o",
        str(output),
        "--answers-column",
        "answers",
        "--model",
        reader,
        "--stride",
        "8",
    )
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    table = pq.read_table(output).to_pylist()
    assert [r["question"] for r in table] == [r["q"] for r in rows]
    for row in table:
        assert row["answer"] == row["passage"][row["start"] : row["end"]]
    metrics = json.loads((tmp_path / "answers.metrics.json").read_text(encoding="utf-8"))
    assert metrics["rows"] == 6 and 0 <= metrics["f1"] <= 100 and "exact_match" in metrics


def test_the_recipe_trains_with_lora_and_evaluates(reader, tmp_path):
    """SQuAD rows -> windows with answer positions -> a LoRA run -> evaluation that reads
    spans back and scores exact match and F1, on the run's own recipe."""
    from nlpkit import evaluate_model, finetune

    overrides = {
        "model": reader,
        "data.max_train_samples": 16,
        "data.max_eval_samples": 4,
        "data.max_length": 64,
        "data.stride": 24,
        "training.max_steps": 2,
        "training.batch_size": 8,
        "lora": {"r": 4, "alpha": 8, "modules_to_save": ["qa_outputs"]},
        "output_dir": str(tmp_path / "run"),
    }
    result = finetune(ROOT / "recipes" / "squad-minilm.yaml", overrides, progress=False)
    assert {"f1", "exact_match", "loss"} <= set(result.metrics)
    assert result.rows["eval"] > 4  # long contexts: more windows than questions
    assert result.saved_check["agreement"] == 1.0
    again = evaluate_model(tmp_path / "run", overrides={"data.max_eval_samples": 4})
    assert again["f1"] == pytest.approx(result.metrics["f1"], abs=1e-6)


def test_the_endpoint_batches_questions_and_limits_contexts(reader):
    """Questions with a shared or their own context, answered as the library answers them;
    a context over the server's limit, a missing context and a bad setting are 4xx JSON."""
    import dataclasses

    from fastapi.testclient import TestClient

    from nlpkit.serve.app import create_app
    from nlpkit.serve.engine import Engine, Settings
    from nlpkit.serve.limits import Limits

    engine = Engine({"answer": reader}, Settings(device="cpu", threads=1))
    items = [{"question": q, "context": c} for q, c in zip(QA_QUESTIONS, QA_CONTEXTS, strict=True)]
    with TestClient(create_app(engine, limits=Limits(max_chars=200))) as client:
        mixed = {"questions": [QA_QUESTIONS[0], items[1]], "context": QA_CONTEXTS[0]}
        body = client.post("/v1/answer", json=mixed).json()
        too_long = {"questions": ["Who?"], "context": "word " * 60}
        for request in (too_long, {"questions": ["Who?"]}, {**mixed, "top_k": 0}):
            response = client.post("/v1/answer", json=request)
            assert 400 <= response.status_code < 500 and "message" in response.json()["error"]
        assert "200" in client.post("/v1/answer", json=too_long).json()["error"]["message"]
    engine.close()
    expected = nlpkit.answer(
        [(QA_QUESTIONS[0], QA_CONTEXTS[0]), (QA_QUESTIONS[1], QA_CONTEXTS[1])], model=reader
    )
    assert body["results"] == [dataclasses.asdict(r) for r in expected]


def test_onnx_finds_the_spans_torch_finds_and_int8_is_gated_on_f1(reader, tmp_path):
    import shutil

    from nlpkit import optimize

    model = shutil.copytree(reader, tmp_path / "qa")
    rows = [
        {"question": q, "context": c, "answers": {"text": [c.split()[0]], "answer_start": [0]}}
        for q, c in zip(QA_QUESTIONS * 2, QA_CONTEXTS * 2, strict=True)
    ]
    data = tmp_path / "gate.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    long_context = " ".join(QA_CONTEXTS * 4)
    pairs = [*zip(QA_QUESTIONS, QA_CONTEXTS, strict=True), (QA_QUESTIONS[2], long_context)]
    options = {"top_k": 2, "max_length": 48, "stride": 16}
    slow = nlpkit.answer(pairs, model=str(model), backend="torch", **options)
    fp32 = optimize(model, eval_data=data, output=tmp_path / "fp32")
    assert fp32.chosen == "model.onnx"
    fast = nlpkit.answer(pairs, model=str(fp32.folder), backend="onnx", **options)
    assert [(a.start, a.end) for a in fast] == [(a.start, a.end) for a in slow]
    for a, b in zip(fast, slow, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-3)
    int8 = optimize(model, int8=True, eval_data=data)
    # a random model's near-ties may flip at int8: kept or not, the gate scored it on F1
    assert int8.chosen in ("model-int8.onnx", "model.onnx") and int8.report["int8"]
    assert all("f1" in attempt and "agreement" in attempt for attempt in int8.report["int8"])
    assert int8.report["gate"] == {
        "max_f1_drop": 0.005,
        "min_agreement": 0.99,
        "min_int8_agreement": 0.9,
    }
    found_int8 = nlpkit.answer(pairs, model=str(model), **options)
    for (_, context), found in zip(pairs, found_int8, strict=True):
        assert found.answer == context[found.start : found.end] != ""


def test_the_recipe_refuses_a_stride_not_below_the_window():
    from nlpkit.errors import RecipeError
    from nlpkit.recipe.schema import load_recipe

    recipe = ROOT / "recipes" / "squad-minilm.yaml"
    assert load_recipe(recipe).data.stride == 128
    with pytest.raises(RecipeError, match=r"data.stride: must be smaller than data.max_length"):
        load_recipe(recipe, ["data.stride=256"])


def test_evaluation_reads_back_the_answers_answer_gives(reader, tmp_path):
    """Gold answers set to what `answer` finds score 100: evaluation reads each question's
    windows back in their own order (the Trainer's length grouping would shuffle them)."""
    from nlpkit import evaluate_model

    contexts = [" ".join(QA_CONTEXTS[i:] * (1 + i)) for i in range(3)] * 2  # unequal lengths
    questions = QA_QUESTIONS * 2
    found = nlpkit.answer(
        list(zip(questions, contexts, strict=True)), model=reader, max_length=48, stride=16
    )
    rows = [
        {"question": q, "context": c, "answers": {"text": [a.answer], "answer_start": [a.start]}}
        for q, c, a in zip(questions, contexts, found, strict=True)
    ]
    data = tmp_path / "gold.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    overrides = {"data.max_length": 48, "data.stride": 16, "training.eval_batch_size": 2}
    scores = evaluate_model(reader, data=data, task="question-answering", overrides=overrides)
    assert scores["samples"] > len(rows)  # several windows per long context
    assert scores["exact_match"] == scores["f1"] == 100.0


def test_the_default_model_offline_is_one_error_line(tmp_path):
    """No built-in QA model ships: the default Hub model, absent offline, is named."""
    done = run_nlpkit("answer", "Who?", "--context", "Paris.", NLPKIT_HOME=str(tmp_path))
    assert done.returncode != 0 and "unexpected" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: model 'distilbert/distilbert-base-cased-distilled-squad'")
    assert line.endswith("nlpkit finetune recipes/squad-minilm.yaml")
