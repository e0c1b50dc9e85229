"""The pieces of a fine-tuning run; nlpkit/finetune.py puts them together."""
