"""Readers of texts: arguments, stdin, txt/csv/tsv/jsonl/parquet files, streamed in chunks."""
