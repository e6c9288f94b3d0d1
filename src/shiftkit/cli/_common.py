"""What the commands share: the Typer app, the consoles, one-line errors."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="shiftkit: clustering that finds how many clusters there are.",
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit to raise (status 1)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


@app.callback()
def _main() -> None:
    """shiftkit: clustering that finds how many clusters there are."""
