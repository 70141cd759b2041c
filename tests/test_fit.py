"""Standard-Model fits against the COHERENT results, and the ``cevns-jax fit`` command."""

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.cli import main
from cevns_jax.fit import fit_sm, nuisance_table, profile_at_cevns_counts
from cevns_jax.likelihood_csi import CsILikelihood
from cevns_jax.likelihood_lar import LArLikelihood

#: Our own measured SM fits (new engine, float64, 2-core CPU), pinned tightly: a change of
#: the likelihood, the profile or the interval search moves them by far more than 1e-4.
PINS = {
    "csi2021": {"cevns_fitted": 306.413, "cevns_fitted_err": 31.706,
                "significance_sigma": 11.4997, "chi2_min": 81.2643},
    "lar2020": {"cevns_fitted": 168.084, "cevns_fitted_err": 50.747,
                "significance_sigma": 3.3185, "chi2_min": 105.0701},
}  # fmt: skip
PIN_RTOL = 1e-4


def test_csi_sm_fit(csi_sm_fit):
    """COHERENT: 306 ± 20 fitted, no-CEvNS rejected at 11.6σ. We get 306.4 ± 31.7 and 11.50σ
    (the binned χ² with its prior-constrained nuisances has a wider interval than COHERENT's
    unbinned fit)."""
    r = csi_sm_fit
    assert r.converged, r.details
    assert r.experiment == "csi2021"
    assert r.cevns_fitted == pytest.approx(306.0, rel=0.15)
    assert 15.0 < r.cevns_fitted_err < 40.0
    assert r.cevns_fitted_err_minus > 0 and r.cevns_fitted_err_plus > 0
    assert r.significance_sigma > 8.0
    assert r.chi2_no_cevns > r.chi2_min
    assert r.ndof == 9 * 11 - 1
    assert list(r.nuisances) == list(r.likelihood.names)
    assert r.nuisances["norm_cevns"]["pull"] is None
    assert r.nuisances["norm_cevns"]["prior_width"] is None
    assert set(r.nuisances) >= {"norm_brn", "norm_ss", "theta_eff", "dt_cevns_us", "dt_neutron_us"}
    assert all(abs(v["pull"]) < 3 for v in r.nuisances.values() if v["pull"] is not None)
    # normalisations are factors (nominal 1): pull = (a − 1)/σ
    ss = r.nuisances["norm_ss"]
    assert ss["prior_width"] == pytest.approx(0.021)
    assert ss["pull"] == pytest.approx((ss["value"] - 1.0) / 0.021, rel=1e-12)


def test_lar_sm_fit(lar_sm_fit):
    """COHERENT: 159 ± 43 fitted, 3.5σ. We get 168.1 ± 50.7 and 3.32σ."""
    r = lar_sm_fit
    assert r.converged, r.details
    assert r.experiment == "lar2020"
    assert r.cevns_fitted == pytest.approx(159.0, rel=0.30)
    assert 25.0 < r.cevns_fitted_err < 70.0
    assert 2.0 < r.significance_sigma < 5.0
    assert r.ndof == 12 * 10 - 1
    assert len([k for k in r.nuisances if k.startswith("eps_")]) == 8
    # the LAr χ² is quadratic in the CEvNS counts: a symmetric interval
    assert r.cevns_fitted_err_minus == pytest.approx(r.cevns_fitted_err_plus, rel=1e-6)


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_sm_fit_regression_pins(kind, csi_sm_fit, lar_sm_fit):
    r = {"csi": csi_sm_fit, "lar": lar_sm_fit}[kind]
    for key, value in PINS[r.experiment].items():
        assert getattr(r, key) == pytest.approx(value, rel=PIN_RTOL), key


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_sm_fit_is_self_consistent(kind, csi_sm_fit, lar_sm_fit):
    """Every reported number follows from the likelihood it reports: χ²_min is twice_nll at
    the best fit, N̂ the CEvNS component there, the interval ends sit at Δχ² = 1 of the
    fixed-count profile, N̂ itself at Δχ² = 0, the significance is √(χ²_0 − χ²_min)."""
    r = {"csi": csi_sm_fit, "lar": lar_sm_fit}[kind]
    lik, nu = r.likelihood, r.best_fit.nuisances
    assert np.isinf(np.asarray(lik.widths())[0])  # the fit frees the CEvNS normalisation
    assert float(lik.twice_nll(nu, r.signal)) == pytest.approx(r.chi2_min, rel=1e-12)
    assert float(lik.cevns_total(nu, r.signal)) == pytest.approx(r.cevns_fitted, rel=1e-12)
    assert float(np.sum(r.fitted_components["cevns"])) == pytest.approx(r.cevns_fitted, rel=1e-12)
    assert set(r.fitted_components) == set(lik.component_labels)
    total = sum(r.fitted_components.values())
    np.testing.assert_allclose(total, sum(lik.components(nu, r.signal).values()), rtol=1e-12)
    predicted = float(lik.cevns_total(lik.nominal(), r.signal))
    assert r.cevns_predicted == pytest.approx(predicted, rel=1e-12)

    def delta(n):
        res = profile_at_cevns_counts(lik, r.signal, jnp.asarray(n))
        assert bool(res.converged), n
        assert float(lik.cevns_total(res.nuisances, r.signal)) == pytest.approx(n, rel=1e-9)
        return float(res.value) - r.chi2_min

    assert delta(r.cevns_fitted) == pytest.approx(0.0, abs=1e-6)
    assert delta(r.cevns_fitted - r.cevns_fitted_err_minus) == pytest.approx(1.0, abs=2e-4)
    assert delta(r.cevns_fitted + r.cevns_fitted_err_plus) == pytest.approx(1.0, abs=2e-4)
    assert r.cevns_fitted_err == pytest.approx(
        0.5 * (r.cevns_fitted_err_minus + r.cevns_fitted_err_plus), rel=1e-12
    )
    assert r.significance_sigma == pytest.approx(
        math.sqrt(r.chi2_no_cevns - r.chi2_min), rel=1e-12
    )
    # no CEvNS: the profile of a zero signal
    none = profile_at_cevns_counts(lik, jnp.zeros_like(r.signal), jnp.asarray(jnp.nan))
    assert float(none.value) == pytest.approx(r.chi2_no_cevns, rel=1e-12)
    assert r.nuisances == nuisance_table(lik, nu)


def test_fit_from_experiment_equals_fit_from_likelihood(lar, lar_sm_fit):
    """``fit_sm(experiment)`` uses the registered likelihood with default settings."""
    r = fit_sm(lar)
    assert isinstance(r.likelihood, LArLikelihood)
    assert r.chi2_min == pytest.approx(lar_sm_fit.chi2_min, rel=1e-12)
    assert r.cevns_fitted == pytest.approx(lar_sm_fit.cevns_fitted, rel=1e-10)


def test_fit_frees_the_cevns_prior(csi_lik, csi_sm_fit):
    """A likelihood with a CEvNS prior is fitted without it; its other settings are kept."""
    assert np.isfinite(np.asarray(csi_lik.widths())[0])
    assert isinstance(csi_sm_fit.likelihood, CsILikelihood)
    np.testing.assert_array_equal(
        np.asarray(csi_sm_fit.likelihood.widths())[1:], np.asarray(csi_lik.widths())[1:]
    )


def test_nuisance_table():
    class Fake:
        names = ("norm_cevns", "norm_bkg", "shift")

        def nominal(self):
            return jnp.array([1.0, 1.0, 0.0])

        def widths(self):
            return jnp.array([jnp.inf, 0.25, 2.0])

    table = nuisance_table(Fake(), np.array([0.5, 1.5, -1.0]))
    assert table == {
        "norm_cevns": {"value": 0.5, "pull": None, "prior_width": None},
        "norm_bkg": {"value": 1.5, "pull": 2.0, "prior_width": 0.25},
        "shift": {"value": -1.0, "pull": -0.5, "prior_width": 2.0},
    }


def test_cli_fit_json_and_plot(data_dir, tmp_path, capsys, lar_sm_fit):
    out, fig = tmp_path / "fit.json", tmp_path / "fit.png"
    argv = ["fit", "--experiment", "lar2020", "--data-dir", str(data_dir), "--json", str(out)]
    assert main(argv + ["--plot", str(fig)]) == 0
    printed = capsys.readouterr().out
    assert "CEvNS fitted" in printed and "norm_brn_prompt" in printed
    payload = json.loads(out.read_text())
    for key in ("experiment", "cevns_fitted", "cevns_fitted_err", "significance_sigma",
                "nuisances", "chi2_min", "ndof", "provenance"):  # fmt: skip
        assert key in payload, key
    assert payload["experiment"] == "lar2020"
    assert payload["cevns_fitted"] == pytest.approx(lar_sm_fit.cevns_fitted, rel=1e-9)
    assert payload["chi2_min"] == pytest.approx(lar_sm_fit.chi2_min, rel=1e-12)
    assert payload["nuisances"]["norm_ss"]["pull"] == pytest.approx(
        lar_sm_fit.nuisances["norm_ss"]["pull"], rel=1e-6
    )
    assert payload["nuisances"]["norm_cevns"]["pull"] is None
    assert set(payload["nuisances"]["norm_brn_prompt"]) >= {"value", "pull"}
    prov = payload["provenance"]
    assert {"versions", "data_dir", "config"} <= set(prov)
    assert prov["versions"]["jax"] and prov["config"]["experiment"] == "lar2020"
    assert "ExactQuadratic" in prov["config"]["profiler"]
    assert fig.stat().st_size > 10_000


def test_cli_fit_rejects_unknown_experiment(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--experiment", "xenon"])
    assert "invalid choice" in capsys.readouterr().err
