"""Run every code cell of each notebook in ``notebooks/`` in order, in a fresh namespace.

No Jupyter is needed: the notebooks are nbformat-4 JSON, read with :mod:`json`, and their
code cells are executed with ``exec`` under matplotlib's Agg backend (the approach of
pyhf's ``tests/test_notebooks.py`` without papermill). Marked ``slow`` (together about
three minutes on two cores; the second notebook runs NUTS): ``-m "not slow"`` skips them.

Run as a script, the same executor re-executes notebooks and saves their outputs
(printed text, the value of a final expression, and every open matplotlib figure as an
inline PNG), which is how the committed outputs were produced::

    CEVNS_JAX_DATA=../shared/data/coherent python tests/test_notebooks.py notebooks/*.ipynb
"""

import ast
import base64
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
FIGURE_DPI = 72


def _source(cell) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _lines(text: str) -> list[str]:
    """nbformat multiline string: a list of lines, each but the last ending in a newline."""
    return text.splitlines(keepends=True)


def _figure_outputs() -> list[dict]:
    import matplotlib.pyplot as plt

    out = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        w, h = fig.get_size_inches() * fig.dpi
        out.append({
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                "text/plain": [f"<Figure size {w:.0f}x{h:.0f} with {len(fig.axes)} Axes>"],
            },
        })  # fmt: skip
    plt.close("all")
    return out


def run_cell(code: str, namespace: dict, *, capture: bool = False) -> list[dict]:
    """Execute one code cell like IPython: statements, then the value of a final expression
    (not shown when the cell ends with ``;``).

    Returns the cell's outputs (stdout stream, execute_result, figures) when ``capture``.
    """
    tree = ast.parse(code)
    last = None
    quiet = code.rstrip().endswith(";")
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not quiet:
        last = ast.Expression(tree.body.pop().value)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout) if capture else contextlib.nullcontext():
        exec(compile(tree, "<cell>", "exec"), namespace)
        value = eval(compile(last, "<cell>", "eval"), namespace) if last else None
    if not capture:
        import matplotlib.pyplot as plt

        plt.close("all")
        return []
    outputs = []
    if stdout.getvalue():
        outputs.append({"output_type": "stream", "name": "stdout",
                        "text": _lines(stdout.getvalue())})  # fmt: skip
    if value is not None:
        outputs.append({"output_type": "execute_result", "execution_count": None,
                        "metadata": {}, "data": {"text/plain": _lines(repr(value))}})  # fmt: skip
    return outputs + _figure_outputs()


def execute_notebook(path: Path, *, capture: bool = False) -> dict:
    """Run all code cells of a notebook in a fresh namespace; return it with outputs."""
    import matplotlib

    matplotlib.use("Agg")
    nb = json.loads(Path(path).read_text())
    namespace = {"__name__": "__main__"}
    count = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        count += 1
        try:
            outputs = run_cell(_source(cell), namespace, capture=capture)
        except Exception as err:
            raise RuntimeError(f"{Path(path).name}: code cell {count} (cell {i}) failed") from err
        if capture:
            cell["outputs"] = outputs
            cell["execution_count"] = count
            for out in outputs:
                if out["output_type"] == "execute_result":
                    out["execution_count"] = count
    return nb


def test_notebooks_found():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_predictions.ipynb", "02_posterior_nuts.ipynb"} <= names
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert nb["nbformat"] == 4
        assert any(c["cell_type"] == "code" for c in nb["cells"])


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, data_dir, monkeypatch):
    monkeypatch.setenv("CEVNS_JAX_DATA", str(data_dir))
    execute_notebook(path)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        start = time.perf_counter()
        nb = execute_notebook(Path(arg), capture=True)
        Path(arg).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"{arg}: executed and saved in {time.perf_counter() - start:.0f} s")
