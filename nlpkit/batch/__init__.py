"""Batch jobs over large files: sharded, resumable, on one process, N processes or Ray."""

SHARD_ROWS = 10_000  # rows per shard: the most work a kill can lose
