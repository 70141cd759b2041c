"""scripts/ablation.py and scripts/scalar_combination.py: barrier heights, island minima, the
report table and the combination of two bounds."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "ablation.py"
_spec = importlib.util.spec_from_file_location("ablation", _PATH)
ablation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ablation)


def _curve(island: bool) -> dict:
    """A χ²(g) curve: flat near g = 0, the 2σ edge at 10^-4.7, a barrier of 9 and, with an
    island, a second minimum of Δχ² = 1."""
    lg = [-6.0, -5.5, -5.0, -4.5, -4.0, -3.5, -3.0]
    d = [0.0, 1e-9, 2.0, 9.0, 6.0, 1.0 if island else 8.0, 30.0]
    return {"island": island, "log10_g": lg, "chi2": [x + 50.0 for x in d],
            "chi2_min": 50.0, "g_connected": 10**-4.7}  # fmt: skip


def test_barrier_and_island_minimum():
    c = _curve(True)
    assert ablation.barrier(c) == 9.0
    assert abs(ablation._island_min(c) - 1.0) < 1e-6
    assert ablation.barrier(_curve(False)) is None
    assert ablation._island_min(_curve(False)) is None


def _result(ratios, fitted=168.0):
    rows = [
        {"model": m, "data": "lar", "regime": "low", "ratio": x, "ratio_outer": 2.0,
         "island": False, "barrier": None, "island_min": None}
        for m, x in zip(("universal", "B-L"), ratios, strict=True)
    ]  # fmt: skip
    sm = {"predicted": 119.2, "fitted": fitted, "significance": 3.3}
    return {"rows": rows, "sm": {"csi": sm, "lar": sm}}


def test_markdown_shows_only_ratios_that_move():
    text = ablation.markdown({"default": _result([0.79, 0.97]), "v": _result([0.85, 0.98])})
    assert "| variant | CsI pred/fit | Ar pred/fit (σ) | ≤10 % | U Ar l | B−L Ar l |" in text
    assert "| default | 119/168 | 119/168 (3.3) | 1 | 0.79 | 0.97 |" in text
    assert "| v | 119/168 | 119/168 (3.3) | 1 | 0.85 | · |" in text  # B−L moves by 0.01


_spec2 = importlib.util.spec_from_file_location(
    "scalar_combination", _PATH.with_name("scalar_combination.py")
)
scalar_combination = importlib.util.module_from_spec(_spec2)
_spec2.loader.exec_module(scalar_combination)


def test_combined_bound_of_two_curves_rising_from_zero():
    # equal curves: 2 (g/b)^p = 1; a much weaker second curve leaves the first bound
    assert abs(scalar_combination.combined(1.0, 1.0, 4) - 0.5**0.25) < 1e-12
    assert abs(scalar_combination.combined(2.0, 2.0, 8) - 2.0 * 0.5**0.125) < 1e-12
    assert abs(scalar_combination.combined(1.0, 1e3, 8) - 1.0) < 1e-9
