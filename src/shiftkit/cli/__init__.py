"""The command-line interface: ``shiftkit cluster``, ``matmul``, ``interrogate`` and ``cluster-images``.

A thin layer over the public API, one module per command: it parses options,
calls the library, and writes the results atomically. Errors are one line on
stderr and a non-zero exit, never a traceback.
"""

import atexit
import os
import sys

from shiftkit.cli import _cluster, _cluster_images, _interrogate, _matmul  # noqa: F401  (the commands register themselves on app)
from shiftkit.cli._common import EXIT_INTERRUPTED, app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``shiftkit`` command."""
    try:
        app()
    except SystemExit as stop:
        if stop.code == EXIT_INTERRUPTED:
            _exit_interrupted()
        raise


def _exit_interrupted() -> None:
    """End a run stopped by Ctrl-C with status 130, whatever the interpreter would make of it.

    CPython run with ``-m`` (``python -m shiftkit``) exits by SIGINT itself, whatever status the program
    chose, once a KeyboardInterrupt has left code run from a string (``exec`` of a string, as
    dataclasses and namedtuple build their methods in every module a fit imports late), even where it
    was caught: the run printed ``interrupted`` and died of SIGINT (a parent saw -2, not 130;
    tests/test_cli_signals.py). The outputs are cleaned up by then; the exit handlers run and the
    streams are flushed, and the process ends here.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said on it
            pass
    os._exit(EXIT_INTERRUPTED)
