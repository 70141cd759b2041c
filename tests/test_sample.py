"""Bayesian sampling (cevns_jax.sample): the numpyro models reuse the fits' χ², and NUTS
reproduces the profile-likelihood SM fit.

The log-density tests pin the bookkeeping of priors vs χ²: the numpyro log joint must be
−χ²_fit/2 (χ² of the fits, Gaussian priors included) + log prior of the physics parameters
+ the normalisation constants of the Gaussian priors, −ln σ − ln √(2π) per component.
"""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density

from cevns_jax.charges import get_model
from cevns_jax.errors import ConfigError
from cevns_jax.fit import fit_sm
from cevns_jax.likelihood import (
    CsINuisances,
    CsISettings,
    LArNuisances,
    LArSettings,
    gaussian_prior_chi2,
    twice_nll_csi,
    twice_nll_lar,
)
from cevns_jax.mediator import Mediator, standard_model
from cevns_jax.rates import counts_from_spectrum, recoil_spectrum
from cevns_jax.sample import (
    FREE_WIDTH,
    credible_upper,
    data_chi2,
    likelihood_settings,
    mediator_model,
    run_nuts,
    sm_model,
)

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# jitted references: op-by-op evaluation would compile every primitive separately
_spectrum = eqx.filter_jit(recoil_spectrum)
_nll_csi = eqx.filter_jit(twice_nll_csi)
_nll_lar = eqx.filter_jit(twice_nll_lar)
_data_chi2 = eqx.filter_jit(data_chi2)


def _gauss_norm(widths) -> float:
    """Σ (−ln σ − ln √(2π)) over every component of a widths pytree (all finite)."""
    leaves = jax.tree.leaves(widths)
    return float(sum(np.sum(-np.log(np.asarray(w)) - LOG_SQRT_2PI) for w in leaves))


def _csi_point():
    return CsINuisances(0.0, 0.1, -0.2, 0.01, jnp.array([0.3, -0.5, 0.2]), 0.02, -0.05)


def test_likelihood_settings_removes_only_widths(csi):
    s = CsISettings(neutron_interp="linear")
    flat = likelihood_settings(s)
    assert all(np.isinf(np.asarray(w)).all() for w in jax.tree.leaves(flat.widths(3)))
    assert flat.neutron_interp == "linear"
    lar_flat = likelihood_settings(LArSettings(ss_sample_ratio=4.0))
    assert float(lar_flat.ss_sample_ratio) == 4.0
    assert np.isinf(float(lar_flat.sigma_eps))
    # data part = full χ² − prior terms, and its gradient stays finite
    nu = _csi_point()
    spec = _spectrum(csi, standard_model())
    full = _nll_csi(nu, spec, csi, s)
    prior = gaussian_prior_chi2(nu, s.widths(3))
    data = _data_chi2({"csi": nu}, {"csi": spec}, {"csi": csi}, {"csi": s})
    np.testing.assert_allclose(float(data), float(full - prior), rtol=1e-12)
    grad = eqx.filter_jit(jax.grad(lambda n, e: data_chi2({"csi": n}, {"csi": spec}, {"csi": e})))(
        nu, csi
    )
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grad))


def test_log_density_sm_equals_minus_half_chi2(csi):
    """SM model: CEvNS normalisation flat, η_CEvNS solved for the counts (as fit_sm)."""
    mu_max, mu = 3.0, 0.93
    nu = _csi_point()
    params = {
        "csi_mu": mu, "csi_eta_brn": nu.eta_brn, "csi_eta_nin": nu.eta_nin,
        "csi_eta_ss": nu.eta_ss, "csi_theta": nu.theta, "csi_dt_cevns": nu.dt_cevns,
        "csi_dt_neutron": nu.dt_neutron,
    }  # fmt: skip
    logp, trace = log_density(sm_model(mu_max=mu_max), ({"csi": csi},), {}, params)

    spec = _spectrum(csi, standard_model())
    n_sm = jnp.sum(eqx.filter_jit(counts_from_spectrum)(csi, spec))
    settings = CsISettings().free_cevns()  # fit_sm's settings
    chi2 = _nll_csi(nu, spec, csi, settings, cevns_counts=mu * n_sm)
    widths = settings.widths(3)
    finite = [widths.eta_brn, widths.eta_nin, widths.eta_ss, widths.theta, widths.dt_cevns,
              widths.dt_neutron]  # fmt: skip
    expected = -0.5 * float(chi2) + _gauss_norm(finite) - math.log(mu_max)
    np.testing.assert_allclose(float(logp), expected, rtol=1e-10)
    np.testing.assert_allclose(float(trace["csi_n_cevns"]["value"]), mu * float(n_sm), rtol=1e-12)
    # the stored data χ² excludes every prior term
    prior = gaussian_prior_chi2(nu, widths)
    np.testing.assert_allclose(float(trace["chi2_data"]["value"]), float(chi2 - prior), rtol=1e-10)


def test_log_density_mediator_combined_equals_minus_half_chi2(csi, lar):
    """B-L at fixed mass on CsI + LAr, one free nuisance (wide prior) included."""
    lo, hi, lg, mass = -7.0, -3.0, -4.4, 10.0
    charges = get_model("B-L")
    nu_c = CsINuisances(0.05, 0.1, -0.2, 0.01, jnp.array([0.3, -0.5, 0.2]), 0.02, -0.05)
    n_sys = LArNuisances.zeros().eps.shape[0]
    nu_l = LArNuisances(-0.1, 0.2, 0.3, -0.004, jnp.linspace(-0.5, 0.5, n_sys))
    s_c = CsISettings().free_cevns()  # CsI η_CEvNS: no prior -> Normal(0, FREE_WIDTH)
    s_l = LArSettings()
    params = {"log10_g": lg}
    params.update({f"csi_{f.name}": getattr(nu_c, f.name) for f in dataclasses.fields(nu_c)})
    params.update({f"lar_{f.name}": getattr(nu_l, f.name) for f in dataclasses.fields(nu_l)})
    model = mediator_model(log10_g=(lo, hi))
    args = ({"csi": csi, "lar": lar}, charges, mass, {"csi": s_c, "lar": s_l})
    logp, trace = log_density(model, args, {}, params)

    point = Mediator(charges, mass, 10.0**lg)
    chi2 = _nll_csi(nu_c, _spectrum(csi, point), csi, s_c) + _nll_lar(
        nu_l, _spectrum(lar, point), lar, s_l
    )
    w_c, w_l = s_c.widths(3), s_l.widths(n_sys)
    finite_c = [w_c.eta_brn, w_c.eta_nin, w_c.eta_ss, w_c.theta, w_c.dt_cevns, w_c.dt_neutron]
    norm = _gauss_norm(finite_c) + _gauss_norm(w_l)
    free = -0.5 * (0.05 / FREE_WIDTH) ** 2 - math.log(FREE_WIDTH) - LOG_SQRT_2PI
    expected = -0.5 * float(chi2) + norm + free - math.log(hi - lo)
    np.testing.assert_allclose(float(logp), expected, rtol=1e-10)
    np.testing.assert_allclose(float(trace["g"]["value"]), 10.0**lg, rtol=1e-12)


def test_mediator_prior_options(csi):
    """Uniform-in-g prior and a sampled mass change only the prior terms."""
    nu = _csi_point()
    params = {f"csi_{f.name}": getattr(nu, f.name) for f in dataclasses.fields(nu)}
    lg, lm, args = -4.5, 1.2, ({"csi": csi}, get_model("B-L"))
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
    with pytest.raises(ConfigError, match="keys"):
        log_density(sm_model(), ({"lar": csi},), {}, {"lar_mu": 1.0})
    with pytest.raises(ConfigError, match="mass_mev"):
        log_density(mediator_model(), ({"csi": csi}, get_model("B-L")), {}, {"log10_g": -5.0})
    with pytest.raises(ConfigError, match="chain_method"):
        run_nuts(sm_model(), jax.random.key(0), 1, 1, chain_method="pmap")


def test_credible_upper():
    x = np.linspace(0.0, 1.0, 100001)
    assert credible_upper(x, 0.95) == pytest.approx(0.95, abs=1e-4)
    # weights ∝ x turn a flat sample into density 2x: 95 % quantile at sqrt(0.95)
    assert credible_upper(x, 0.95, weights=x) == pytest.approx(math.sqrt(0.95), abs=1e-4)


@pytest.fixture(scope="module")
def sm_nuts(csi):
    return run_nuts(sm_model(), jax.random.key(0), 200, 200, model_args=({"csi": csi},))


def test_nuts_sm_csi_matches_profile_fit(csi, sm_nuts):
    fit = fit_sm(csi)
    n = sm_nuts.samples["csi_n_cevns"]
    d = sm_nuts.diagnostics
    assert n.shape == (200,)
    assert d["num_divergences"] == 0
    assert abs(n.mean() - fit.cevns_fitted) < 2.0 * fit.cevns_fitted_err
    assert 0.6 < n.std() / fit.cevns_fitted_err < 1.5
    assert abs(d["summary"]["csi_n_cevns"]["r_hat"] - 1.0) < 0.1
    # the nuisances stay near their priors (SS is constrained to 2 %)
    assert abs(sm_nuts.samples["csi_eta_ss"].mean()) < 0.05


@pytest.mark.slow
def test_nuts_mediator_bound_near_profile_bound(csi):
    """B-L at 10 MeV on CsI, log10 g ~ U(-6, -3.5): the 95 % credible bound agrees with the
    95 % quantile of exp(-Δχ²_profile/2) × the same prior within 0.15 dex (marginal vs
    profile, and Monte Carlo error), and lies below the Δχ² = 4 bound."""
    from cevns_jax.bounds import chi2_vs_coupling

    lo, hi = -6.0, -3.5
    charges = get_model("B-L")
    res = run_nuts(
        mediator_model(log10_g=(lo, hi)), jax.random.key(1), 300, 500,
        model_args=({"csi": csi}, charges, 10.0), target_accept_prob=0.95,
    )  # fmt: skip
    assert res.diagnostics["num_divergences"] <= 5  # a few at the wall are harmless
    bayes = credible_upper(res.samples["log10_g"], 0.95)

    grid = np.linspace(lo, hi, 96)
    chi2, _ = chi2_vs_coupling(charges, 10.0, 10.0**grid, {"csi": csi})
    dchi2 = chi2 - chi2.min()
    dens = np.exp(-0.5 * dchi2)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    profile_q95 = np.interp(0.95, cdf / cdf[-1], grid)
    delta4 = np.interp(4.0, dchi2[grid > -5.0], grid[grid > -5.0])  # monotonic there
    assert abs(bayes - profile_q95) < 0.15
    assert bayes < delta4
