"""Batch jobs over large files: sharded, resumable, on one process, N processes or Ray."""
