"""Chat templates, system messages, streaming and causal-LM summaries, on tiny models."""

from __future__ import annotations

import shutil

import pytest

import nlpkit
from nlpkit.errors import NlpkitWarning, UsageError
from nlpkit.models.load import load_model
from nlpkit.tasks.chat import chat_ids, prompt_ids

TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_chat(tiny, tmp_path_factory) -> str:
    """The tiny GPT-2 with a chat template in its tokenizer."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-chat") / "gpt2-chat"
    shutil.copytree(tiny["gpt2"], folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return str(folder)


def decoded(loaded, ids) -> str:
    return loaded.tokenizer.decode(ids)


def test_chat_template_is_applied_when_the_model_has_one(tiny_chat):
    loaded = load_model("causal", tiny_chat)
    [ids] = prompt_ids(loaded, ["the movie"], chat=None, system=None, max_length=64)
    text = decoded(loaded, ids)
    assert text.startswith("<s>") and "user" in text and text.rstrip().endswith("assistant")
    [plain] = prompt_ids(loaded, ["the movie"], chat=False, system=None, max_length=64)
    assert "user" not in decoded(loaded, plain)


def test_system_message_goes_first(tiny_chat):
    loaded = load_model("causal", tiny_chat)
    text = decoded(loaded, chat_ids(loaded, "the movie", system="python"))
    assert text.index("system") < text.index("python") < text.index("user")


def test_chat_options_need_a_template(tiny):
    with pytest.raises(UsageError, match="no chat template"):
        nlpkit.generate("the movie", model=tiny["gpt2"], chat=True, max_new_tokens=2)
    with pytest.raises(UsageError, match="^system needs a chat model"):
        nlpkit.generate("the movie", model=tiny["gpt2"], system="be nice", max_new_tokens=2)


def test_chat_generation_batches_like_single_prompts(tiny_chat):
    prompts = ["the movie", "python is a", "the food was great and the plot was boring"]
    batched = nlpkit.generate(prompts, model=tiny_chat, max_new_tokens=5, batch_size=3)
    single = [nlpkit.generate(p, model=tiny_chat, max_new_tokens=5)[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.prompt for g in batched] == prompts


def test_long_chat_prompt_is_cut_inside_the_turn(tiny_chat):
    loaded = load_model("causal", tiny_chat)
    with pytest.warns(NlpkitWarning, match="1 of 1 texts were too long"):
        [ids] = prompt_ids(loaded, ["the movie was great . " * 40], None, None, max_length=30)
    assert len(ids) <= 30 and decoded(loaded, ids).rstrip().endswith("assistant")


def test_stream_hands_over_the_reply_piece_by_piece(tiny_chat):
    pieces: list[str] = []
    [result] = nlpkit.generate("the movie", model=tiny_chat, max_new_tokens=6, stream=pieces.append)
    assert pieces and "".join(pieces).strip() == result.text.strip()
    with pytest.raises(UsageError, match="one prompt at a time"):
        nlpkit.generate(["a", "b"], model=tiny_chat, stream=pieces.append)


@pytest.mark.filterwarnings("ignore::nlpkit.models.load.NlpkitWarning")  # 64-token model
def test_causal_lm_summarizes_through_its_prompt(tiny, tiny_chat):
    texts = ["the movie was great . the plot was boring .", "python is fine ."]
    for model in (tiny["gpt2"], tiny_chat):
        summaries = nlpkit.summarize(texts, model=model, max_new_tokens=4)
        assert [s.text for s in summaries] == texts
        assert all(isinstance(s.summary, str) for s in summaries)
