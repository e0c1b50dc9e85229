"""Tiny random models with locally trained tokenizers: built offline in milliseconds."""

from __future__ import annotations

import itertools
from pathlib import Path

SUBJECTS = ["the movie", "this film", "the actor", "the plot", "my day", "the food", "python"]
VERBS = ["is", "was", "seems", "felt", "looks"]
ADJECTIVES = ["great", "awful", "boring", "wonderful", "terrible", "fine", "amazing", "bad"]
SENTENCES = [f"{s} {v} {a} ." for s, v, a in itertools.product(SUBJECTS, VERBS, ADJECTIVES)]
MAX_LENGTH = 64
NER_SENTENCES = [
    "Angela Merkel visited Paris in 2019 and met Emmanuel Macron .",
    "The United Nations opened an office in New York for Reuters .",
    "Zoë Müller moved from Köln to São Paulo with Nokia .",
]
NER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def _fast_tokenizer(kind: str, corpus: list[str] = SENTENCES):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if kind == "bert":
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(
            corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special)
        )
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
        )
        names = dict(
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
        )
    else:
        special = ["<pad>", "</s>", "<unk>", "<s>"]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=200, special_tokens=special))
        if kind == "seq2seq":
            tok.post_processor = processors.TemplateProcessing(
                single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
            )
        names = dict(unk_token="<unk>", pad_token="<pad>", eos_token="</s>", bos_token="<s>")
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_LENGTH, **names)


def _bert_config(tokenizer, labels=(), max_length: int = MAX_LENGTH):
    """The tiny BERT every builder shares: 2 layers of 32, ``labels`` as its head's."""
    from transformers import BertConfig

    named = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        **(named if labels else {}),
    )


def build_bert_classifier(folder: Path, labels=("negative", "positive")) -> Path:
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = _fast_tokenizer("bert")
    config = _bert_config(tokenizer, labels)
    return _save(BertForSequenceClassification(config), tokenizer, folder)


def build_bert_encoder(folder: Path, pooling: str | None = "mean", normalize: bool = True) -> Path:
    """A random BERT encoder; with ``pooling`` a sentence-transformers folder (modules.json,
    1_Pooling/config.json, Normalize when ``normalize``), else a plain encoder."""
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    tokenizer = _fast_tokenizer("bert")
    config = _bert_config(tokenizer)
    _save(BertModel(config), tokenizer, folder)
    if pooling is not None:
        from nlpkit.tasks.embed.pooling import Pooling

        Pooling(pooling, normalize, dimension=config.hidden_size).save(folder)
    return folder


def build_bert_tagger(
    folder: Path, tokenizer: str = "bert", max_length: int = MAX_LENGTH, context_free=False
) -> Path:
    """A random BERT token classifier with NER labels. ``tokenizer``: "bert" (WordPiece,
    ## sub-words) or "bpe" (no sub-word prefix). ``context_free``: attention and position
    add nothing, so a token's labels are the same in any window around it."""
    import torch
    from transformers import BertForTokenClassification

    torch.manual_seed(0)
    corpus = SENTENCES + NER_SENTENCES
    fast = _fast_tokenizer("bert" if tokenizer == "bert" else "causal", corpus)
    fast.model_max_length = max_length
    model = BertForTokenClassification(_bert_config(fast, NER_LABELS, max_length))
    with torch.no_grad():
        model.classifier.weight.normal_(0, 2.0)  # labels vary from token to token
        if context_free:
            model.bert.embeddings.position_embeddings.weight.zero_()
            model.bert.embeddings.token_type_embeddings.weight.zero_()
            for layer in model.bert.encoder.layer:
                layer.attention.output.dense.weight.zero_()
                layer.attention.output.dense.bias.zero_()
    return _save(model, fast, folder)


def build_gpt2(folder: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tokenizer = _fast_tokenizer("causal")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return _save(GPT2LMHeadModel(config), tokenizer, folder)


def _seq2seq_ids(tokenizer) -> dict[str, int]:
    """Padding, end, and the decoder's first token (the padding, as T5 and Marian do)."""
    pad = tokenizer.pad_token_id
    return {
        "pad_token_id": pad,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": pad,
    }


def build_t5(folder: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = _fast_tokenizer("seq2seq")
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_ff=64,
        d_kv=16,
        num_layers=2,
        num_heads=2,
        **_seq2seq_ids(tokenizer),
    )
    return _save(T5ForConditionalGeneration(config), tokenizer, folder)


def build_marian(folder: Path) -> Path:
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(0)
    tokenizer = _fast_tokenizer("seq2seq")
    config = MarianConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=MAX_LENGTH,
        **_seq2seq_ids(tokenizer),
        forced_eos_token_id=None,
    )
    return _save(MarianMTModel(config), tokenizer, folder)


def _save(model, tokenizer, folder: Path) -> Path:
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.max_new_tokens = 8
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


BUILDERS = {
    "bert": build_bert_classifier,
    "gpt2": build_gpt2,
    "t5": build_t5,
    "marian": build_marian,
}


QA_CONTEXTS = [
    "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601 .",
    "The Eiffel Tower is a wrought iron lattice tower in Paris , France .",
    "Python was created by Guido van Rossum and first released in 1991 .",
]
QA_QUESTIONS = ["Who wrote Hamlet ?", "Where is the Eiffel Tower ?", "Who created Python ?"]


def build_bert_reader(folder: Path, max_length: int = MAX_LENGTH) -> Path:
    """A random BERT question-answering model (start/end span head)."""
    import torch
    from transformers import BertForQuestionAnswering

    torch.manual_seed(0)
    fast = _fast_tokenizer("bert", SENTENCES + QA_CONTEXTS + QA_QUESTIONS)
    fast.model_max_length = max_length
    model = BertForQuestionAnswering(_bert_config(fast, max_length=max_length))
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0, 2.0)  # spans vary from context to context
    return _save(model, fast, folder)
