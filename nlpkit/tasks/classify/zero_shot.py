"""Zero-shot labels: label texts with names given at call time, with no training.

Two ways, chosen by the model. An NLI model (a cross-encoder with an ``entailment``
label, e.g. any MNLI model) reads each (text, "This example is {label}.") pair, as
transformers' zero-shot-classification pipeline does: the labels' entailment logits,
softmaxed over the labels. An embedding model (the built-in ``minilm``, a
sentence-transformers folder) compares the text's vector with each label prompt's
("This text is about {label}."): cosines times 20 (the scale such models are trained
with, MultipleNegativesRankingLoss's), softmaxed over the labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nlpkit.errors import ModelLoadError, UsageError
from nlpkit.models.load import load_model, model_config
from nlpkit.tasks.batching import length_sorted_batches, warn_truncated

NLI_TEMPLATE = "This example is {}."  # transformers' zero-shot pipeline's default
EMBEDDING_TEMPLATE = "This text is about {}."
COSINE_SCALE = 20.0
ZERO_SHOT_MODEL = "minilm"


def check_candidates(labels: Sequence[str], template: str | None) -> list[str]:
    """The labels, stripped: at least two, no duplicates; the template has one ``{}``."""
    names = [str(label).strip() for label in labels]
    if len(names) < 2 or not all(names):
        raise UsageError(
            f"candidate_labels needs two or more non-empty labels, got {names}; "
            'e.g. "sports,politics,business"',
            param="candidate_labels",
        )
    seen = {name.lower() for name in names}
    if len(seen) != len(names):
        twice = sorted({n for n in names if [m.lower() for m in names].count(n.lower()) > 1})
        raise UsageError(
            f"candidate_labels names {', '.join(twice)} more than once", param="candidate_labels"
        )
    if template is not None and template.count("{}") != 1:
        raise UsageError(
            f"label_template {template!r} needs exactly one {{}} where the label goes",
            param="label_template",
        )
    return names


def is_nli(name: str) -> bool:
    """Whether model ``name`` is an NLI classifier (one of its labels is entailment)."""
    config = model_config(name)
    names = [str(label).lower() for label in (config.id2label or {}).values()]
    heads = getattr(config, "architectures", None) or []
    classifier = any(a.endswith("ForSequenceClassification") for a in heads)
    if classifier and not any(n.startswith("entail") for n in names):
        raise ModelLoadError(
            f"model '{name}' is a classifier with labels {', '.join(names)}, not an NLI "
            "model (no entailment label); for zero-shot labels pick an MNLI model "
            "(e.g. facebook/bart-large-mnli) or an embedding model (minilm)",
            param="model",
        )
    return classifier


def zero_shot_scores(
    texts: list[str],
    labels: list[str],
    model: str | None,
    template: str | None,
    options: dict[str, Any],
    advance: Callable[[int], None],
) -> list[list[float]]:
    """Each text's probability over ``labels`` (rows in the labels' order)."""
    name = model or ZERO_SHOT_MODEL
    if is_nli(name):
        return nli_scores(texts, labels, name, template or NLI_TEMPLATE, options, advance)
    return embedding_scores(texts, labels, name, template or EMBEDDING_TEMPLATE, options, advance)


def embedding_scores(texts, labels, name, template, options, advance) -> list[list[float]]:
    import numpy as np

    from nlpkit.tasks.embed import embed

    keep = {key: options[key] for key in ("device", "dtype", "threads", "backend")}
    prompts = [template.format(label) for label in labels]
    vectors = embed(prompts + texts, model=name, batch_size=options["batch_size"], **keep)
    logits = COSINE_SCALE * (vectors[len(prompts) :] @ vectors[: len(prompts)].T)
    advance(len(texts))
    return _softmax(np.asarray(logits, dtype=np.float64)).tolist()


def nli_scores(texts, labels, name, template, options, advance) -> list[list[float]]:
    """The pipeline's way: (text, hypothesis) pairs through the NLI model; per text, the
    labels' entailment logits softmaxed."""
    import numpy as np
    import torch

    loaded = load_model("sequence", name, options["device"], options["dtype"])
    entail = _entailment_id(loaded.model.config)
    hypotheses = [template.format(label) for label in labels]
    firsts = [text for text in texts for _ in labels]
    encoded = loaded.tokenizer(
        firsts,
        hypotheses * len(texts),
        truncation="only_first",
        max_length=loaded.max_input_tokens,
    )
    columns = list(encoded.values())
    rows = [dict(zip(encoded, values, strict=True)) for values in zip(*columns, strict=True)]
    cut = sum(1 for row in rows if len(row["input_ids"]) >= loaded.max_input_tokens)
    warn_truncated(cut // len(labels), len(texts), loaded.max_input_tokens)
    logits = np.zeros(len(rows))
    lengths = [len(row["input_ids"]) for row in rows]
    with torch.inference_mode():
        for batch in length_sorted_batches(lengths, options["batch_size"]):
            padded = loaded.tokenizer.pad([rows[i] for i in batch], return_tensors="pt")
            feed = {key: value.to(loaded.device) for key, value in padded.items()}
            logits[batch] = loaded.model(**feed).logits[:, entail].float().cpu().numpy()
            advance(0)
    advance(len(texts))
    return _softmax(logits.reshape(len(texts), len(labels))).tolist()


def _entailment_id(config: Any) -> int:
    for index, label in (config.id2label or {}).items():
        if str(label).lower().startswith("entail"):
            return int(index)
    raise ModelLoadError("the NLI model has no entailment label")


def _softmax(logits: Any) -> Any:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
