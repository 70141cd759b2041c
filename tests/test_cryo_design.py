"""Cryo-CsI projections and design optimisation (compiles the FoM and its gradient: slow)."""

import json

import numpy as np
import pytest

from cevns_jax.cryo_design import cryo_csi_1

pytestmark = pytest.mark.slow


def test_envelope_gradient_matches_central_differences():
    from cevns_jax.design import CHECKED_PARAMETERS, gradient_check

    check = gradient_check(cryo_csi_1())
    assert set(check["parameters"]) == set(CHECKED_PARAMETERS)
    assert check["max_rel_error"] < 1e-3  # measured ~1e-8
    assert check["figure_of_merit"] == pytest.approx(10.441390, rel=1e-5)  # our number
    grads = {k: v["autodiff"] for k, v in check["parameters"].items()}
    # signs that physics fixes: more exposure helps, backgrounds and distance hurt, and a
    # lower threshold helps at the nominal design (the noise is not yet dominant)
    assert grads["mass_kg"] > 0 and grads["years_2mw"] > 0 and grads["years_2p8mw"] > 0
    assert grads["background_scale"] < 0 and grads["distance_m"] < 0
    assert grads["threshold_kevnr"] < 0


def test_expected_bounds_ordering_lmu_ltau_low_mass():
    """Expected II < expected I < observed CsI 2021 (arXiv:2202.11002 Table II)."""
    from cevns_jax.projection import asimov_likelihood, expected_bounds
    from cevns_jax.published import published_bound

    low = {}
    for name in ("cryo-csi-1", "cryo-csi-2"):
        res = expected_bounds(asimov_likelihood(name), "L_mu-L_tau")
        assert [r["regime"] for r in res] == ["low", "high"]
        low[name] = res[0]["value"]
    assert low["cryo-csi-2"] < low["cryo-csi-1"] < published_bound("L_mu-L_tau", "csi", "low")
    assert low == pytest.approx({"cryo-csi-1": 3.0497e-4, "cryo-csi-2": 7.8294e-5}, rel=3e-3)


def test_optimisation_improves_on_the_budget():
    from cevns_jax.design import optimise

    d = cryo_csi_1()
    res = optimise(d, steps=4)
    hist = res["history"]
    assert res["final"]["figure_of_merit"] > res["initial"]["figure_of_merit"]
    budget = res["constraint"]["budget_kg_yr"]
    for h in hist:
        assert h["mass_kg"] * sum(h["years"]) == pytest.approx(budget, rel=1e-12)
        assert h["converged"]


def test_design_and_project_commands(tmp_path, capsys):
    from cevns_jax.cli import main

    out = tmp_path / "d.json"
    assert main(["design", "--steps", "2", "--set", "mass_kg=12", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"initial", "final", "gradient_check", "history", "provenance"} <= set(res)
    assert res["initial"]["design"]["mass_kg"] == 12.0
    assert res["gradient_check"]["max_rel_error"] < 1e-3 and len(res["history"]) == 3
    out = tmp_path / "p.json"
    argv = ["project", "--detector", "cryo-csi-2", "--model", "B-L", "--masses", "3"]
    assert main(argv + ["--set", "threshold_kevnr=2", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"detector", "model", "expected_bounds", "design", "provenance"} <= set(res)
    assert [b["regime"] for b in res["expected_bounds"]] == ["low", "high"]
    assert res["design"]["threshold_kevnr"] == 2.0
    assert np.isfinite([b["value"] for b in res["expected_bounds"]]).all()
    assert main(["project", "--detector", "cryo-csi-1", "--model", "B-L", "--set", "x=1"]) == 2
    assert "unknown design parameter 'x'" in capsys.readouterr().err


def test_design_figure_of_an_optimisation():
    from cevns_jax.cryo_plots import plot_design_result
    from cevns_jax.design import optimise

    d = cryo_csi_1()
    res = optimise(d, steps=1)
    fig = plot_design_result(None, res, d, n_points=2, title="t")
    assert len(fig.axes) == 4  # path, FoM vs threshold and vs mass, colour bar
    for ax in fig.axes[1:3]:
        (curve,) = [ln for ln in ax.lines if ln.get_label() == "FoM through the final design"]
        assert curve.get_xdata().size == 2
