"""`python -m cli`: the `workflow` program, where its script is not installed."""

from cli.entry import main

main()
