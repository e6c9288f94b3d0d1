"""The house: imports point downwards (import-linter's contracts in pyproject.toml), and a light import."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_the_front_ends_contract_forbids_every_private_module_of_cluster(tmp_path):
    """The contract lists cluster's private modules by name (import-linter's wildcards would take
    `stages` too): the list must be all of them, and a private import from a front end must break it."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if "front ends" in c["name"]]
    cluster = ROOT / "src" / "shiftkit" / "cluster"
    private = {
        f"shiftkit.cluster.{p.stem}"
        for p in cluster.iterdir()
        if p.name.startswith("_") and p.name != "__init__.py"
    }
    private -= {"shiftkit.cluster.__pycache__"}
    assert set(contract["forbidden_modules"]) == private

    # a private import planted in a copy of the package (never in the source tree), linted in a process
    # that finds the copy first
    import shutil

    copy = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.nbi", "*.nbc")
    shutil.copytree(ROOT / "src" / "shiftkit", copy / "shiftkit", ignore=skip)
    (copy / "shiftkit" / "distributed" / "_planted.py").write_text(
        "from shiftkit.cluster._base import Frame\n"
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    lint = "import sys, importlinter.cli as c; sys.exit(c.lint_imports('pyproject.toml', no_cache=True))"
    env = {**os.environ, "PYTHONPATH": str(copy)}
    out = subprocess.run([sys.executable, "-c", lint], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "shiftkit.distributed._planted -> shiftkit.cluster._base" in out.stdout


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


def test_every_list_of_engines_is_the_registry():
    """The engines are named in the CLI's help and two docstrings (the CLI cannot import the registry
    without loading torch for --help): each list must be the registry's, so a new engine shows everywhere."""
    import re

    from typer.testing import CliRunner

    from shiftkit import ENGINES, MeanShift, shift
    from shiftkit.cli import app

    engines = set(ENGINES) | {"auto"}
    for doc in (MeanShift.__doc__ or "", shift.__doc__ or ""):
        listed = re.search(r"engine : \{([^}]*)\}", doc).group(1)
        assert {e.strip(" '") for e in listed.split(",")} == engines
    shown = CliRunner().invoke(app, ["cluster", "--help"], env={"COLUMNS": "300"}).output
    help_text = " ".join(shown.split())
    listed = re.search(r"--engine\s+\S+\s+(auto [^.]*)\.", help_text).group(1)
    assert set(re.findall(r"[a-z_]+", listed.replace("(default)", ""))) - {"or"} == engines
