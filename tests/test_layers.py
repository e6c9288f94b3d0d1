"""The house: imports point downwards (import-linter's contracts in pyproject.toml), and a light import."""

import subprocess
import sys
from pathlib import Path

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
