"""The example notebook runs from top to bottom and shows its animation inline."""

from pathlib import Path

import nbclient
import nbformat
import pytest

pytestmark = pytest.mark.slow  # see pyproject.toml: make test-fast leaves these out

NOTEBOOK = Path(__file__).parent.parent / "examples" / "lesson12_meanshift.ipynb"


def test_lesson_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("data:image/png;base64" in h and "<script" in h for h in html), "the animation is not inline"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # data, kernels, clusters, density
    assert any("points:" in o.get("text", "") for o in outputs)
