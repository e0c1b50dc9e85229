"""nlpkit.generate against a plain model.generate loop and the text-generation pipeline.

Same model (the built-in SmolLM2-135M-Instruct from nlpkit's store by default),
same 32 chat prompts, greedy decoding, same max_new_tokens, in one run; prints
new tokens per second, the ratios and how many outputs are identical. nlpkit
also runs once more without its shared-start cache (every row's whole prompt
prefilled), to show what that cache gives.
``--load`` also times the first load of the GGUF (conversion into a fresh
store) against the cached load.

Run: python bench/generate.py [--model NAME] [--max-new-tokens 24] [--threads N] [--load]
     [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile

from _common import CHAT_PROMPTS as PROMPTS
from _common import timed


def chat(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def plain_loop(model, tokenizer, prompts, max_new_tokens):
    """One prompt at a time, as a model card's example does."""
    import torch

    outputs = []
    with torch.inference_mode():
        for prompt in prompts:
            inputs = tokenizer.apply_chat_template(
                chat(prompt), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            generated = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
            new = generated[0, inputs["input_ids"].shape[1] :]
            special = set(tokenizer.all_special_ids)
            count = sum(1 for token in new.tolist() if token not in special)
            outputs.append((tokenizer.decode(new, skip_special_tokens=True), count))
    return outputs


def with_pipeline(pipe, tokenizer, prompts, max_new_tokens):
    """pipeline("text-generation") called on a list of chats, as its docs show."""
    results = pipe([chat(p) for p in prompts], max_new_tokens=max_new_tokens, do_sample=False)
    outputs = []
    for result in results:
        reply = result[0]["generated_text"][-1]["content"]
        outputs.append((reply, len(tokenizer(reply, add_special_tokens=False)["input_ids"])))
    return outputs


def with_nlpkit(model_name, prompts, max_new_tokens):
    import nlpkit

    results = nlpkit.generate(prompts, model=model_name, max_new_tokens=max_new_tokens)
    return [(g.text, g.new_tokens) for g in results]


def without_shared_start(model_name, prompts, max_new_tokens):
    """nlpkit with every row's whole prompt prefilled, as before the shared-start cache."""
    from nlpkit.tasks import shared_prefix

    kept = shared_prefix.MIN_SHARED_TOKENS
    shared_prefix.MIN_SHARED_TOKENS = 10**9
    try:
        return with_nlpkit(model_name, prompts, max_new_tokens)
    finally:
        shared_prefix.MIN_SHARED_TOKENS = kept


def load_times(model_name: str) -> tuple[float, float]:
    """(first load, converting the GGUF into a fresh store; load from the store)."""
    from nlpkit.models.load import clear_cache, load_model

    previous = os.environ.get("NLPKIT_HOME")
    scratch = tempfile.mkdtemp(prefix="nlpkit-bench-home-")
    os.environ["NLPKIT_HOME"] = scratch
    try:
        clear_cache()
        _, first = timed(lambda: load_model("causal", model_name))
        clear_cache()
        _, cached = timed(lambda: load_model("causal", model_name))
    finally:
        if previous is None:
            os.environ.pop("NLPKIT_HOME")
        else:
            os.environ["NLPKIT_HOME"] = previous
        clear_cache()
        shutil.rmtree(scratch, ignore_errors=True)
    return first, cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2", help="chat model (default: built-in)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--load", action="store_true", help="also time first and cached loads")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import pipeline

    from nlpkit.models.load import load_model
    from nlpkit.models.resolve import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    if args.load:
        first, cached = load_times(args.model)
        print(f"load {args.model}: first (GGUF conversion) {first:.1f}s, cached {cached:.2f}s")
    folder = resolve_model(args.model).path
    loaded = load_model("causal", args.model)
    pipe = pipeline("text-generation", model=folder, device="cpu")
    n = args.max_new_tokens
    runs = {
        "plain model.generate loop": lambda: plain_loop(loaded.model, loaded.tokenizer, PROMPTS, n),
        'pipeline("text-generation")': lambda: with_pipeline(pipe, pipe.tokenizer, PROMPTS, n),
        "nlpkit, no shared-start cache": lambda: without_shared_start(args.model, PROMPTS, n),
        "nlpkit generate": lambda: with_nlpkit(args.model, PROMPTS, n),
    }
    # Warm-up: first-call costs are not throughput.
    with_nlpkit(args.model, PROMPTS[:2], 4)
    plain_loop(loaded.model, loaded.tokenizer, PROMPTS[:1], 4)
    with_pipeline(pipe, pipe.tokenizer, PROMPTS[:1], 4)
    report(runs, n, args.repeat)


def report(runs, max_new_tokens: int, repeat: int = 1) -> None:
    """Rounds run every setting in turn (a busy moment hits all of them alike)."""
    import torch

    outputs, rounds = {}, {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            out, seconds = timed(run)
            outputs[name] = [text.strip() for text, _ in out]
            rounds[name].append(sum(count for _, count in out) / seconds)
    speeds = {name: statistics.median(values) for name, values in rounds.items()}
    base = "plain model.generate loop"
    print(
        f"{len(PROMPTS)} chat prompts, greedy, max_new_tokens={max_new_tokens}, CPU, "
        f"{torch.get_num_threads()} threads, median of {repeat}"
    )
    print(f"{'setting':30} {'new tok/s':>10} {'vs loop':>8} {'same outputs':>13}")
    for name, speed in speeds.items():
        same = sum(a == b for a, b in zip(outputs[base], outputs[name], strict=True))
        print(f"{name:30} {speed:10.1f} {speed / speeds[base]:7.2f}x {same:>8}/{len(PROMPTS)}")
    pipe = speeds['pipeline("text-generation")']
    print(f"nlpkit generate / pipeline: {speeds['nlpkit generate'] / pipe:.2f}x")


if __name__ == "__main__":
    main()
