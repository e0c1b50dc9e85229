"""The model and tokenizer a recipe trains, with label names and optional LoRA (peft)."""

from __future__ import annotations

from typing import Any

from nlpkit.errors import RecipeError, first_line
from nlpkit.models.load import from_pretrained
from nlpkit.models.resolve import resolve_model
from nlpkit.recipe.checks import resolve_model_reference
from nlpkit.recipe.schema import Recipe
from nlpkit.tasks.pieces import pieces_of
from nlpkit.tasks.table import BY_NAME, LOADER_CLASSES, TASKS

# task name -> the transformers auto class that trains it
AUTO_CLASSES = {task.name: LOADER_CLASSES[task.loader] for task in TASKS}


def load_for_task(
    task: str, model: str, label_names: list[str] | None = None, trust_remote_code: bool = False
) -> tuple[Any, Any]:
    """(model, tokenizer) for ``task``, read by the loader inference uses too; a model
    that predicts labels gets ``label_names`` in its config (a new head when their number
    differs)."""
    pieces = pieces_of(task)
    if pieces.own_training:
        return pieces.training_model(model, trust_remote_code)
    source = resolve_model(resolve_model_reference(model))
    options = pieces.model_options(label_names)
    kind = BY_NAME[task].loader
    loaded, tokenizer, _ = from_pretrained(kind, model, source, trust_remote_code, **options)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 style models ship without one
    if loaded.config.pad_token_id is None:
        loaded.config.pad_token_id = tokenizer.pad_token_id
    return loaded, tokenizer


def apply_lora(model: Any, recipe: Recipe) -> Any:
    """Wrap ``model`` in a peft LoRA model as the recipe's ``lora:`` section says.

    peft edits the lists it is given (a classifier's ``modules_to_save`` gains
    ``classifier`` and ``score``), so it gets copies: the recipe stays as written,
    and so does the recipe.yaml that ``--resume`` compares against.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    lora = recipe.lora
    assert lora is not None
    config = LoraConfig(
        task_type=getattr(TaskType, BY_NAME[recipe.task].peft_task_type),
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=_copy(lora.target_modules),
        modules_to_save=_copy(lora.modules_to_save),
        bias=lora.bias,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        first = first_line(exc)
        raise RecipeError(f"lora: does not fit model '{recipe.model}' ({first})") from exc


def _copy(names: str | list[str] | None) -> str | list[str] | None:
    return list(names) if isinstance(names, list) else names


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
