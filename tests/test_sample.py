"""Bayesian sampling (cevns_jax.sample): the numpyro models reuse the fits' likelihoods, and
NUTS reproduces the profile-likelihood SM fit.

The log-density tests pin the bookkeeping of priors vs χ²: the numpyro log joint must be
−χ²_fit/2 (χ² of the fits, Gaussian priors included) + log prior of the physics parameters
+ the normalisation constants of the Gaussian priors, −ln σ − ln √(2π) per nuisance.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density

from cevns_jax.charges import get_model
from cevns_jax.engine import profile_rows
from cevns_jax.errors import ConfigError
from cevns_jax.likelihood_csi import CsILikelihood, CsISettings
from cevns_jax.mediator import Mediator, standard_model
from cevns_jax.rates import recoil_spectrum
from cevns_jax.sample import (
    FREE_WIDTH,
    credible_upper,
    data_chi2,
    mediator_model,
    run_nuts,
    sm_model,
)
from cevns_jax.stats import gaussian_prior_chi2

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_nll = eqx.filter_jit(lambda lik, nu, sig: lik.twice_nll(nu, sig))
_signal = eqx.filter_jit(lambda lik, m: lik.signal(recoil_spectrum(lik.experiment, m)))


def _gauss_norm(widths) -> float:
    """Σ (−ln σ − ln √(2π)) over finite widths."""
    w = np.asarray(widths)
    w = w[np.isfinite(w)]
    return float(np.sum(-np.log(w) - LOG_SQRT_2PI))


def _point(lik):
    rng = np.random.default_rng(3)
    w = np.where(np.isfinite(lik.widths()), lik.widths(), 0.1)
    return lik.nominal() + jnp.asarray(0.5 * w * rng.standard_normal(w.shape))


def _params(key, lik, nu, skip=()):
    return {f"{key}_{n}": nu[i] for i, n in enumerate(lik.names) if n not in skip}


def test_data_chi2_is_full_chi2_minus_priors(csi_lik):
    nu = _point(csi_lik)
    sig = _signal(csi_lik, standard_model())
    full = _nll(csi_lik, nu, sig)
    prior = gaussian_prior_chi2(nu, csi_lik.nominal(), csi_lik.widths())
    data = eqx.filter_jit(data_chi2)({"csi": nu}, {"csi": sig}, {"csi": csi_lik})
    np.testing.assert_allclose(float(data), float(full - prior), rtol=1e-12)
    grad = eqx.filter_jit(
        jax.grad(lambda n: data_chi2({"csi": n}, {"csi": sig}, {"csi": csi_lik}))
    )(nu)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_log_density_sm_equals_minus_half_chi2(csi_lik):
    """SM model: CEvNS normalisation flat, its factor solved for the counts (as fit_sm)."""
    mu_max, mu = 3.0, 0.93
    lik = csi_lik.replace_settings(CsISettings().free_cevns())  # fit_sm's settings
    nu = _point(lik)
    params = {"csi_mu": mu, **_params("csi", lik, nu, skip=("norm_cevns",))}
    logp, trace = log_density(sm_model(mu_max=mu_max), ({"csi": lik},), {}, params)

    sig = _signal(lik, standard_model())
    n_sm = float(lik.cevns_total(lik.nominal(), sig))
    solved = lik.fix_cevns_counts(nu, sig, jnp.asarray(mu * n_sm))
    chi2 = _nll(lik, solved, sig)
    expected = -0.5 * float(chi2) + _gauss_norm(lik.widths()) - math.log(mu_max)
    np.testing.assert_allclose(float(logp), expected, rtol=1e-10)
    np.testing.assert_allclose(float(trace["csi_n_cevns"]["value"]), mu * n_sm, rtol=1e-12)
    prior = gaussian_prior_chi2(solved, lik.nominal(), lik.widths())
    np.testing.assert_allclose(float(trace["chi2_data"]["value"]), float(chi2 - prior), rtol=1e-10)


def test_log_density_mediator_combined_equals_minus_half_chi2(csi_lik, lar_lik):
    """B-L at fixed mass on CsI + LAr, one free nuisance (wide prior) included."""
    lo, hi, lg, mass = -7.0, -3.0, -4.4, 10.0
    charges = get_model("B-L")
    lik_c = csi_lik.replace_settings(CsISettings().free_cevns())
    nu_c, nu_l = _point(lik_c), _point(lar_lik)
    params = {"log10_g": lg, **_params("csi", lik_c, nu_c), **_params("lar", lar_lik, nu_l)}
    model = mediator_model(log10_g=(lo, hi))
    logp, trace = log_density(model, ({"csi": lik_c, "lar": lar_lik}, charges, mass), {}, params)

    point = Mediator(charges, mass, 10.0**lg)
    chi2 = _nll(lik_c, nu_c, _signal(lik_c, point)) + _nll(lar_lik, nu_l, _signal(lar_lik, point))
    norm = _gauss_norm(lik_c.widths()) + _gauss_norm(lar_lik.widths())
    a = float(nu_c[0]) - 1.0  # the free CEvNS factor: Normal(1, FREE_WIDTH)
    free = -0.5 * (a / FREE_WIDTH) ** 2 - math.log(FREE_WIDTH) - LOG_SQRT_2PI
    expected = -0.5 * float(chi2) + norm + free - math.log(hi - lo)
    np.testing.assert_allclose(float(logp), expected, rtol=1e-10)
    np.testing.assert_allclose(float(trace["g"]["value"]), 10.0**lg, rtol=1e-12)


def test_mediator_prior_options(csi_lik):
    """Uniform-in-g prior and a sampled mass change only the prior terms."""
    params = _params("csi", csi_lik, _point(csi_lik))
    lg, lm, args = -4.5, 1.2, ({"csi": csi_lik}, get_model("B-L"))
    ref, _ = log_density(mediator_model(log10_g=(-7.0, -3.0)), (*args, 10.0**lm), {},
                         {**params, "log10_g": lg})  # fmt: skip
    uni, tr = log_density(mediator_model(log10_g=(-7.0, -3.0), g_prior="uniform"),
                          (*args, 10.0**lm), {}, {**params, "g": 10.0**lg})  # fmt: skip
    np.testing.assert_allclose(float(uni - ref), math.log(4.0) - math.log(1e-3 - 1e-7), rtol=1e-10)
    np.testing.assert_allclose(float(tr["log10_g"]["value"]), lg, rtol=1e-12)
    mass, tr = log_density(mediator_model(log10_g=(-7.0, -3.0), log10_mass_mev=(0.0, 2.0)),
                           args, {}, {**params, "log10_g": lg, "log10_mass_mev": lm})  # fmt: skip
    np.testing.assert_allclose(float(mass - ref), -math.log(2.0), rtol=1e-9)
    np.testing.assert_allclose(float(tr["mass_mev"]["value"]), 10.0**lm, rtol=1e-12)


def test_model_errors(csi):
    with pytest.raises(ConfigError, match="g_prior"):
        mediator_model(g_prior="flat")
    with pytest.raises(ConfigError, match="increasing"):
        mediator_model(log10_g=(-3.0, -5.0))
    with pytest.raises(ConfigError, match="AbstractLikelihood"):
        log_density(sm_model(), ({"csi": csi},), {}, {"csi_mu": 1.0})  # an Experiment
    with pytest.raises(ConfigError, match="mass_mev"):
        log_density(mediator_model(), ({"csi": CsILikelihood(csi)}, get_model("B-L")), {},
                    {"log10_g": -5.0})  # fmt: skip
    with pytest.raises(ConfigError, match="chain_method"):
        run_nuts(sm_model(), jax.random.key(0), 1, 1, chain_method="pmap")


def test_credible_upper():
    x = np.linspace(0.0, 1.0, 100001)
    assert credible_upper(x, 0.95) == pytest.approx(0.95, abs=1e-4)
    # weights ∝ x turn a flat sample into density 2x: 95 % quantile at sqrt(0.95)
    assert credible_upper(x, 0.95, weights=x) == pytest.approx(math.sqrt(0.95), abs=1e-4)


@pytest.fixture(scope="module")
def sm_nuts(csi_lik):
    return run_nuts(sm_model(), jax.random.key(0), 200, 200, model_args=({"csi": csi_lik},))


def test_nuts_sm_csi_matches_profile_fit(csi_sm_fit, sm_nuts):
    fit = csi_sm_fit
    n = sm_nuts.samples["csi_n_cevns"]
    d = sm_nuts.diagnostics
    assert n.shape == (200,)
    assert d["num_divergences"] == 0
    assert abs(n.mean() - fit.cevns_fitted) < 2.0 * fit.cevns_fitted_err
    assert 0.6 < n.std() / fit.cevns_fitted_err < 1.5
    assert abs(d["summary"]["csi_n_cevns"]["r_hat"] - 1.0) < 0.1
    # the nuisances stay near their priors (SS is constrained to 2 %)
    assert abs(sm_nuts.samples["csi_norm_ss"].mean() - 1.0) < 0.05


@pytest.mark.slow
def test_nuts_mediator_bound_near_profile_bound(csi_lik):
    """B-L at 10 MeV on CsI, log10 g ~ U(-6, -3.5): the 95 % credible bound agrees with the
    95 % quantile of exp(-Δχ²_profile/2) × the same prior within 0.15 dex (marginal vs
    profile, and Monte Carlo error), and lies below the Δχ² = 4 bound."""
    lo, hi = -6.0, -3.5
    charges = get_model("B-L")
    res = run_nuts(
        mediator_model(log10_g=(lo, hi)), jax.random.key(1), 300, 500,
        model_args=({"csi": csi_lik}, charges, 10.0), target_accept_prob=0.95,
    )  # fmt: skip
    assert res.diagnostics["num_divergences"] <= 5  # a few at the wall are harmless
    bayes = credible_upper(res.samples["log10_g"], 0.95)

    grid = np.linspace(lo, hi, 96)
    chi2, _ = profile_rows(csi_lik, charges, [10.0], 10.0**grid)
    dchi2 = chi2[0] - chi2[0].min()
    dens = np.exp(-0.5 * dchi2)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    profile_q95 = np.interp(0.95, cdf / cdf[-1], grid)
    delta4 = np.interp(4.0, dchi2[grid > -5.0], grid[grid > -5.0])  # monotonic there
    assert abs(bayes - profile_q95) < 0.15
    assert bayes < delta4
