"""The Python API on tiny random models: typed results, order, caching, warnings."""

from __future__ import annotations

import pytest

import nlpkit
from nlpkit.errors import ModelLoadError, NlpkitWarning, UsageError
from nlpkit.models.load import load_model
from nlpkit.results import Classification, Generation, Summary, Translation

TEXTS = ["the movie is great .", "python", "this film was awful and the plot was boring ."]


def test_classify_returns_real_labels_in_input_order(tiny):
    results = nlpkit.classify(TEXTS, model=tiny["bert"], top_k=2, batch_size=2)
    assert [r.text for r in results] == TEXTS
    assert all(isinstance(r, Classification) for r in results)
    assert {r.label for r in results} <= {"negative", "positive"}
    assert all(len(r.top) == 2 and r.top[0].score >= r.top[1].score for r in results)


@pytest.mark.parametrize(
    ("task", "model", "texts", "message"),
    [
        ("classify", "bert", [""], r"texts\[0\] is empty"),
        ("classify", "bert", "  ", r"texts\[0\] is empty"),
        ("summarize", "t5", ["a text", "\n"], r"texts\[1\] is empty"),
        ("translate", "marian", ["a", "b", " "], r"texts\[2\] is empty"),
        ("generate", "gpt2", ["go on", ""], r"prompts\[1\] is empty"),
    ],
)
def test_an_empty_text_is_an_error_naming_its_index(tiny, task, model, texts, message):
    from nlpkit.errors import InputError

    with pytest.raises(InputError, match=message):
        getattr(nlpkit, task)(texts, model=tiny[model])


def test_batching_does_not_change_scores(tiny):
    one_by_one = [nlpkit.classify(t, model=tiny["bert"])[0].score for t in TEXTS]
    batched = [r.score for r in nlpkit.classify(TEXTS, model=tiny["bert"], batch_size=8)]
    assert batched == pytest.approx(one_by_one, abs=1e-5)


def test_model_is_loaded_once(tiny):
    first = load_model("sequence", tiny["bert"])
    nlpkit.classify("again", model=tiny["bert"])
    assert load_model("sequence", tiny["bert"]) is first


def test_long_text_is_truncated_with_one_warning(tiny):
    with pytest.warns(NlpkitWarning, match="1 of 2 texts were longer than 64 tokens"):
        results = nlpkit.classify(["great " * 200, "short"], model=tiny["bert"])
    assert len(results) == 2


def test_custom_label_names(tiny):
    result = nlpkit.classify("x", model=tiny["bert"], labels=["bad", "good"])[0]
    assert result.label in ("bad", "good")
    with pytest.raises(UsageError, match="gives 3 names but model"):
        nlpkit.classify("x", model=tiny["bert"], labels=["a", "b", "c"])


def test_greedy_generation_is_deterministic_and_batch_independent(tiny):
    prompts = ["the movie", "python is a", "the food was"]
    batched = nlpkit.generate(prompts, model=tiny["gpt2"], max_new_tokens=6, batch_size=3)
    single = [nlpkit.generate(p, model=tiny["gpt2"], max_new_tokens=6)[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(isinstance(g, Generation) and 0 < g.new_tokens <= 6 for g in batched)


def test_sampling_is_reproducible_with_seed(tiny):
    def run(seed):
        return nlpkit.generate(
            "the movie", model=tiny["gpt2"], max_new_tokens=8, temperature=1.5, seed=seed
        )[0].text

    assert run(1) == run(1)
    assert len({run(seed) for seed in range(5)}) > 1


@pytest.mark.parametrize("bad", [{"max_new_tokens": 0}, {"temperature": 0}, {"top_p": 1.5}])
def test_bad_generation_arguments(tiny, bad):
    with pytest.raises(UsageError):
        nlpkit.generate("x", model=tiny["gpt2"], **bad)


def test_summarize_and_translate_return_typed_results(tiny):
    summaries = nlpkit.summarize(TEXTS, model=tiny["t5"], max_new_tokens=5)
    assert [s.text for s in summaries] == TEXTS and isinstance(summaries[0], Summary)
    translations = nlpkit.translate(TEXTS, src="en", tgt="ro", model=tiny["marian"])
    assert [t.text for t in translations] == TEXTS and isinstance(translations[0], Translation)


def test_t5_gets_task_prefix(tiny, monkeypatch):
    from nlpkit.tasks import seq2seq

    seen = []
    real = seq2seq.tokenize_truncated
    monkeypatch.setattr(
        seq2seq,
        "tokenize_truncated",
        lambda loaded, texts, n: seen.extend(texts) or real(loaded, texts, n),
    )
    nlpkit.summarize("a text", model=tiny["t5"])
    nlpkit.translate("a text", src="en", tgt="de", model=tiny["t5"])
    nlpkit.translate("a text", src="en", tgt="de", model=tiny["marian"])
    assert seen == ["summarize: a text", "translate English to German: a text", "a text"]


def test_wrong_model_kind_is_a_clear_error(tiny):
    with pytest.raises(ModelLoadError, match="not an encoder-decoder"):
        nlpkit.translate("x", src="en", tgt="de", model=tiny["gpt2"])


def test_corrupt_weights(tiny, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny["bert"], broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="cannot load"):
        nlpkit.classify("x", model=str(broken))


def test_same_label_translation_pair_is_refused():
    with pytest.raises(UsageError, match="both 'en'"):
        nlpkit.translate("x", src="en", tgt="en")


@pytest.fixture
def noisy_transformers(monkeypatch):
    """transformers that warns and logs while loading, as real checkpoints often do."""
    import logging
    import warnings

    import transformers

    real = transformers.AutoConfig.from_pretrained

    def chatty(*args, **kwargs):
        warnings.warn("`old_arg` is deprecated", FutureWarning, stacklevel=2)
        warnings.warn_explicit("a library UserWarning", UserWarning, "x.py", 1, "transformers.x")
        logging.getLogger("transformers.modeling_utils").warning("Some weights were not used")
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", chatty)


def _fresh_copy(folder: str, tmp_path) -> str:
    import shutil

    return str(shutil.copytree(folder, tmp_path / "model"))  # a new cache key: loads again


@pytest.fixture
def library_log(monkeypatch) -> list:
    """Records that transformers' loading logger lets through."""
    import logging

    records: list = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_library_warnings_and_logs_stay_out_of_the_api(
    tiny, tmp_path, noisy_transformers, library_log, capsys
):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nlpkit.classify(["great", "awful"], model=_fresh_copy(tiny["bert"], tmp_path))
    captured = capsys.readouterr()
    assert [str(w.message) for w in caught] == [] and library_log == []
    assert captured.out == "" and captured.err == ""


def test_library_warnings_show_when_logging_asks(
    tiny, tmp_path, noisy_transformers, library_log, caplog
):
    import logging
    import warnings

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG, "nlpkit"):
        warnings.simplefilter("always")
        nlpkit.classify(["great"], model=_fresh_copy(tiny["bert"], tmp_path))
    assert {w.category for w in caught} >= {FutureWarning, UserWarning}
    assert {r.getMessage() for r in library_log} == {"Some weights were not used"}


def test_library_quiet_restores_filters_and_log_levels(tiny):
    import logging
    import warnings

    filters, level = list(warnings.filters), logging.getLogger("transformers").level
    nlpkit.classify("x", model=tiny["bert"])
    assert warnings.filters == filters and logging.getLogger("transformers").level == level


@pytest.mark.parametrize(
    ("call", "param", "words"),
    [
        (lambda m: nlpkit.generate("x", model=m["gpt2"], max_new_tokens=0), "max_new_tokens", ""),
        (lambda m: nlpkit.classify("x", model=m["bert"], labels=["a"]), "labels", "gives 1"),
        (lambda m: nlpkit.translate("x", src="en", tgt="en"), "src", "tgt are both 'en'"),
        (lambda m: nlpkit.generate("x", model=m["gpt2"], chat=True), "chat", "chat=False"),
        (lambda m: nlpkit.classify("x", model="org/absent"), "model", "as model="),
    ],
)
def test_api_errors_name_the_argument_not_the_flag(tiny, call, param, words):
    from nlpkit.errors import NlpkitError

    with pytest.raises(NlpkitError) as info:
        call(tiny)
    message = str(info.value)
    assert info.value.param == param and "--" not in message and words in message


def test_threads_argument_sets_torch_threads(tiny):
    import torch

    before = torch.get_num_threads()
    try:
        nlpkit.classify("x", model=tiny["bert"], threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
