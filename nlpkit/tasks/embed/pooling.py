"""Pooling as the model says: a sentence-transformers folder names it in ``modules.json``
and ``1_Pooling/config.json`` (mean, CLS, max, last token, mean over sqrt(length)) and
whether vectors are normalized; a plain encoder gets mean pooling, with a note.

Pooling runs in numpy on the token vectors either backend returns, so PyTorch and ONNX
Runtime pool the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import ModelLoadError

MODULES_FILE = "modules.json"
SENTENCE_CONFIG = "sentence_bert_config.json"
POOLING_TYPE = "sentence_transformers.models.Pooling"
NORMALIZE_TYPE = "sentence_transformers.models.Normalize"
TRANSFORMER_TYPE = "sentence_transformers.models.Transformer"
# 1_Pooling/config.json's keys -> nlpkit's mode names
MODE_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_lasttoken": "lasttoken",
    "pooling_mode_weightedmean_tokens": "weightedmean",
}
MODES = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")
NO_POOLING_NOTE = (
    "model '{name}' does not say how to pool its token vectors (no sentence-transformers "
    "modules.json): nlpkit averages them (mean pooling)"
)


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector, as the model's folder says."""

    mode: str = "mean"
    normalize: bool = False  # the model ends with a Normalize module
    max_length: int | None = None  # sentence_bert_config.json's max_seq_length
    declared: bool = False  # read from the folder (False: the mean-pooling default)
    dimension: int | None = None  # the token vectors' size, as 1_Pooling/config.json says

    def as_files(self) -> dict[str, Any]:
        """The sentence-transformers files that describe this pooling (an ONNX export
        carries them, so its folder reads back the same way)."""
        modules = [{"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_TYPE}]
        modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING_TYPE})
        if self.normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": NORMALIZE_TYPE})
        keys: dict[str, Any] = {key: mode == self.mode for key, mode in MODE_KEYS.items()}
        if self.dimension:
            keys = {"word_embedding_dimension": self.dimension, **keys}
        files: dict[str, Any] = {MODULES_FILE: modules, "1_Pooling/config.json": keys}
        if self.max_length:
            files[SENTENCE_CONFIG] = {"max_seq_length": self.max_length}
        return files

    def save(self, folder: Path) -> None:
        for relative, content in self.as_files().items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=2), encoding="utf-8")


def read_pooling(folder: str | Path | None, name: str) -> Pooling:
    """The pooling model ``name`` declares in ``folder`` (mean when it declares none)."""
    root = Path(folder) if folder else None
    if root is None or not (root / MODULES_FILE).is_file():
        return Pooling(max_length=_max_length(root))
    modules = _json(root / MODULES_FILE, name)
    types = {str(m.get("type", "")): str(m.get("path", "")) for m in modules}
    mode, dimension = "mean", None
    # sentence-transformers 6 saves the module as ...sentence_transformer.modules.pooling.Pooling
    found = [path for kind, path in types.items() if kind.endswith(".Pooling")]
    declared = bool(found)
    if declared:
        config = _json(root / found[0] / "config.json", name)
        chosen = _modes(config)
        if len(chosen) != 1 or chosen[0] not in MODES:
            raise ModelLoadError(
                f"model '{name}': pooling {' + '.join(chosen) or 'none'} is not supported "
                f"(nlpkit pools with one of {', '.join(MODES)})"
            )
        mode = chosen[0]
        dimension = config.get("word_embedding_dimension") or config.get("embedding_dimension")
    normalize = any(t.endswith(".Normalize") for t in types)
    return Pooling(mode, normalize, _max_length(root), declared, dimension)


def _modes(config: dict[str, Any]) -> list[str]:
    """The pooling modes a 1_Pooling/config.json turns on: flags (sentence-transformers
    before 6) or ``pooling_mode`` (6: a name or a list, e.g. "mean_sqrt_len_tokens")."""
    if "pooling_mode" not in config:
        return [MODE_KEYS[key] for key in MODE_KEYS if config.get(key)]
    named = config["pooling_mode"]
    names = named if isinstance(named, list) else [named]
    return [
        MODE_KEYS.get(
            f"pooling_mode_{name}", MODE_KEYS.get(f"pooling_mode_{name}_tokens", str(name))
        )
        for name in names
    ]


def _max_length(root: Path | None) -> int | None:
    if root is None or not (root / SENTENCE_CONFIG).is_file():
        return None
    value = _json(root / SENTENCE_CONFIG, str(root)).get("max_seq_length")
    return int(value) if isinstance(value, int) and value > 0 else None


def _json(path: Path, name: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model '{name}': cannot read {path.name} ({exc})") from None


def pool(hidden: Any, mask: Any, mode: str) -> Any:
    """One vector per row of ``hidden`` [batch, tokens, dim] over its unmasked tokens."""
    import numpy as np

    weights = mask[..., None].astype(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(weights > 0, hidden, -np.inf).max(axis=1)
    if mode == "lasttoken":
        last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
        return hidden[np.arange(len(hidden)), last]
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    return summed / (np.sqrt(counts) if mode == "mean_sqrt_len" else counts)
