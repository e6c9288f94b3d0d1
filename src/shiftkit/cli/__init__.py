"""The command-line interface: ``shiftkit cluster``, ``matmul``, ``interrogate`` and ``cluster-images``.

A thin layer over the public API, one module per command: it parses options,
calls the library, and writes the results atomically. Errors are one line on
stderr and a non-zero exit, never a traceback.
"""

from shiftkit.cli import _cluster, _cluster_images, _interrogate, _matmul  # noqa: F401  (the commands register themselves on app)
from shiftkit.cli._common import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``shiftkit`` command."""
    app()
