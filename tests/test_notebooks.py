"""The notebooks run as tests with nbmake (a Jupyter kernel per notebook, via nbclient).

The documented command runs them directly (notebooks/README.md)::

    CEVNS_JAX_DATA=../shared/data/coherent CEVNS_JAX_NOTEBOOK_QUICK=1 pytest --nbmake notebooks/

``CEVNS_JAX_NOTEBOOK_QUICK=1`` reduces the NUTS draws of ``02_posterior_nuts``; without it
the notebooks run their full settings (``--overwrite`` saves the outputs, which is how the
committed ones are made). Here the same command runs in a subprocess, marked ``slow``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_found():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_predictions.ipynb", "02_posterior_nuts.ipynb"} <= names
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert nb["nbformat"] == 4
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        assert any(c["cell_type"] == "code" for c in nb["cells"])


@pytest.mark.slow
def test_notebooks_run_with_nbmake(data_dir, tmp_path):
    env = dict(os.environ, CEVNS_JAX_DATA=str(data_dir), CEVNS_JAX_NOTEBOOK_QUICK="1",
               MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
               os.environ.get("PYTHONPATH")])))  # fmt: skip
    cmd = [sys.executable, "-m", "pytest", "--nbmake", "--nbmake-timeout=1200", "-q",
           "-p", "no:cacheprovider", "-o", "addopts=", *map(str, NOTEBOOKS)]  # fmt: skip
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{len(NOTEBOOKS)} passed" in run.stdout
