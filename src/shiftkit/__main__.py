"""``python -m shiftkit``: the command-line interface."""

from shiftkit.cli import main

main()
