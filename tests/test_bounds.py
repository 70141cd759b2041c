"""2σ coupling bounds: LAr B−L vs arXiv:2202.11002, convergence, islands, errors, the CLI.

Timings (2-core CPU, after the compile): both low-mass LAr B−L bounds together ~5 s.
"""

import json

import numpy as np
import pytest
from scipy.optimize import brentq

from cevns_jax import bounds as bounds_mod
from cevns_jax.bounds import (
    DELTA_CHI2_1D,
    REGIME_MASSES_MEV,
    Bound,
    coupling_bound,
    coupling_bounds,
    regime_bound,
    regime_bounds,
)
from cevns_jax.charges import get_model
from cevns_jax.cli import main
from cevns_jax.engine import profiled_chi2
from cevns_jax.errors import ConfigError
from cevns_jax.likelihood import JointLikelihood
from cevns_jax.mediator import Mediator
from cevns_jax.published import PUBLISHED_BOUNDS

#: Our own measured bounds (new engine, 2-core CPU), pinned to 1e-3 relative.
PINS = {
    ("B-L", "low"): 5.1637e-5,
    ("universal", "low", "connected"): 3.0794e-5,
    ("universal", "low", "outer"): 5.0454e-5,
    ("universal", "high", "connected"): 6.0589e-4,
    ("universal", "high", "outer"): 1.9419e-3,
}
PIN_RTOL = 1e-3


@pytest.fixture(scope="module")
def lar_joint(lar_lik):
    return JointLikelihood((lar_lik,))


@pytest.fixture(scope="module")
def bl_low(lar_joint):
    """B−L on LAr at the two low-regime masses (10 keV, 100 keV), refined together."""
    masses = REGIME_MASSES_MEV["low"]
    return coupling_bounds(lar_joint, [get_model("B-L")] * len(masses), masses)


def test_bl_lar_low_mass_matches_paper(bl_low):
    """Published (arXiv:2202.11002 Table II, Ar low): 5.35e-5. We get 5.16e-5 (ratio 0.96)."""
    b = bl_low[0]
    assert isinstance(b, Bound) and b.mass_mev == REGIME_MASSES_MEV["low"][0]
    assert b.g_connected == pytest.approx(PUBLISHED_BOUNDS[("B-L", "lar", "low")], rel=0.20)
    assert b.g_connected == pytest.approx(PINS[("B-L", "low")], rel=PIN_RTOL)
    assert not b.island and b.g_outer == b.g_connected
    assert b.all_converged
    assert b.delta_chi2_sm < 4.0  # the SM is allowed
    assert b.log10_g.size == b.chi2.size and np.all(np.diff(b.log10_g) >= 0)


def test_bl_lar_low_mass_regime_converged(bl_low):
    """The low-mass bound is flat in M: 10 keV and 100 keV agree to better than 1e-2."""
    main_, check = bl_low
    assert abs(check.g_connected / main_.g_connected - 1.0) < 1e-2


def test_bound_edge_is_at_delta_chi2_4(bl_low, lar_joint):
    """A direct profile at the reported edge sits at Δχ² = 4 above the curve's minimum
    (the edge is interpolated in log g between refined points)."""
    b = bl_low[0]
    at_edge = profiled_chi2(Mediator(get_model("B-L"), b.mass_mev, b.g_connected), lar_joint)
    assert bool(at_edge.converged)
    assert float(at_edge.value) - b.chi2_min == pytest.approx(DELTA_CHI2_1D, abs=0.02)
    # the minimum of the curve is the SM point here (g_best = 0), its χ² the profiled SM one
    sm = profiled_chi2(Mediator(get_model("B-L"), b.mass_mev, 0.0), lar_joint)
    assert b.chi2_min <= float(sm.value) + 1e-9
    assert b.chi2_min + b.delta_chi2_sm == pytest.approx(float(sm.value), rel=1e-10)


def test_universal_lar_high_mass_island(lar_joint):
    """Universal at M = 10 GeV on LAr: destructive interference opens an allowed island —
    connected edge g/M ≈ 0.61e-3, outer ≈ 1.94e-3 GeV^-1 (published 0.82e-3). Both edges sit
    at Δχ² = 4 from the final (island) minimum."""
    b = coupling_bound(get_model("universal"), 1e4, lar_joint)
    per_gev = 1e3 / b.mass_mev
    assert b.island
    assert b.g_connected * per_gev == pytest.approx(PINS[("universal", "high", "connected")],
                                                    rel=PIN_RTOL)  # fmt: skip
    assert b.g_outer * per_gev == pytest.approx(PINS[("universal", "high", "outer")], rel=PIN_RTOL)
    assert b.g_best * per_gev > b.g_connected * per_gev  # the minimum sits in the island
    assert b.all_converged
    for g in (b.g_connected, b.g_outer):
        delta = np.interp(np.log10(g), b.log10_g, b.chi2) - b.chi2_min
        assert delta == pytest.approx(4.0, abs=0.05)


def test_universal_lar_low_mass_marginal_island(lar_joint):
    """Universal at M = 10 keV on LAr: a marginal island (its Δχ² dips to ≈ 3.9) beyond a
    barrier of Δχ² ≈ 5: connected edge 3.08e-5, outer 5.05e-5 (published 3.91e-5)."""
    b = coupling_bound(get_model("universal"), 1e-2, lar_joint)
    assert b.island and b.all_converged
    assert b.g_connected == pytest.approx(PINS[("universal", "low", "connected")], rel=PIN_RTOL)
    assert b.g_outer == pytest.approx(PINS[("universal", "low", "outer")], rel=PIN_RTOL)


# --- synthetic χ² curves: the edge/island logic without physics ------------------------------
def _fake_rows(delta):
    """A stand-in for profile_rows with Δχ² = delta(g, mass) on top of 100 at every row."""

    def fake(lik, charges, masses_mev, couplings, **kwargs):
        gs = np.asarray(couplings, float)
        masses = np.asarray(masses_mev, float)[:, None]
        return 100.0 + delta(gs, masses), np.ones(gs.shape, bool)

    return fake


def _double_well(g, a=1.36e-4, b=1e-3):
    """Δχ² = (g/a)² (1 − g²/b²)²: zero at g = 0 and g = b, barrier ≈ 8 at g = b/√3."""
    return (g / a) ** 2 * (1.0 - (g / b) ** 2) ** 2


def _deeper_island(g):
    """The double well with the island 0.5 deeper than g = 0 (best fit g = 1e-3)."""
    lg = np.log10(np.maximum(g, 1e-300))  # g = 0 is evaluated too
    return _double_well(g) - 0.5 * np.exp(-(((lg + 3.0) / 0.1) ** 2))


def test_synthetic_island(monkeypatch):
    monkeypatch.setattr(bounds_mod, "profile_rows", _fake_rows(lambda g, m: _deeper_island(g)))
    b = coupling_bound(get_model("universal"), 1e4, None)
    barrier = 1e-3 / np.sqrt(3.0)
    # Δχ² is measured from the island's minimum (−0.5): the edges sit at _deeper_island = 3.5
    expect_conn = brentq(lambda g: _deeper_island(g) - 3.5, 1e-6, barrier)
    expect_outer = brentq(lambda g: _deeper_island(g) - 3.5, 1e-3, 1e-2)
    assert b.island
    assert b.g_connected == pytest.approx(expect_conn, rel=1e-2)
    assert b.g_outer == pytest.approx(expect_outer, rel=1e-2)
    assert b.g_best == pytest.approx(1e-3, rel=2e-2)
    assert b.chi2_min == pytest.approx(99.5, abs=1e-2)
    assert b.delta_chi2_sm == pytest.approx(0.5, abs=1e-2)


def _noisy_valley_narrow_island(g, lg0=-2.99):
    """A flat valley with 1e-3 numerical noise (many local minima), a plateau near 20 and a
    narrow island (width 0.03 dex) ≈ 0.45 deeper than the valley, centred between the
    0.02-dex points of the dense search, which miss its minimum by ~2."""
    lg = np.log10(np.maximum(g, 1e-300))
    valley = 20.0 * (1.0 - np.exp(-((g / 1e-4) ** 2) / 20.0)) + 1e-3 * (1.0 + np.sin(157.0 * lg))
    return valley - 20.35 * np.exp(-(((lg - lg0) / 0.03) ** 2))


def test_synthetic_narrow_island_minimum_is_refined(monkeypatch):
    """The island's minimum is refined although the valley's noise makes deeper-looking
    local minima on the coarse grid: Δχ² is measured from it."""
    monkeypatch.setattr(
        bounds_mod, "profile_rows", _fake_rows(lambda g, m: _noisy_valley_narrow_island(g))
    )
    b = coupling_bound(get_model("universal"), 1e4, None)
    deepest = _noisy_valley_narrow_island(10.0 ** np.linspace(-3.05, -2.95, 20001)).min()
    assert deepest == pytest.approx(-0.45, abs=0.01)  # the island, below the valley's 0
    assert b.island
    assert b.g_best == pytest.approx(10.0**-2.99, rel=1e-2)
    assert b.chi2_min == pytest.approx(100.0 + deepest, abs=0.05)
    assert b.delta_chi2_sm == pytest.approx(-deepest, abs=0.05)


def test_synthetic_single_well(monkeypatch):
    monkeypatch.setattr(bounds_mod, "profile_rows", _fake_rows(lambda g, m: (g / 1e-4) ** 2))
    b = coupling_bound(get_model("B-L"), 1e-2, None)
    assert not b.island and b.g_outer == b.g_connected
    assert b.g_connected == pytest.approx(2e-4, rel=1e-2)  # Δχ² = 4 at g = 2a
    assert b.g_best == 0.0 and b.delta_chi2_sm == 0.0


def test_synthetic_curves_refined_together_equal_one_by_one(monkeypatch):
    """Many curves in one call (each stage one engine call for all) give exactly the bounds
    of each curve computed alone; the engine is called a few times, not once per point."""
    calls = []
    fake = _fake_rows(lambda g, m: np.where(m > 1.0, _deeper_island(g), (g / (1e-5 * m)) ** 2))

    def counting(lik, charges, masses, couplings, **kwargs):
        calls.append(np.shape(couplings))
        return fake(lik, charges, masses, couplings)

    monkeypatch.setattr(bounds_mod, "profile_rows", counting)
    masses = [0.5, 1e4, 0.1]
    together = coupling_bounds(None, [get_model("B-L")] * 3, masses)
    assert len(calls) <= 8 and all(shape[0] <= 3 for shape in calls)
    for m, b in zip(masses, together, strict=True):
        alone = coupling_bound(get_model("B-L"), m, None)
        assert (b.g_connected, b.g_outer, b.island, b.g_best) == (
            alone.g_connected, alone.g_outer, alone.island, alone.g_best
        )  # fmt: skip
    assert together[1].island and not together[0].island
    assert together[0].g_connected == pytest.approx(2e-5 * 0.5, rel=1e-2)
    assert together[2].g_connected == pytest.approx(2e-5 * 0.1, rel=1e-2)


def test_synthetic_regime_values(monkeypatch):
    """High mass: the bound is g/M in GeV^-1; a curve scaling with M converges exactly."""
    monkeypatch.setattr(bounds_mod, "profile_rows", _fake_rows(lambda g, m: (g / (1e-4 * m)) ** 2))
    r = regime_bound(get_model("B-L"), "high", None)
    assert r["value"] == pytest.approx(2e-4 * 1e3, rel=1e-2)  # g = 2e-4 M[MeV] -> g/M[GeV]
    assert abs(r["convergence"]) < 1e-3  # only the log-linear interpolation of the edge
    assert r["mass_gev"] == 10.0 and r["check_mass_gev"] == 5.0
    assert r["value_outer"] == r["value"] and not r["island"] and r["all_converged"]
    assert [d["mass_mev"] for d in r["details"]] == [1e4, 5e3]
    # two regimes of two models at once: the same numbers as one by one
    both = regime_bounds(None, [get_model("B-L"), get_model("scalar")], ["high", "low"])
    assert both[0]["value"] == pytest.approx(r["value"], rel=1e-12)
    assert both[1]["value"] == pytest.approx(2e-4 * 1e-2, rel=1e-2)  # g at M = 10 keV
    assert both[1]["mass_gev"] == 1e-5 and both[1]["check_mass_gev"] == 1e-4


def test_synthetic_unconverged_profiles_are_reported(monkeypatch):
    """A profile that did not converge near the edge (Δχ² < 9) clears all_converged."""

    def fake(lik, charges, masses_mev, couplings, **kwargs):
        gs = np.asarray(couplings, float)
        return 100.0 + (gs / 1e-4) ** 2, ~((gs > 1e-4) & (gs < 2e-4))

    monkeypatch.setattr(bounds_mod, "profile_rows", fake)
    assert not coupling_bound(get_model("B-L"), 1e-2, None).all_converged


# --- error paths ------------------------------------------------------------------------------
@pytest.mark.parametrize("mass", [-1.0, 0.0, float("nan"), float("inf")])
def test_nonpositive_mass_is_config_error(mass):
    with pytest.raises(ConfigError, match="masses must be finite and positive"):
        coupling_bound(get_model("B-L"), mass, None)


def test_mismatched_charges_and_masses_is_config_error():
    with pytest.raises(ConfigError, match="2 charge sets for 3 masses"):
        coupling_bounds(None, [get_model("B-L")] * 2, [1.0, 2.0, 3.0])


def test_unknown_regime_is_config_error():
    with pytest.raises(ConfigError, match="regime must be 'low' or 'high'"):
        regime_bound(get_model("B-L"), "medium", None)


def test_narrow_grid_is_config_error(lar_joint):
    """Every coupling of a too-narrow grid allowed: the message says to extend log10_g."""
    with pytest.raises(ConfigError, match="extend log10_g"):
        coupling_bound(get_model("B-L"), 1e-2, lar_joint, log10_g=np.linspace(-8, -6, 16))


@pytest.mark.parametrize(
    "grid", [np.linspace(-8, -6, 11), np.linspace(-2, 0, 11), np.linspace(-3.3, 0, 12)]
)
def test_narrow_grid_synthetic(monkeypatch, grid):
    """All allowed / all excluded / only an island inside the grid: ConfigError naming the fix."""
    monkeypatch.setattr(bounds_mod, "profile_rows", _fake_rows(lambda g, m: _double_well(g)))
    with pytest.raises(ConfigError, match="extend log10_g"):
        coupling_bound(get_model("universal"), 1e4, None, log10_g=grid)


def test_cli_unknown_model_exits_2(tmp_path, capsys):
    argv = ["bounds", "--model", "nope", "--data", "lar", "--data-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cevns-jax bounds: error:" in err and "unknown model 'nope'" in err and "B-L" in err


def test_cli_unknown_data_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bounds", "--model", "B-L", "--data", "xenon"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "csi+lar" in err


def test_cli_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bounds", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--data", "--regime", "--data-dir", "--json", "--plot"):
        assert option in text


def test_cli_bounds_json_and_plot(data_dir, tmp_path, capsys, bl_low):
    """``bounds --model B-L --data lar --regime low``: table, JSON with curves, figure."""
    out, fig = tmp_path / "b.json", tmp_path / "b.png"
    argv = [
        "bounds",
        "--model",
        "B-L",
        "--data",
        "lar",
        "--regime",
        "low",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--plot",
        str(fig),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "connected" in printed and "outer" in printed and "converged" in printed
    assert "5.350e-05" in printed  # the published value is shown
    res = json.loads(out.read_text(encoding="utf-8"))
    assert set(res) == {"model", "data", "bounds", "provenance", "elapsed_s"}
    (row,) = res["bounds"]
    assert row["model"] == "B-L" and row["data"] == "lar" and row["regime"] == "low"
    assert row["value"] == pytest.approx(bl_low[0].g_connected, rel=1e-6)
    assert row["converged"] and row["all_converged"] and row["closer"] == "connected"
    assert len(row["details"]) == 2 and len(row["details"][0]["chi2"]) > 50
    prov = res["provenance"]
    assert prov["config"]["command"] == "bounds" and prov["config"]["delta_chi2"] == 4.0
    assert all(f["verified"] for f in prov["data_files"].values())
    assert all(k.startswith("lar2020/") for k in prov["data_files"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
