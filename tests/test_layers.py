"""The house: imports point downwards (import-linter's contracts in pyproject.toml), and a light import."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_import_shiftkit_imports_neither_matplotlib_nor_numba():
    code = (
        "import sys, shiftkit\n"
        "heavy = sorted(m for m in ('matplotlib', 'numba') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.slow
def test_import_and_help_load_nothing_heavy():
    """`import shiftkit` and `shiftkit --help` took 2.6 s (torch and scikit-learn at import): the public
    names load on first use, and the CLI imports the library inside its commands."""
    import subprocess
    import sys

    probe = (
        "import sys, shiftkit, shiftkit.cli\n"
        "from typer.testing import CliRunner\n"
        "assert CliRunner().invoke(shiftkit.cli.app, ['cluster', '--help']).exit_code == 0\n"
        "heavy = [m for m in ('torch', 'sklearn', 'matplotlib', 'numba', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "from shiftkit import *\n"
        "import shiftkit as s\n"
        "assert s.QuickShift.__name__ == 'QuickShift' and s.neighbors.ExactIndex and 'torch' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
