"""χ² of the CsI and LAr likelihoods: hand computations, empty bins, priors, gradients."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from cevns_jax.lar2020 import LAR_SYSTEMATICS
from cevns_jax.likelihood import (
    CsINuisances,
    CsISettings,
    LArNuisances,
    LArSettings,
    components_csi,
    components_lar,
    gaussian_prior_chi2,
    poisson_chi2,
    twice_nll,
    twice_nll_combined,
    twice_nll_csi,
    twice_nll_lar,
)
from cevns_jax.likelihood_csi import POSITIVE_SCALE
from cevns_jax.mediator import standard_model
from cevns_jax.rates import counts_from_spectrum, recoil_spectrum

# one compile per function and experiment, shared by the tests below
COMPONENTS_CSI = eqx.filter_jit(components_csi)
COMPONENTS_LAR = eqx.filter_jit(components_lar)
NLL = {"csi": eqx.filter_jit(twice_nll_csi), "lar": eqx.filter_jit(twice_nll_lar)}
VALUE_AND_GRAD = {
    k: eqx.filter_jit(jax.value_and_grad(f, argnums=(0, 1)))
    for k, f in (("csi", twice_nll_csi), ("lar", twice_nll_lar))
}



@pytest.fixture(scope="module")
def spectra(csi, lar):
    f = eqx.filter_jit(recoil_spectrum)
    return {"csi": f(csi, standard_model()), "lar": f(lar, standard_model())}


def _csi_nuisances(seed=0):
    r = np.random.default_rng(seed).normal(size=9) * np.array(
        [0.1, 0.2, 0.3, 0.02, 1, 1, 1, 0.05, 0.1]
    )
    return CsINuisances(r[0], r[1], r[2], r[3], r[4:7], r[7], r[8])


def _lar_nuisances(seed=0):
    r = np.random.default_rng(seed).normal(size=12) * np.array([0.1, 0.3, 0.8, 0.008] + [0.8] * 8)
    return LArNuisances(r[0], r[1], r[2], r[3], r[4:])


def test_poisson_chi2_hand_toy():
    n = jnp.array([0.0, 3.0, 5.0, 0.0])
    mu = jnp.array([2.0, 3.0, 4.0, 0.5])
    hand = 2 * ((2 - 0) + 0.0 + (4 - 5 + 5 * np.log(5 / 4)) + 0.5)
    # predictions enter through a smooth positive part that moves μ by s²/(4μ) (s = 1e-5)
    assert float(poisson_chi2(n, mu)) == pytest.approx(hand, rel=1e-10)
    grad = jax.grad(poisson_chi2, argnums=1)(n, mu)
    np.testing.assert_allclose(grad, [2.0, 0.0, 2 * (1 - 5 / 4), 2.0], rtol=1e-9, atol=1e-10)
    # unphysical (negative) predictions stay finite, no NaN in value or gradient
    bad = jnp.array([-1.0, 3.0, 0.0, 0.0])
    assert np.isfinite(float(poisson_chi2(n, bad)))
    assert np.all(np.isfinite(jax.grad(poisson_chi2, argnums=1)(n, bad)))


def test_csi_chi2_equals_hand_computation_with_empty_bins(csi, spectra):
    obs = np.asarray(csi.observed)
    assert np.any(obs == 0), "the CsI data have empty bins: the test checks them"
    nu, settings = _csi_nuisances(1), CsISettings()
    comps = COMPONENTS_CSI(nu, spectra["csi"], csi, settings)
    mu = np.sum([np.asarray(v) for v in comps.values()], axis=0)
    mu = 0.5 * (mu + np.sqrt(mu**2 + POSITIVE_SCALE**2))  # the documented smooth positive part
    safe = np.where(obs > 0, obs, 1.0)
    hand = 2 * np.sum(mu - obs + np.where(obs > 0, obs * np.log(safe / mu), 0.0))
    eta = np.array([nu.eta_cevns, nu.eta_brn, nu.eta_nin, nu.eta_ss])
    hand += np.sum((eta / [0.12, 0.25, 0.35, 0.021]) ** 2) + np.sum(np.asarray(nu.theta) ** 2)
    hand += (float(nu.dt_cevns) / 0.05) ** 2 + (float(nu.dt_neutron) / 0.1) ** 2
    got = NLL["csi"](nu, spectra["csi"], csi, settings)
    assert float(got) == pytest.approx(hand, rel=1e-12)
    # empty bins contribute exactly 2 N_th
    empty = obs == 0
    assert 2 * mu[empty].sum() > 0


def test_csi_components_at_nominal(csi, spectra):
    comps = COMPONENTS_CSI(CsINuisances.zeros(), spectra["csi"], csi, CsISettings())
    tpl = csi.backgrounds.templates(csi, 0.0)
    # the C¹ (Hermite) time interpolation differs from the piecewise-linear one only inside
    # the 10-ns histogram steps: totals agree, bins to a small fraction of an event
    for k in ("brn", "nin", "ss"):
        np.testing.assert_allclose(comps[k], tpl[k], atol=1e-3)
        assert float(comps[k].sum()) == pytest.approx(float(tpl[k].sum()), rel=1e-5)
    assert float(comps["cevns"].sum()) == pytest.approx(323.4, rel=0.05)


def test_lar_chi2_equals_hand_computation(lar, spectra):
    nu, settings = _lar_nuisances(2), LArSettings()
    bkg = lar.backgrounds
    obs = np.asarray(lar.observed)
    tpl = {k: np.asarray(v) for k, v in bkg.templates(lar).items()}
    ours = np.asarray(jnp.sum(eqx.filter_jit(counts_from_spectrum)(lar, spectra["lar"]), axis=0))
    cv = {"cevns": np.asarray(bkg.cevns_released()), **tpl}
    nominal = {"cevns": ours, **tpl}
    factor = {
        "cevns": 1 + float(nu.eta_cevns), "brn_prompt": 1 + float(nu.eta_brn_prompt),
        "brn_delayed": 1 + float(nu.eta_brn_delayed), "ss": 1 + float(nu.eta_ss),
    }  # fmt: skip
    factor = {k: np.full(obs.shape, v) for k, v in factor.items()}
    for eps, (comp, _), var in zip(
        np.asarray(nu.eps), LAR_SYSTEMATICS.values(), np.asarray(bkg.systematics()), strict=True
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(cv[comp] > 0, (var - cv[comp]) / cv[comp], 0.0)
        factor[comp] = factor[comp] + eps * rel
    pred = sum(factor[k] * nominal[k] for k in nominal)
    hand = np.sum((obs - pred) ** 2 / (obs + tpl["ss"] / 5))
    eta = np.array([nu.eta_cevns, nu.eta_brn_prompt, nu.eta_brn_delayed, nu.eta_ss])
    hand += np.sum((eta / [0.13, 0.32, 1.0, 0.0079]) ** 2) + np.sum(np.asarray(nu.eps) ** 2)
    got = NLL["lar"](nu, spectra["lar"], lar, settings)
    assert float(got) == pytest.approx(hand, rel=1e-12)
    comps = COMPONENTS_LAR(nu, spectra["lar"], lar, None)
    np.testing.assert_allclose(sum(np.asarray(v) for v in comps.values()), pred, rtol=1e-12)


def test_priors_and_free_normalisation():
    settings = CsISettings()
    widths = settings.widths(3)
    nu = jax.tree.map(lambda w: 2.0 * w, widths)  # every nuisance at +2σ
    assert float(gaussian_prior_chi2(nu, widths)) == pytest.approx(4.0 * 9)
    free = settings.free_cevns().widths(3)
    assert float(gaussian_prior_chi2(nu, free)) == pytest.approx(4.0 * 8)
    assert np.isfinite(jax.grad(gaussian_prior_chi2)(nu, free).eta_cevns)
    lar_nu = LArNuisances(0.13, 0.0, 0.0, 0.0, jnp.full(8, 0.5))  # +1σ CEvNS, eps at +1σ each
    lar_widths = LArSettings(sigma_eps=0.5).widths()
    assert float(gaussian_prior_chi2(lar_nu, lar_widths)) == pytest.approx(1.0 + 8.0)


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_grad_matches_finite_differences(kind, csi, lar, spectra):
    exp = {"csi": csi, "lar": lar}[kind]
    settings = {"csi": CsISettings(), "lar": LArSettings()}[kind]
    nu = (_csi_nuisances if kind == "csi" else _lar_nuisances)(3)
    flat, unravel = ravel_pytree(nu)
    spec = 1.1 * spectra[kind]
    _, (g_nu, g_spec) = VALUE_AND_GRAD[kind](nu, spec, exp, settings)
    f = lambda x, a=1.0: float(NLL[kind](unravel(x), a * spec, exp, settings))  # noqa: E731
    h = 1e-6
    fd = np.array([(f(flat + h * e) - f(flat - h * e)) / (2 * h) for e in np.eye(flat.size)])
    np.testing.assert_allclose(ravel_pytree(g_nu)[0], fd, rtol=1e-5, atol=1e-4)
    # physics direction: scaling the CEvNS spectrum
    fd_a = (f(flat, 1 + h) - f(flat, 1 - h)) / (2 * h)
    assert float(jnp.sum(g_spec * spec)) == pytest.approx(fd_a, rel=1e-5)


def test_nan_free_at_extreme_nuisances(csi, spectra):
    nu = CsINuisances(-1.0, -1.0, -1.5, -1.2, jnp.array([3.0, -3.0, 2.5]), 0.4, -0.5)
    for spec in (spectra["csi"], jnp.zeros_like(spectra["csi"])):  # also: no CEvNS at all
        val, grads = VALUE_AND_GRAD["csi"](nu, spec, csi, CsISettings())
        assert np.isfinite(float(val))
        assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(grads))


def test_fixed_cevns_counts(csi, spectra):
    """cevns_counts fixes the CEvNS total; NaN leaves the normalisation free."""
    nu = _csi_nuisances(4)
    comps = eqx.filter_jit(lambda n, s, c: components_csi(n, s, csi, cevns_counts=c))
    assert float(comps(nu, spectra["csi"], 250.0)["cevns"].sum()) == pytest.approx(250.0)
    free = comps(nu, spectra["csi"], jnp.nan)["cevns"]
    nominal = COMPONENTS_CSI(nu, spectra["csi"], csi, CsISettings())["cevns"]
    np.testing.assert_allclose(free, nominal, rtol=1e-12)


def test_twice_nll_mediator_and_combination(csi, lar, spectra):
    nus = {"csi": _csi_nuisances(5), "lar": _lar_nuisances(5)}
    exps = {"csi": csi, "lar": lar}
    single = {k: float(NLL[k](nus[k], spectra[k], exps[k], None)) for k in exps}
    both = float(eqx.filter_jit(twice_nll_combined)(nus, spectra, exps, None))
    assert both == pytest.approx(single["csi"] + single["lar"], rel=1e-12)
    # from a Mediator (spectrum computed inside)
    via_model = float(eqx.filter_jit(twice_nll)(standard_model(), nus["lar"], lar))
    assert via_model == pytest.approx(single["lar"], rel=1e-12)
