"""Our notebooks run from top to bottom: samples/shapes/train_shapes.ipynb and the PBC inspect notebooks.

Each is executed in a fresh kernel (nbclient) in its own folder, as a user opens it, with MRCNN_NOTEBOOK_QUICK=1
(64 px images; train_shapes trains two steps, inspect_pbc_model inspects the untrained network) and its checkpoints
in a temporary folder; a cell that raises fails the test with that cell's traceback. The kernel is this interpreter
(a kernel spec written for the test), whatever other `python3` kernels the machine has. The notebooks are committed
without outputs.
"""

import os

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = ["samples/shapes/train_shapes.ipynb", "samples/pbc/inspect_pbc_data.ipynb",
             "samples/pbc/inspect_pbc_model.ipynb"]


KERNEL = "mrcnn-test-python"


def _read(notebook):
    return nbformat.read(os.path.join(ROOT, notebook), as_version=4)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("MRCNN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MRCNN_NOTEBOOK_LOGS", str(tmp_path / "logs"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebook picks its own (%matplotlib inline)
    write_kernel_spec(str(tmp_path / "jupyter" / "kernels" / KERNEL))  # argv: sys.executable -m ipykernel_launcher
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))  # searched before the user's and system's kernels
    nb = _read(notebook)
    client = NotebookClient(nb, timeout=300, kernel_name=KERNEL,
                            resources={"metadata": {"path": os.path.dirname(os.path.join(ROOT, notebook))}})
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    figures = sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
                  if "image/png" in out.get("data", {}))
    assert figures >= 2, f"{notebook}: the figures were not displayed"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(notebook):
    for cell in _read(notebook).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{notebook}: clear the outputs"
