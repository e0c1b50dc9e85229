"""The `nlpkit` command line: parse, call the library, render."""
