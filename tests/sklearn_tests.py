"""Running one of scikit-learn's own test modules against shiftkit: its source, with the import of the
estimators under test removed (the adapter module defines them instead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn


def sklearn_test_source(module: str, import_line: str) -> tuple[Path, Any]:
    """The compiled source of ``sklearn/cluster/tests/<module>``, without ``import_line`` (asserted
    present: a scikit-learn that changed its imports needs the adapter updated) and without the
    free-threading marker our pytest does not know."""
    path = Path(sklearn.__file__).parent / "cluster" / "tests" / module
    source = path.read_text()
    assert import_line in source, f"scikit-learn's {module} changed its imports; update the adapter"
    source = source.replace(import_line, "").replace("@pytest.mark.thread_unsafe\n", "")
    return path, compile(source, str(path), "exec")


def drop_not_applicable(namespace: dict[str, Any], not_applicable: dict[str, str]) -> None:
    """Remove the listed tests from ``namespace`` (a module's globals after ``exec``), each asserted
    present: a test scikit-learn no longer has must leave the list."""
    for name in not_applicable:
        assert name in namespace, f"scikit-learn no longer has {name}: update NOT_APPLICABLE"
        del namespace[name]


@pytest.fixture(params=[0, 42])
def global_random_seed(request: pytest.FixtureRequest) -> int:
    """scikit-learn's fixture of the same name (two seeds here)."""
    return int(request.param)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def global_dtype(request: pytest.FixtureRequest) -> Any:
    """scikit-learn's fixture of the same name."""
    return request.param
