"""ONNX Runtime for question answering: the classifier export with two outputs (start
and end logits), int8, and a gate on SQuAD F1.

The gate reads questions as ``answer`` reads them (windows, spans chosen across them):
fp32 must give the span PyTorch gives for 99% of the questions and int8 the span fp32
gives for 90% (int8 moves a span's edge by a token now and then), and each must keep
SQuAD v1.1 F1 within 0.5 points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpkit.devices import use_threads
from nlpkit.models.backends.export import Int8Recipe
from nlpkit.models.backends.gate import GateData, GateMetric
from nlpkit.models.load import load_model, quiet_libraries
from nlpkit.tasks.answers.feeds import OUTPUTS
from nlpkit.tasks.answers.spans import Settings, answers_of, run_windows, split
from nlpkit.tasks.onnx_gate import export_gated, ignore_progress, write_classifier

if TYPE_CHECKING:
    from nlpkit.recipe.schema import Recipe
    from nlpkit.tasks.answers import Reader


def predicted_spans(reader: Reader, pairs: list[tuple[str, str]], settings: Settings) -> list:
    """Each question's answer as ``answer`` reads it: (text, start, end)."""
    from nlpkit.tasks.answers import ANSWER_BATCH

    window = min(settings.max_length, reader.max_length)
    settings = Settings(window, min(settings.stride, window // 2), 1, settings.max_answer_length)
    windows = split(reader.tokenizer, pairs, settings, reader.question_first)
    scores = run_windows(windows, ANSWER_BATCH, reader.logits, ignore_progress)
    return [(a.answer, a.start, a.end) for a in answers_of(pairs, windows, scores, settings)]


def span_f1(predicted: list, gold: list) -> float:
    from nlpkit.tasks.answers.squad import squad_scores

    return squad_scores([p[0] for p in predicted], gold)["f1"] / 100


def span_agreement(predicted: list, reference: list) -> float:
    same = sum(p[1:] == r[1:] for p, r in zip(predicted, reference, strict=True))
    return same / max(1, len(reference))


# int8 moves a span's edge by a token for a few questions in a hundred (95% the same spans
# at 0.3 F1 points lost, measured on MiniLM): the gate is the F1 bound, as for every task,
# and 90% the same spans as fp32 (fp32 still gives PyTorch's spans for 99%)
SQUAD_F1 = GateMetric("f1", span_f1, span_agreement, int8_agreement=0.9)


@dataclass(frozen=True)
class AnswerGateData(GateData):
    """Questions with their contexts (``texts``), gold answer lists (``labels``), and the
    window settings the gate reads them with."""

    settings: Settings = Settings(384, 128)


@quiet_libraries()
def prepare_onnx(
    name: str,
    target: Path,
    data: AnswerGateData,
    int8: bool = True,
    recipes: Sequence[Int8Recipe] | None = None,
) -> dict:
    """Export question-answering model ``name`` to ``target`` (an ONNX folder), gate it on
    ``data`` (``texts``: (question, context) pairs, ``labels``: gold answer lists)."""
    from nlpkit.tasks.answers import TASK, onnx_reader, torch_reader

    loaded = load_model(TASK.loader, name, "cpu", "float32")
    use_threads(None)

    def reference() -> list:
        return predicted_spans(torch_reader(name, loaded), data.texts, data.settings)

    def predict(runner: Any) -> list:
        return predicted_spans(onnx_reader(name, runner), data.texts, data.settings)

    write = write_classifier(loaded, OUTPUTS)
    return export_gated(write, target, data, reference, predict, int8, recipes, SQUAD_F1)


def gate_data(name: str, plan: Recipe, rows: Any, source: str) -> AnswerGateData:
    """Questions with their contexts and gold answers from a recipe's eval rows, read with
    the recipe's window settings."""
    from nlpkit.tasks.answers.checks import check_pair
    from nlpkit.tasks.answers.training import gold_answers
    from nlpkit.training.data import check_columns

    data = plan.data
    columns = {
        "question_column": data.question_column,
        "context_column": data.context_column,
        "answers_column": data.answers_column,
    }
    check_columns(rows, "eval", columns)
    pairs, gold = [], []
    for number, (question, context, answers) in enumerate(
        zip(
            rows[data.question_column],
            rows[data.context_column],
            rows[data.answers_column],
            strict=True,
        ),
        1,
    ):
        pairs.append(check_pair(question, context, str(number)))
        gold.append([text for text, _ in gold_answers(answers, context, str(number))])
    settings = Settings(data.max_length, data.stride, max_answer_length=data.max_answer_length)
    return AnswerGateData(pairs, gold, source, settings)
