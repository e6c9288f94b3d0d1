"""What the commands share: the Typer app, the consoles, one-line errors, interrupts, the output lock."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="shiftkit: clustering that finds how many clusters there are.",
)
# File names, CSV cells, phrases and captions are data: nothing the commands print is read as rich markup
# (a name holding "[/]" crashed the printer, "[bold]" restyled the messages).
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

F = TypeVar("F", bound=Callable[..., Any])

# Exit statuses of a run stopped by a signal, as shells report them (128 + the signal's number).
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Signals:
    """The signals a run received. Python raises KeyboardInterrupt at the next bytecode, which may be in a
    weakref callback during an import, where it is printed and dropped (`bench_interrupt.py` found a
    Ctrl-C 0.6 s into a run that then finished with status 0): what was received is kept here, and the
    run stops before its outputs are put in place (`staged_outputs`) and at its end."""

    interrupted = False


def _stop_if_signalled() -> None:
    if _Signals.interrupted:
        raise KeyboardInterrupt


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that every ``finally`` and temporary-file cleanup runs."""


def count(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1: "1 cluster", "6 clusters"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit to raise (status 1)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def one_line_errors(command: F) -> F:
    """Run a command so that nothing reaches the user as a traceback.

    Ctrl-C prints ``interrupted`` and exits 130; SIGTERM prints ``terminated``
    and exits 143 (temporary files are removed on the way out, as on any
    error); any other unexpected exception is one ``error:`` line, status 1.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        def on_sigterm(signum: int, frame: Any) -> None:
            raise Terminated

        def on_sigint(signum: int, frame: Any) -> None:
            _Signals.interrupted = True
            raise KeyboardInterrupt

        _Signals.interrupted = False
        previous = signal.signal(signal.SIGTERM, on_sigterm)
        previous_int = signal.signal(signal.SIGINT, on_sigint)
        try:
            result = command(*args, **kwargs)
            _stop_if_signalled()
            return result
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except Terminated:
            err_console.print("terminated", highlight=False)
            raise typer.Exit(code=EXIT_TERMINATED) from None
        except MemoryError:
            raise fail("out of memory; try a smaller memory_budget, fewer rows, or float32") from None
        except Exception as exc:
            raise fail(f"{type(exc).__name__}: {exc}") from None
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)

    return run  # type: ignore[return-value]


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` itself (``flock`` on the open folder) while its outputs are
    replaced.

    A second run writing into the same folder waits, and says so, until the
    first has put its whole set of outputs in place. Nothing is created for the
    lock: no file is left behind, and no link planted in the folder is followed.
    """
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            err_console.print(f"waiting: another shiftkit run is writing into {folder}/", highlight=False)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


MANIFEST_NAME = ".shiftkit.outputs"


def _manifest(folder: Path) -> set[str]:
    """The outputs an earlier run wrote into ``folder`` (a line each); empty when there is none."""
    path = folder / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        return set()
    return {line for line in path.read_text(encoding="utf-8").splitlines() if line and "/" not in line}


@contextlib.contextmanager
def staged_outputs(folder: Path, names: tuple[str, ...]) -> Iterator[Path]:
    """A temporary folder inside ``folder`` to write ``names`` into; on success they replace the old ones.

    Under `locked_folder`, the set of outputs in ``folder`` is always one run's:
    the files are renamed into place together, and the outputs of an earlier
    run that this one does not write are removed; on any error or interrupt the
    temporary folder is removed and the old outputs stay. Which files are
    shiftkit's is kept in a manifest (`MANIFEST_NAME`): a file of the same name
    that shiftkit did not write is never replaced or removed (the run stops
    first, in one line).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with locked_folder(folder):
        ours = _manifest(folder)
        theirs = [n for n in names if n not in ours and ((folder / n).exists() or (folder / n).is_symlink())]
        if theirs:
            raise OSError(
                f"{folder / theirs[0]} was not written by shiftkit; move it, or choose another --out"
            )
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".shiftkit-"))
        try:
            yield staging
            _stop_if_signalled()  # a Ctrl-C that Python dropped: the old outputs stay
            missing = [n for n in names if not (staging / n).is_file()]
            if missing:
                raise OSError(f"outputs not written: {', '.join(missing)}")
            (staging / MANIFEST_NAME).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
            for name in sorted(ours - set(names)):  # an earlier run's outputs that this one does not write
                path = folder / name
                if path.is_file() and not path.is_symlink():
                    os.unlink(path)
            for name in (*names, MANIFEST_NAME):
                os.replace(staging / name, folder / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("shiftkit")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown"
        console.print(f"shiftkit {number}", highlight=False)
        raise typer.Exit


@app.callback()
def _main(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """shiftkit: clustering that finds how many clusters there are."""
