"""Translation with seq2seq models; opus-mt per language pair by default."""

from __future__ import annotations

from collections.abc import Sequence

from nlpkit.devices import use_threads
from nlpkit.errors import UsageError
from nlpkit.inputs.readers import text_list
from nlpkit.models.load import quiet_libraries
from nlpkit.models.resolve import default_translation_model, resolve_model
from nlpkit.results import Translation
from nlpkit.tasks.progress import Progress
from nlpkit.tasks.seq2seq import seq2seq_generate

LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "ro": "Romanian",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "cs": "Czech",
    "fi": "Finnish",
    "tr": "Turkish",
    "pl": "Polish",
}


def pick_translation_model(src: str, tgt: str, model: str | None = None) -> str:
    """The model to use: the one given, else Helsinki-NLP/opus-mt-SRC-TGT."""
    if src == tgt:
        raise UsageError(
            f"src and tgt are both '{src}'; pick two different languages", param=("src", "tgt")
        )
    return model or default_translation_model(src, tgt)


@quiet_libraries()
def translate(
    texts: str | Sequence[str],
    src: str = "en",
    tgt: str = "de",
    model: str | None = None,
    max_new_tokens: int | None = None,
    num_beams: int | None = None,
    batch_size: int = 16,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress = False,
    device_map: str | None = None,
    threads: int | None = None,
) -> list[Translation]:
    """Translate each text from ``src`` to ``tgt`` (ISO 639-1 codes); ``threads``: CPU
    threads for torch (default: the cores no other process keeps busy)."""
    items = text_list(texts)
    name = pick_translation_model(src, tgt, model)
    resolve_model(name)  # an unreachable model fails before torch is imported
    use_threads(threads)
    prefix = f"translate {LANGUAGE_NAMES.get(src, src)} to {LANGUAGE_NAMES.get(tgt, tgt)}: "
    outputs = seq2seq_generate(
        items,
        name,
        prefix,
        max_new_tokens,
        num_beams,
        batch_size,
        device,
        dtype,
        progress,
        "translate",
        device_map=device_map,
    )
    return [Translation(text=t, translation=o) for t, o in zip(items, outputs, strict=True)]
