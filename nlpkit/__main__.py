"""`python -m nlpkit` is the same as the `nlpkit` command."""

from nlpkit.cli.app import main

main()
