"""A prompt start shared by a whole generation batch is run once and changes no output."""

from __future__ import annotations

import pytest

import nlpkit
from nlpkit.models.load import load_model
from nlpkit.tasks.generate import prepare_for_batching
from nlpkit.tasks.shared_prefix import MIN_SHARED_TOKENS, generation_inputs, shared_prefix_length

START = "the movie was great and the food was awful and the plot was boring . "
PROMPTS = [START + "python", START + "the film is a", START + "this"]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[1, 2, 3, 4]], 0),  # one row: nothing to share
        ([[1, 2, 3], [1, 2, 4]], 2),
        ([[1, 2, 3], [1, 2, 3]], 2),  # identical rows keep one token each
        ([[1, 2], [1, 2, 3, 4]], 1),  # the shortest row keeps one token
        ([[5, 2, 3], [1, 2, 3]], 0),
    ],
)
def test_shared_prefix_length(rows, expected):
    assert shared_prefix_length(rows) == expected


def _rows(loaded, prompts):
    return [loaded.tokenizer(p)["input_ids"] for p in prompts]


def test_each_row_scores_its_next_token_as_its_prompt_alone_would(tiny):
    import torch

    loaded = load_model("causal", tiny["gpt2"])
    prepare_for_batching(loaded)
    rows = _rows(loaded, PROMPTS)
    assert shared_prefix_length(rows) >= MIN_SHARED_TOKENS
    with torch.inference_mode():
        shared = generation_inputs(loaded, rows)
        assert "cache" in shared
        alone = [loaded.model(input_ids=torch.tensor([row])).logits[0, -1] for row in rows]
        positions = shared["attention_mask"].cumsum(-1) - 1
        rest = shared["input_ids"].shape[1] - shared["cache"].get_seq_length()
        got = loaded.model(
            input_ids=shared["input_ids"][:, -rest:],
            attention_mask=shared["attention_mask"],
            position_ids=positions[:, -rest:].clamp(min=0),
            cache=shared["cache"],
        ).logits[:, -1]
    assert torch.allclose(got, torch.stack(alone), atol=1e-5)


def test_batched_generation_with_a_shared_start_equals_one_prompt_at_a_time(tiny):
    batched = nlpkit.generate(PROMPTS, model=tiny["gpt2"], max_new_tokens=6)
    single = [nlpkit.generate(p, model=tiny["gpt2"], max_new_tokens=6)[0] for p in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.new_tokens for g in batched] == [g.new_tokens for g in single]


def test_short_shared_starts_and_single_prompts_are_padded_as_before(tiny):
    loaded = load_model("causal", tiny["gpt2"])
    prepare_for_batching(loaded)
    assert "cache" not in generation_inputs(loaded, _rows(loaded, ["the movie", "the food"]))
    assert "cache" not in generation_inputs(loaded, _rows(loaded, PROMPTS[:1]))
