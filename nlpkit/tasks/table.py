"""The task table: each task nlpkit knows is declared here, once.

Recipe validation, the CLI's help and defaults, the model loaders, ``plan``,
``models`` and ``env`` read these entries; adding a task is one entry here and
one module beside this one. Imports nothing heavy: the CLI's --help reads it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """Everything nlpkit needs to know about one task, in Hugging Face's words."""

    name: str  # the Hugging Face task name, as recipes spell it
    command: str  # the CLI command and the Python API function
    module: str  # nlpkit.tasks.<module> holds the function
    loader: str  # the model kind the loader builds: a key of LOADER_CLASSES
    peft_task_type: str | None  # peft.TaskType member for LoRA; None: no LoRA for this task
    metrics: tuple[str, ...]  # what evaluation reports; the first is the best-model default
    data_fields: tuple[str, ...]  # the recipe's data.* keys that only this task reads
    default_model: str  # the Hub model a user gets with no --model
    offline_model: str | None = None  # the built-in model that does this job offline
    # with no built-in model: the shipped recipe (in a checkout) that trains one offline
    offline_recipe: str | None = None

    @property
    def best_metric(self) -> str:
        return self.metrics[0]


LOADER_CLASSES = {
    "sequence": "AutoModelForSequenceClassification",
    "causal": "AutoModelForCausalLM",
    "seq2seq": "AutoModelForSeq2SeqLM",
    "token": "AutoModelForTokenClassification",
    "question": "AutoModelForQuestionAnswering",
    "base": "AutoModel",
}
SEQ2SEQ_FIELDS = ("source_column", "target_column", "source_prefix", "max_target_length")
TRANSLATION_MODEL_TEMPLATE = "Helsinki-NLP/opus-mt-{src}-{tgt}"

TASKS: tuple[Task, ...] = (
    Task(
        name="text-classification",
        command="classify",
        module="classify",
        loader="sequence",
        peft_task_type="SEQ_CLS",
        metrics=("accuracy", "f1_macro", "loss"),
        data_fields=("text_column", "text_pair_column", "label_column", "label_names"),
        default_model="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
        offline_model="sentiment",
    ),
    Task(
        name="token-classification",
        command="entities",
        module="entities",
        loader="token",
        peft_task_type="TOKEN_CLS",
        metrics=("f1", "precision", "recall", "accuracy", "loss"),
        data_fields=("tokens_column", "tags_column", "label_names", "label_all_tokens"),
        default_model="dslim/bert-base-NER",
        offline_model="entities",
    ),
    Task(
        name="question-answering",
        command="answer",
        module="answers",
        loader="question",
        peft_task_type="QUESTION_ANS",
        metrics=("f1", "exact_match", "loss"),
        data_fields=(
            "question_column",
            "context_column",
            "answers_column",
            "stride",
            "n_best_size",
            "max_answer_length",
        ),
        default_model="distilbert/distilbert-base-cased-distilled-squad",
        offline_recipe="recipes/squad-minilm.yaml",
    ),
    Task(
        name="summarization",
        command="summarize",
        module="summarize",
        loader="seq2seq",
        peft_task_type="SEQ_2_SEQ_LM",
        metrics=("rougeL", "rouge1", "rouge2", "loss"),
        data_fields=SEQ2SEQ_FIELDS,
        default_model="sshleifer/distilbart-cnn-12-6",
        offline_model="smollm2",
    ),
    Task(
        name="translation",
        command="translate",
        module="translate",
        loader="seq2seq",
        peft_task_type="SEQ_2_SEQ_LM",
        metrics=("bleu", "chrf", "loss"),
        data_fields=SEQ2SEQ_FIELDS,
        default_model=TRANSLATION_MODEL_TEMPLATE,
    ),
    Task(
        name="text-generation",
        command="generate",
        module="generate",
        loader="causal",
        peft_task_type="CAUSAL_LM",
        metrics=("loss", "perplexity"),
        data_fields=("text_column",),
        default_model="openai-community/gpt2",
        offline_model="smollm2",
    ),
    Task(
        name="feature-extraction",
        command="embed",
        module="embed",
        loader="base",
        peft_task_type="FEATURE_EXTRACTION",
        metrics=("spearman", "pearson", "loss"),
        # fine-tuning reads pairs (text, text pair, score) or (anchor, positive) rows
        data_fields=("text_column", "text_pair_column", "label_column"),
        default_model="sentence-transformers/all-MiniLM-L6-v2",
        offline_model="minilm",
    ),
)
TASK_NAMES = tuple(task.name for task in TASKS)
BY_NAME = {task.name: task for task in TASKS}
BY_COMMAND = {task.command: task for task in TASKS}


def task_named(name: str) -> Task:
    """The task called ``name`` (HF name or command); KeyError lists the known ones."""
    task = BY_NAME.get(name) or BY_COMMAND.get(name)
    if task is None:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASK_NAMES)}")
    return task
