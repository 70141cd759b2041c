"""Per-bin steady state (:mod:`cevns_jax.onoff`, ``csi.steady_state=per_bin``): the closed
form against a numerical maximisation, exact limits, derivatives against finite differences,
and the CsI likelihood, profile and toys with it."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from cevns_jax.charges import get_model
from cevns_jax.onoff import (
    _background,
    on_off_background,
    on_off_chi2,
    on_off_chi2_derivatives,
)
from cevns_jax.stats import POSITIVE_SCALE
from cevns_jax.toys import signal_coefficients, toy_spec

# (n, m, s): ordinary, small counts, m = 0 on both sides of s = n/2, n = 0, s ≈ 0, large
CASES = np.array([
    (7.0, 4.0, 3.2), (1.0, 2.0, 0.4), (0.0, 3.0, 1.5), (5.0, 0.0, 1.0), (5.0, 0.0, 4.0),
    (2.0, 0.0, 0.0), (0.0, 0.0, 2.0), (9.0, 6.0, 1e-9), (3.0, 40.0, 25.0), (250.0, 80.0, 60.0),
])  # fmt: skip


def _deviance(n, m, s, b):
    out = 2.0 * (s + b - n) + 2.0 * (b - m)
    out += 2.0 * n * np.log(n / (s + b)) if n > 0 else 0.0
    out += 2.0 * m * np.log(m / b) if m > 0 else 0.0
    return out


def _numeric(n, m, s):
    """b̂ and D by a bounded 1-D minimisation (second method), at the prediction's
    smooth positive part as the likelihood uses it."""
    s = 0.5 * (s + np.sqrt(s * s + POSITIVE_SCALE**2))
    hi = 10.0 * (n + m + s + 1.0)
    r = minimize_scalar(lambda b: _deviance(n, m, s, b), bounds=(1e-300, hi), method="bounded",
                        options={"xatol": 1e-12})  # fmt: skip
    return r.x, r.fun


def test_closed_form_background_is_the_maximum():
    n, m, s = (jnp.asarray(CASES[:, k]) for k in range(3))
    b = np.asarray(on_off_background(n, m, s))
    for (nk, mk, sk), bk in zip(CASES, b, strict=True):
        b_num, d_num = _numeric(nk, mk, sk)
        np.testing.assert_allclose(bk, b_num, atol=1e-6 * (1.0 + b_num))
        d = float(on_off_chi2(jnp.asarray([nk]), jnp.asarray([mk]), jnp.asarray([sk])))
        np.testing.assert_allclose(d, d_num, rtol=1e-9, atol=1e-9)


def test_exact_limits():
    # the closed form itself (on_off_background applies it at smooth_positive(s))
    b = lambda n, m, s: float(_background(*(jnp.asarray(x) for x in (n, m, s))))  # noqa: E731
    assert b(7.0, 5.0, 0.0) == pytest.approx(6.0, abs=1e-6)  # s = 0: (n + m) / 2
    assert b(0.0, 5.0, 3.0) == pytest.approx(2.5, rel=1e-12)  # n = 0: m / 2
    assert b(8.0, 0.0, 1.0) == pytest.approx(3.0, rel=1e-12)  # m = 0: n/2 − s
    assert b(8.0, 0.0, 5.0) == 0.0  # ... floored at 0
    # large counts: D → (n − s − m)² / (n + m), the Gaussian on/off with variance n + m
    n, m, s = 4.0e6, 3.0e6, 1.003e6
    d = float(on_off_chi2(jnp.asarray([n]), jnp.asarray([m]), jnp.asarray([s])))
    np.testing.assert_allclose(d, (n - s - m) ** 2 / (n + m), rtol=2e-3)


def test_derivatives_match_autodiff_and_finite_differences():
    n, m = jnp.asarray(CASES[:, 0]), jnp.asarray(CASES[:, 1])
    s = jnp.asarray(CASES[:, 2]) + 0.05  # away from the m = 0 kink at s = n/2
    value, d1, d2 = on_off_chi2_derivatives(n, m, s)
    np.testing.assert_allclose(value, on_off_chi2(n, m, s), rtol=1e-14)
    chi2 = jax.jit(on_off_chi2)
    grad_fn = jax.jit(jax.grad(on_off_chi2, argnums=2))
    np.testing.assert_allclose(d1, grad_fn(n, m, s), rtol=1e-9, atol=1e-12)
    h = 1e-5
    eye = h * jnp.eye(s.size)
    fd1 = jax.vmap(lambda e: (chi2(n, m, s + e) - chi2(n, m, s - e)) / (2 * h))(eye)
    np.testing.assert_allclose(d1, fd1, rtol=1e-6, atol=1e-8)
    fd2 = jax.vmap(lambda e: (grad_fn(n, m, s + e) - grad_fn(n, m, s - e)) / (2 * h))(eye)
    np.testing.assert_allclose(d2, jnp.diag(fd2), rtol=1e-5, atol=1e-7)
    # NaN-free gradient and Hessian everywhere, at the kink and at s = 0 too
    hess_fn = jax.jit(jax.hessian(on_off_chi2, argnums=2))
    for x in (jnp.asarray(CASES[:, 2]), jnp.zeros(len(CASES)), 0.5 * n):
        assert np.all(np.isfinite(grad_fn(n, m, x))) and np.all(np.isfinite(hess_fn(n, m, x)))


@pytest.fixture(scope="module")
def per_bin(csi_lik):
    return csi_lik.replace_settings(dataclasses.replace(csi_lik.settings, steady_state="per_bin"))


def test_csi_per_bin_likelihood_is_the_on_off_deviance(csi_lik, per_bin):
    signal = signal_coefficients(per_bin, get_model("B-L"), 10.0)[0]
    nu = per_bin.nominal().at[1].set(1.1).at[4].set(0.3)
    comps = per_bin.components(nu, signal)
    assert set(comps) == {"cevns", "brn", "nin"}
    beam = sum(comps.values())
    exp = per_bin.experiment
    expected = on_off_chi2(exp.observed, exp.backgrounds.ss, beam)
    np.testing.assert_allclose(per_bin.data_chi2(beam), expected, rtol=1e-14)
    b = per_bin.steady_state(nu, signal)
    assert np.all(np.asarray(b) >= 0) and float(jnp.sum(b)) == pytest.approx(1295, rel=0.05)
    # the template likelihood's SS row of the Jacobian is the AC histogram, per bin's is 0
    _, jac = eqx.filter_jit(lambda lk, x, sg: lk.linearize(x, sg))(per_bin, nu, signal)
    assert float(jnp.abs(jac[3]).max()) == 0.0

    # the structured derivatives (what the profile uses) against autodiff of twice_nll
    @eqx.filter_jit
    def both(lk, x, sg):
        nll = lambda y: lk.twice_nll(y, sg)  # noqa: E731
        # scaled coordinates with unit scales around x; the CEvNS one is log a (a = 1)
        vgh = lk._structured_vgh(x.at[0].set(0.0), jnp.ones_like(x), sg)(jnp.zeros_like(x))
        return vgh, (nll(x), jax.grad(nll)(x), jax.hessian(nll)(x))

    (value, grad, hess, _), (v_ad, g_ad, h_ad) = both(per_bin, nu, signal)
    np.testing.assert_allclose(value, v_ad, rtol=1e-12)
    np.testing.assert_allclose(grad, g_ad, rtol=1e-7, atol=1e-9)
    chain = jnp.zeros_like(nu).at[0].set(g_ad[0])  # d²a/d(log a)² ∂χ²/∂a at a = 1
    np.testing.assert_allclose(hess, h_ad + jnp.diag(chain), rtol=1e-6, atol=1e-6)


def test_csi_per_bin_toys_fluctuate_the_ac_sample(per_bin):
    spec = toy_spec(per_bin)
    assert spec.fixed_centres == ("norm_ss",)
    assert spec.where(per_bin)[1] is per_bin.experiment.backgrounds.ss
    signal = signal_coefficients(per_bin, get_model("B-L"), 10.0)[0]
    nu = per_bin.nominal()
    counts, ac = spec.expected(per_bin, nu, signal)
    b = per_bin.steady_state(nu, signal)
    np.testing.assert_allclose(ac, b)
    np.testing.assert_allclose(counts, sum(per_bin.components(nu, signal).values()) + b)


@pytest.mark.slow  # two SM fits with Δχ² = 1 intervals: ~2 min on two shared cores
def test_sm_fit_per_bin_against_template(csi_lik, per_bin):
    """Regression of our measured SM fits (docs/physics.md §8) under the three steady-state
    treatments: uniform in time (default), the AC histogram as template, per bin. The
    per-bin steady state lowers the fitted CEvNS counts and widens their interval; its
    χ²_min counts the AC sample too."""
    from cevns_jax.fit import fit_sm

    as_template = csi_lik.replace_settings(
        dataclasses.replace(csi_lik.settings, steady_state="template")
    )
    uniform, template, binned = fit_sm(csi_lik), fit_sm(as_template), fit_sm(per_bin)
    assert uniform.converged and template.converged and binned.converged
    assert uniform.cevns_fitted == pytest.approx(306.41, abs=0.05)
    assert uniform.chi2_min == pytest.approx(81.264, abs=0.005)
    assert template.cevns_fitted == pytest.approx(309.53, abs=0.05)
    assert template.chi2_min == pytest.approx(100.019, abs=0.005)
    assert binned.cevns_fitted == pytest.approx(293.87, abs=0.05)
    assert binned.chi2_min == pytest.approx(54.691, abs=0.005)
    assert binned.cevns_fitted_err_plus == pytest.approx(37.71, abs=0.05)
    assert binned.nuisances["norm_ss"]["value"] == pytest.approx(1.0, abs=1e-9)  # inert
