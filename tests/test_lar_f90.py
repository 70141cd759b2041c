"""LAr F90 treatment (``lar.f90``) and data term (``lar.chi2``): the 3D χ² by hand, the
profile against an independent minimiser, one trace for many signals, the SM fit."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from cevns_jax.lar2020 import LAR_SYSTEMATICS
from cevns_jax.likelihood_lar import LArLikelihood
from cevns_jax.mediator import standard_model
from cevns_jax.profile import DampedNewton, ExactQuadratic
from cevns_jax.rates import recoil_spectrum
from cevns_jax.registry import entry
from cevns_jax.settings import parse_settings
from cevns_jax.toys import toy_spec

COMPONENTS = ("cevns", "brn_prompt", "brn_delayed", "ss")
WIDTHS = np.array([0.13, 0.32, 1.0, 0.0079])


def _lik(lar_lik, *items) -> LArLikelihood:
    over = parse_settings(list(items), [entry("lar")])
    return lar_lik.replace_settings(over.likelihood_settings(entry("lar"), lar_lik.settings))


@pytest.fixture(scope="module")
def sm_2d(lar_lik):
    return lar_lik.signal(recoil_spectrum(lar_lik.experiment, standard_model()))


def _nu(lik):
    rng = np.random.default_rng(7)
    return lik.nominal() + jnp.asarray(rng.normal(0, 1, 12)) * lik.widths() * 0.5


def _hand_prediction(lar, nu, ours_2d, binned=True):
    """The prediction by hand (numpy): in 3D, CEvNS spread over F90 per energy bin and
    relative released shifts per 3D bin; else everything summed over F90 first."""
    bkg = lar.backgrounds
    fold = (lambda x: x) if binned else (lambda x: x.sum(axis=-2))
    cv3 = np.asarray(bkg.cevns_released_3d)
    per_e = cv3.sum(axis=2)  # (n_e, n_f90)
    norm = per_e.sum(1, keepdims=True)
    frac = per_e / np.where(norm > 0, norm, 1.0)
    frac[norm[:, 0] == 0] = per_e.sum(0) / per_e.sum()
    ours = fold(np.asarray(ours_2d)[:, None, :] * frac[:, :, None])
    tpl = dict(zip(COMPONENTS[1:], fold(np.asarray(bkg.nominal_3d)), strict=True))
    cv = {"cevns": fold(cv3), **tpl}
    nominal = {"cevns": ours, **tpl}
    x = np.asarray(nu)
    factor = {k: np.full(ours.shape, v) for k, v in zip(COMPONENTS, x[:4], strict=True)}
    for eps, (comp, _), var in zip(
        x[4:], LAR_SYSTEMATICS.values(), fold(np.asarray(bkg.systematics_3d)), strict=True
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            factor[comp] += eps * np.where(cv[comp] > 0, (var - cv[comp]) / cv[comp], 0.0)
    return sum(factor[k] * nominal[k] for k in nominal), ours


def test_binned_chi2_equals_hand_computation(lar_lik, sm_2d):
    """Gaussian and Poisson 3D χ² at a random nuisance point, by hand."""
    lar = lar_lik.experiment
    obs = np.asarray(lar.backgrounds.observed_3d)
    assert obs.shape == (12, 8, 10) and obs.sum() == 3752
    gauss, pois = _lik(lar_lik, "lar.f90=binned"), _lik(lar_lik, "f90=binned", "chi2=poisson")
    signal = gauss.signal(recoil_spectrum(lar, standard_model()))
    nu = _nu(gauss)
    pred, ours = _hand_prediction(lar, nu, sm_2d)
    np.testing.assert_allclose(signal, ours, rtol=1e-13)
    np.testing.assert_allclose(signal.sum(axis=1), sm_2d, rtol=1e-13)  # F90 sums back
    prior = np.sum(((np.asarray(nu[:4]) - 1) / WIDTHS) ** 2) + np.sum(np.asarray(nu[4:]) ** 2)
    var = np.maximum(obs + np.asarray(lar.backgrounds.nominal_3d[2]) / 5, 1.0)
    hand_g = np.sum((obs - pred) ** 2 / var) + prior
    assert float(gauss.twice_nll(nu, signal)) == pytest.approx(hand_g, rel=1e-12)
    assert (pred > 0).all()
    mu = 0.5 * (pred + np.sqrt(pred**2 + 1e-6))  # stats.smooth_positive (2.5e-7/μ per bin)
    logs = np.where(obs > 0, obs * np.log(np.where(obs > 0, obs, 1) / mu), 0.0)
    hand_p = 2 * np.sum(mu - obs + logs) + prior
    assert float(pois.twice_nll(nu, signal)) == pytest.approx(hand_p, rel=1e-12)
    # the 2D Poisson deviance: the same formula on the F90-summed counts
    pois2 = _lik(lar_lik, "lar.chi2=poisson")
    pred2, ours2 = _hand_prediction(lar, nu, sm_2d, binned=False)
    np.testing.assert_allclose(ours2, sm_2d, rtol=1e-13)
    obs2 = obs.sum(axis=1)
    mu2 = 0.5 * (pred2 + np.sqrt(pred2**2 + 1e-6))
    hand_2 = 2 * np.sum(mu2 - obs2 + obs2 * np.log(obs2 / mu2)) + prior
    assert float(pois2.twice_nll(nu, sm_2d)) == pytest.approx(hand_2, rel=1e-12)
    # defaults untouched: integrated Gaussian, exact solver; Poisson gets DampedNewton
    assert not lar_lik.settings.f90_binned and not lar_lik.settings.poisson
    assert isinstance(gauss.solver, ExactQuadratic) and isinstance(pois.solver, DampedNewton)
    assert isinstance(pois.replace_settings(lar_lik.settings).solver, ExactQuadratic)
    # toys fluctuate the data the likelihood reads
    assert toy_spec(pois).where(pois)[0] is pois.experiment.backgrounds.observed_3d
    assert toy_spec(lar_lik).where(lar_lik)[0] is lar.observed


def test_binned_poisson_profile_matches_scipy_and_does_not_retrace(lar_lik, sm_2d):
    """The DampedNewton profile of the 3D Poisson χ² equals an independent minimiser's
    (scipy BFGS on the same χ²), at the SM and at 1.5 × SM, batched under vmap with one
    trace."""
    lik = _lik(lar_lik, "lar.f90=binned", "lar.chi2=poisson")
    sm = lik.signal(recoil_spectrum(lik.experiment, standard_model()))
    traces = []

    @eqx.filter_jit
    def profile(lk, signals):
        traces.append(1)
        return jax.vmap(lk.profile)(signals)

    res = profile(lik, jnp.stack([sm, 1.5 * sm]))
    profile(lik, jnp.stack([0.7 * sm, 1.2 * sm]))
    assert len(traces) == 1
    assert bool(jnp.all(res.converged))
    fn = jax.jit(jax.value_and_grad(lambda x, s: lik.twice_nll(x, s)))
    scale = np.asarray(lik.widths())
    for k, signal in enumerate((sm, 1.5 * sm)):

        def f(z, signal=signal):
            v, g = fn(lik.nominal() + scale * z, signal)
            return float(v), np.asarray(g) * scale

        ref = minimize(f, np.zeros(12), jac=True, method="BFGS", options={"gtol": 1e-9})
        assert float(res.value[k]) == pytest.approx(ref.fun, abs=1e-6)
        np.testing.assert_allclose(res.nuisances[k], lik.nominal() + scale * ref.x, atol=2e-3)


@pytest.mark.slow
def test_binned_poisson_sm_fit(lar_lik):
    """COHERENT's 3D fit (arXiv:2003.10630): 159 ± 43 CEvNS events, 3.5σ. Ours with our
    CEvNS prediction (119 events) in the 3D Poisson fit: 139.9 ± 41, 3.56σ (regression
    pins; the integrated Gaussian gives 168.1 ± 50.8, 3.32σ: tests/test_regression_sm.py)."""
    from cevns_jax.fit import fit_sm

    fit = fit_sm(_lik(lar_lik, "lar.f90=binned", "lar.chi2=poisson"))
    assert fit.converged and fit.ndof == 959
    assert abs(fit.cevns_fitted - 159) < 43 and abs(fit.significance_sigma - 3.5) < 0.3
    assert fit.cevns_fitted == pytest.approx(139.85, abs=0.05)
    assert fit.cevns_fitted_err == pytest.approx(41.06, abs=0.05)
    assert fit.significance_sigma == pytest.approx(3.56, abs=0.01)
    assert fit.chi2_min == pytest.approx(1029.56, abs=0.02)


def test_settings_parse(lar_lik):
    s = _lik(lar_lik, "lar.f90=binned", "lar.chi2=poisson").settings
    assert s.f90_binned and s.poisson
    assert dataclasses.replace(s, f90_binned=False).f90_binned is False
