"""Export a classifier to ONNX (torch.onnx.export) and quantize it to int8 (onnxruntime).

optimum-onnx would do the export, but every release pins transformers < 4.58 and
nlpkit runs on transformers 5; ``torch.onnx.export`` (TorchScript exporter, opset
17) handles the encoder classifiers nlpkit fine-tunes, with dynamic batch and
sequence axes.

The graph is traced with eager attention and fused by onnxruntime's transformer
optimizer into Attention, EmbedLayerNormalization, SkipLayerNormalization and BiasGelu
operators (about 50 nodes for MiniLM instead of 290).

int8 recipes, fastest first (the gate keeps the first that passes): onnxruntime's
dynamic quantization with per-channel weights (attention and feed-forward; embeddings
and the head, pooler and classifier, stay in fp32); then also the first feed-forward
output projection in fp32; then every one of them; then the whole feed-forward block,
so that only the attention projections run in int8. The feed-forward MatMuls read
activations with outlier channels, and dynamic quantization scales a whole batch's
activations at once: they cost most of the labels int8 changes on BERT-style models.
Each recipe gives the same file for the same model on any machine; sessions make its
integer math exact on every CPU (``onnx._options``), so the gate's verdict does not
depend on whether the CPU has VNNI.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import ModelLoadError, first_line

OPSET = 17
_HEAD_WORDS = ("pooler", "classifier", "score")
_ACTIVATIONS = {"Gelu", "FastGelu", "BiasGelu", "Relu", "Erf", "Tanh"}


def export_classifier(
    model: Any, tokenizer: Any, folder: Path, file: str, outputs: Sequence[str] = ("logits",)
) -> Path:
    """Write ``folder/file`` (the ONNX graph) with the config and fast tokenizer beside it;
    ``outputs`` name the model's outputs in order (a span head has two);
    ``last_hidden_state`` (an encoder's token vectors) keeps the sequence axis dynamic."""
    import torch

    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            "ONNX export needs a fast tokenizer (tokenizer.json); this model has only a slow one"
        )
    sample = tokenizer(["a short sentence to trace", "a"], padding=True, return_tensors="pt")
    signature = inspect.signature(model.forward).parameters
    names = [name for name in signature if name in sample]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    path = folder / file
    try:
        with (
            torch.inference_mode(),
            warnings.catch_warnings(),
            contextlib.redirect_stderr(io.StringIO()),
            _eager_attention(model),
        ):
            warnings.simplefilter("ignore")  # tracer notes about Python control flow
            torch.onnx.export(
                model.eval(),
                ({name: sample[name] for name in names},),
                str(path),
                input_names=names,
                output_names=list(outputs),
                dynamic_axes={**axes, **{name: _output_axes(name, axes) for name in outputs}},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # an architecture the tracer cannot follow
        raise ModelLoadError(f"cannot export this model to ONNX ({first_line(exc)})") from exc
    fuse_operators(path, model.config)
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return path


def _output_axes(name: str, axes: dict[str, dict[int, str]]) -> dict[int, str]:
    """An encoder's token vectors vary in batch and sequence; a head's logits are declared
    by batch (the exporter carries the sequence axis to them)."""
    return axes["input_ids"] if name == "last_hidden_state" else {0: "batch"}


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """Trace transformers' eager attention (MatMul, Softmax): onnxruntime's optimizer fuses
    it, with the embeddings, into single Attention and EmbedLayerNormalization operators,
    while SDPA's traced graph (masks built with IsNaN and Where) stays ~290 small nodes.
    The model (cached, shared) gets its own attention back afterwards."""
    before = getattr(model.config, "_attn_implementation", None)
    if before in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def fuse_operators(path: Path, config: Any) -> None:
    """Rewrite ``path`` with onnxruntime's transformer optimizer: LayerNorm, skip +
    LayerNorm and bias + GELU become single fused operators. The math is unchanged (the
    gate checks fp32 against PyTorch), but the int8 model built on the fused graph runs
    far faster, since its quantized MatMuls feed fused operators instead of chains of
    small ones. A model the optimizer cannot read keeps the plain graph."""
    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    model_type = config.model_type if config.model_type in MODEL_TYPES else "bert"
    heads = getattr(config, "num_attention_heads", 0) or 0
    hidden = getattr(config, "hidden_size", 0) or 0
    try:
        with _silenced():
            fused = optimize_model(str(path), model_type, num_heads=heads, hidden_size=hidden)
            fused.save_model_to_file(str(path))
    except Exception:  # an unfusable graph is still a correct model
        return


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """onnxruntime's tools print and warn for the developer running them, not our user."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


@dataclass(frozen=True)
class Int8Recipe:
    """One way to quantize: which weight MatMuls stay in fp32 (beyond the head)."""

    description: str
    fp32_outputs: int | None = 0  # FFN output projections kept in fp32, first first; None: all
    fp32_inputs: bool = False  # also every FFN input projection (int8 attention only)

    def apply(self, fp32: Path, target: Path) -> None:
        quantize_int8(fp32, target, self)


INT8_RECIPES = (
    Int8Recipe("per-channel int8, head in fp32", 0),
    Int8Recipe("per-channel int8, head and first FFN output in fp32", 1),
    Int8Recipe("per-channel int8, head and every FFN output in fp32", None),
    Int8Recipe("per-channel int8 attention, head and feed-forward in fp32", None, True),
)


def quantize_int8(fp32: Path, target: Path, recipe: Int8Recipe = INT8_RECIPES[0]) -> None:
    """Dynamic int8 quantization of the weight MatMuls, per channel, some kept in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32)).graph
    outputs = ffn_output_nodes(graph)
    kept = outputs if recipe.fp32_outputs is None else outputs[: recipe.fp32_outputs]
    if recipe.fp32_inputs:
        kept = kept + ffn_input_nodes(graph)
    with _silenced():  # its advice lines on the root logger
        quantize_dynamic(
            fp32,
            target,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Attention"],  # Attention: fused QKV
            nodes_to_exclude=head_nodes(graph) + kept,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops' outputs
        )


def head_nodes(graph) -> list[str]:
    """The weight MatMul/Gemm nodes of the task head (pooler, classifier), by module name;
    a Gemm also under the name the quantizer gives it once rewritten as MatMul + Add."""
    names = []
    for node in graph.node:
        if node.op_type in ("MatMul", "Gemm") and any(w in node.name.lower() for w in _HEAD_WORDS):
            names += [node.name, f"{node.name}_MatMul"] if node.op_type == "Gemm" else [node.name]
    return names


def ffn_output_nodes(graph) -> list[str]:
    """MatMuls that read an activation (GELU, ReLU) output and a weight: the feed-forward
    output projections, in graph order."""
    weights = {item.name for item in graph.initializer}
    producer = {output: node for node in graph.node for output in node.output}

    def after_activation(tensor: str, depth: int = 4) -> bool:
        node = producer.get(tensor)
        if node is None or depth == 0:
            return False
        if node.op_type in _ACTIVATIONS:
            return True
        return node.op_type in ("Mul", "Add", "Div") and any(
            after_activation(i, depth - 1) for i in node.input
        )

    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and any(i in weights for i in node.input)
        and any(after_activation(i) for i in node.input if i not in weights)
    ]


def ffn_input_nodes(graph) -> list[str]:
    """Weight MatMuls whose output reaches an activation (GELU, ReLU) through at most a
    bias Add and GELU's own arithmetic: the feed-forward input projections."""
    weights = {item.name for item in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def reaches_activation(tensor: str, depth: int = 3) -> bool:
        for node in consumers.get(tensor, []):
            if node.op_type in _ACTIVATIONS:
                return True
            chained = depth and node.op_type in ("Add", "Div", "Mul")
            if chained and any(reaches_activation(out, depth - 1) for out in node.output):
                return True
        return False

    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and any(i in weights for i in node.input)
        and reaches_activation(node.output[0])
    ]
