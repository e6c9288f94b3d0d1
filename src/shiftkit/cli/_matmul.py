"""``shiftkit matmul``: the matrix-multiplication ladder, every rung checked and timed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shiftkit.cli._common import app, console, fail, one_line_errors
from shiftkit.io import save_json


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2g}x" if x < 10 else f"{x:,.0f}x"


def _ladder_table(report: Any) -> Table:
    table = Table(title=f"matmul ladder: {report.data}")
    for name in ("rung", "shape", "median", "x prev", "x loops", "GFLOP/s", "% peak", "check"):
        table.add_column(name, justify="left" if name in ("rung", "shape", "check") else "right")
    small = report.rows[0].shape
    for r in report.rows:
        status = {True: "ok", False: "FAILED", None: "skipped"}[r.checked]
        table.add_row(
            r.rung,
            "small" if r.shape == small else "large",
            _format_seconds(r.seconds),
            _ratio(r.speedup_previous),
            _ratio(r.speedup_loops),
            "-" if r.gflops is None else f"{r.gflops:.3g}",
            "-" if r.peak_share is None else f"{100 * r.peak_share:.2g}",
            status + (f": {r.note}" if r.note else ""),
        )
    return table


@app.command()
@one_line_errors
def matmul(
    data: Annotated[str, typer.Option(help="random (the lesson's MNIST shapes) or digits.")] = "random",
    quick: Annotated[bool, typer.Option(help="Only the small shape (skip 50,000 x 784 @ 784 x 10).")] = False,
    repeats: Annotated[int, typer.Option(help="Most timed calls per rung.")] = 5,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the table as JSON here.")
    ] = None,
) -> None:
    """The matrix-multiplication ladder: every rung checked against a @ b and timed."""
    from shiftkit.teaching.ladder import run_ladder

    if repeats < 1:
        raise fail("--repeats must be at least 1")
    try:
        with console.status("running the ladder") as status:
            report = run_ladder(
                data=data,
                large=not quick,
                repeats=repeats,
                progress=lambda name: status.update(f"rung: {name}"),
            )
    except ValueError as exc:
        raise fail(str(exc)) from None
    wide = Console(width=max(console.width, 112), markup=False)  # the table has eight columns
    wide.print(_ladder_table(report))
    shapes = sorted({r.shape for r in report.rows})
    wide.print(
        "shapes: "
        + ", ".join(
            f"{'small' if s == report.rows[0].shape else 'large'} = {s[0]}x{s[1]} @ {s[1]}x{s[2]}"
            for s in shapes
        )
        + f"; peak {report.peak_gflops:.1f} GFLOP/s (float32 2048^3 matmul, same run); {report.machine}.\n"
        "Slow rungs run on the small shape only. 'x prev': against the rung above on the same shape; "
        "'x loops': time per multiply-add against the numpy loops (timed on the small shape)."
    )
    if json_out is not None:
        try:
            save_json(json_out, report.to_dict())
        except OSError as exc:
            raise fail(f"cannot write {json_out}: {exc}") from None
        console.print(f"wrote {json_out}")
    if any(r.checked is False for r in report.rows):
        raise fail("a rung disagrees with a @ b")
