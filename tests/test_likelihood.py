"""χ² of the CsI and LAr likelihoods: hand computations, empty bins, priors, gradients,
the statistics pieces (:mod:`cevns_jax.stats`) and the joint likelihood."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.lar2020 import LAR_SYSTEMATICS
from cevns_jax.likelihood import CEVNS, JointLikelihood
from cevns_jax.likelihood_csi import CsILikelihood, CsISettings
from cevns_jax.likelihood_lar import LArSettings
from cevns_jax.mediator import mediator, standard_model
from cevns_jax.rates import counts_from_spectrum, recoil_spectrum
from cevns_jax.stats import (
    POSITIVE_SCALE,
    gaussian_chi2,
    gaussian_chi2_derivatives,
    gaussian_prior_chi2,
    poisson_chi2,
    poisson_chi2_derivatives,
    smooth_positive,
    solve_normalisation,
)

# one compile per function and likelihood type, shared by the tests below
NLL = eqx.filter_jit(lambda lik, nu, s: lik.twice_nll(nu, s))
COMPONENTS = eqx.filter_jit(lambda lik, nu, s: lik.components(nu, s))
VALUE_AND_GRAD = eqx.filter_jit(
    lambda lik, nu, s: jax.value_and_grad(lik.twice_nll, argnums=(0, 1))(nu, s)
)
SIGNAL = eqx.filter_jit(lambda lik, model: lik.signal(recoil_spectrum(lik.experiment, model)))
SPECTRUM = eqx.filter_jit(recoil_spectrum)
START = eqx.filter_jit(lambda lik, s: lik.start(s))
GRAD_HESS = eqx.filter_jit(
    lambda lik, x, s: (jax.grad(lik.twice_nll)(x, s), jax.hessian(lik.twice_nll)(x, s))
)
SIGNAL_OF = eqx.filter_jit(lambda lik, spectrum: lik.signal(spectrum))

#: typical spread of random nuisances around nominal (CsI, LAr)
CSI_SPREAD = np.array([0.1, 0.2, 0.3, 0.02, 1, 1, 1, 0.05, 0.1])
LAR_SPREAD = np.array([0.1, 0.3, 0.8, 0.008] + [0.8] * 8)


@pytest.fixture(scope="module")
def liks(csi_lik, lar_lik):
    return {"csi": csi_lik, "lar": lar_lik}


@pytest.fixture(scope="module")
def signals(liks):
    return {k: SIGNAL(lik, standard_model()) for k, lik in liks.items()}


def _random_nu(lik, seed=0):
    spread = CSI_SPREAD if isinstance(lik, CsILikelihood) else LAR_SPREAD
    r = np.random.default_rng(seed).normal(size=spread.size) * spread
    return lik.nominal() + jnp.asarray(r)


# --- statistics pieces ---------------------------------------------------------------------
def _positive(x):
    """The documented smooth positive part of a prediction, (x + sqrt(x² + s²))/2."""
    return 0.5 * (x + np.sqrt(x * x + POSITIVE_SCALE**2))


def test_poisson_chi2_hand_toy():
    n = np.array([0.0, 3.0, 5.0, 0.0])
    mu = np.array([2.0, 3.0, 4.0, 0.5])
    m = _positive(mu)  # moves μ by s²/(4μ) only
    hand = 2 * ((m[0] - 0) + (m[1] - 3 + 3 * np.log(3 / m[1])) + (m[2] - 5 + 5 * np.log(5 / m[2]))
                + m[3])  # fmt: skip
    assert float(poisson_chi2(jnp.asarray(n), jnp.asarray(mu))) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(2 * ((2 - 0) + 0.0 + (4 - 5 + 5 * np.log(5 / 4)) + 0.5), rel=1e-5)
    grad = jax.grad(poisson_chi2, argnums=1)(jnp.asarray(n), jnp.asarray(mu))
    slope = 0.5 * (1.0 + mu / np.sqrt(mu * mu + POSITIVE_SCALE**2))
    np.testing.assert_allclose(grad, 2.0 * (1.0 - n / m) * slope, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, [2.0, 0.0, 2 * (1 - 5 / 4), 2.0], rtol=1e-4, atol=1e-5)
    # unphysical (negative) predictions stay finite, no NaN in value or gradient
    bad = jnp.array([-1.0, 3.0, 0.0, 0.0])
    assert np.isfinite(float(poisson_chi2(jnp.asarray(n), bad)))
    assert np.all(np.isfinite(jax.grad(poisson_chi2, argnums=1)(jnp.asarray(n), bad)))


@pytest.mark.parametrize("mu", [[2.0, 3.0, 4.0, 0.5], [-1.0, 1e-7, 0.0, 30.0]])
def test_closed_form_derivatives_equal_autodiff(mu):
    """The per-bin closed-form derivatives (used by the structured profile) are the exact
    first and second derivatives of the deviances, also at tiny and negative predictions."""
    n, mu = jnp.array([0.0, 3.0, 5.0, 0.0]), jnp.array(mu)
    value, d1, d2 = poisson_chi2_derivatives(n, mu)
    assert float(value) == pytest.approx(float(poisson_chi2(n, mu)), rel=1e-14)
    np.testing.assert_allclose(d1, jax.grad(poisson_chi2, 1)(n, mu), rtol=1e-12, atol=1e-14)
    hess = jax.hessian(poisson_chi2, 1)(n, mu)
    np.testing.assert_allclose(hess, np.diag(d2), rtol=1e-9, atol=1e-12)
    var = jnp.array([1.0, 2.0, 4.0, 9.0])
    value, d1, d2 = gaussian_chi2_derivatives(n, mu, var)
    assert float(value) == pytest.approx(float(np.sum((n - mu) ** 2 / var)), rel=1e-14)
    assert float(gaussian_chi2(n, mu, var)) == pytest.approx(float(value), rel=1e-14)
    np.testing.assert_allclose(d1, jax.grad(gaussian_chi2, 1)(n, mu, var), rtol=1e-13)
    np.testing.assert_allclose(np.diag(d2), jax.hessian(gaussian_chi2, 1)(n, mu, var), rtol=1e-13)


def test_smooth_positive_and_solve_normalisation():
    x = jnp.array([-1.0, 0.0, 1e-3, 10.0])
    got = np.asarray(smooth_positive(x))
    assert got[1] == pytest.approx(POSITIVE_SCALE / 2, rel=1e-12)
    assert 0.0 < got[0] < POSITIVE_SCALE**2  # → s²/(4|x|) below, never negative
    assert got[3] == pytest.approx(10.0 + POSITIVE_SCALE**2 / 40.0, rel=1e-14)
    assert np.all(np.diff(got) > 0)
    # a·B + S = target with S = total at a = 0, B + S = total at a = 1
    a = solve_normalisation(jnp.asarray(25.0), jnp.asarray(5.0), jnp.asarray(15.0))
    assert float(a) == pytest.approx(2.0)
    assert float(solve_normalisation(jnp.asarray(3.0), jnp.asarray(5.0), jnp.asarray(5.0))) == 1.0


def test_priors_and_free_normalisation():
    centre = jnp.array([1.0, 1.0, 0.0])
    width = jnp.array([0.1, 0.5, 2.0])
    x = centre + 2.0 * width  # every nuisance at +2σ
    assert float(gaussian_prior_chi2(x, centre, width)) == pytest.approx(12.0)
    free = width.at[0].set(jnp.inf)
    assert float(gaussian_prior_chi2(x, centre, free)) == pytest.approx(8.0)
    grad = jax.grad(gaussian_prior_chi2)(x, centre, free)
    np.testing.assert_allclose(grad, [0.0, 2 * 2 / 0.5, 2 * 2 / 2.0], rtol=1e-14)


# --- what each likelihood declares ---------------------------------------------------------
def test_names_nominal_widths(csi_lik, lar_lik):
    assert csi_lik.names == (
        "norm_cevns", "norm_brn", "norm_nin", "norm_ss", "theta_qf0", "theta_qf1",
        "theta_eff", "dt_cevns_us", "dt_neutron_us",
    )  # fmt: skip
    norms = ("norm_cevns", "norm_brn_prompt", "norm_brn_delayed", "norm_ss")
    assert lar_lik.names == norms + tuple(f"eps_{n}" for n in LAR_SYSTEMATICS)
    for lik in (csi_lik, lar_lik):
        assert lik.names[CEVNS] == "norm_cevns"
        n = len(lik.names)
        nominal, widths = np.asarray(lik.nominal()), np.asarray(lik.widths())
        assert nominal.shape == widths.shape == (n,)
        np.testing.assert_array_equal(nominal[:4], 1.0)  # normalisation factors a = 1 + η
        np.testing.assert_array_equal(nominal[4:], 0.0)
        assert np.all(widths > 0) and np.all(np.isfinite(widths))
        assert list(lik.named(lik.nominal())) == list(lik.names)
    np.testing.assert_allclose(csi_lik.widths(), [0.12, 0.25, 0.35, 0.021, 1, 1, 1, 0.05, 0.1])
    np.testing.assert_allclose(lar_lik.widths(), [0.13, 0.32, 1.0, 0.0079] + [1.0] * 8)
    assert csi_lik.log_cevns and not lar_lik.log_cevns
    assert set(csi_lik.component_labels) == {"cevns", "brn", "nin", "ss"}
    assert set(lar_lik.component_labels) == {"cevns", "brn_prompt", "brn_delayed", "ss"}


def test_settings_and_replace_settings(csi_lik, lar_lik):
    free = csi_lik.replace_settings(CsISettings().free_cevns())
    assert np.isinf(np.asarray(free.widths())[0])
    np.testing.assert_array_equal(free.widths()[1:], csi_lik.widths()[1:])
    assert free.cevns_time.coeffs is csi_lik.cevns_time.coeffs  # no rebuild of the tables
    other = lar_lik.replace_settings(LArSettings(sigma_eps=0.5, sigma_brn_delayed=2.0))
    np.testing.assert_allclose(other.widths(), [0.13, 0.32, 2.0, 0.0079] + [0.5] * 8)
    with pytest.raises(ValueError, match="neutron_interp"):
        CsISettings(neutron_interp="cubic")


def test_signal_is_linear_in_the_spectrum(liks):
    """The signal is a linear summary of the recoil spectrum (so the g² polynomial of the
    counts carries over to it)."""
    for kind, lik in liks.items():
        s1 = SPECTRUM(lik.experiment, standard_model())
        s2 = SPECTRUM(lik.experiment, mediator("B-L", 0.01, 5e-5))
        combined = SIGNAL_OF(lik, 2.0 * s1 - 0.5 * s2)
        np.testing.assert_allclose(
            combined, 2.0 * SIGNAL_OF(lik, s1) - 0.5 * SIGNAL_OF(lik, s2), rtol=1e-12, atol=1e-12
        )
        shape = (7, 3, 9) if kind == "csi" else (12, 10)
        assert SIGNAL_OF(lik, s1).shape == shape
    lar = liks["lar"].experiment
    spectrum = SPECTRUM(lar, standard_model())
    direct = eqx.filter_jit(counts_from_spectrum)(lar, spectrum).sum(axis=0)
    np.testing.assert_allclose(SIGNAL_OF(liks["lar"], spectrum), direct, rtol=1e-13)


def test_replace_settings_neutron_interp(csi_lik, signals):
    """A likelihood whose settings say 'linear' must use the linear neutron time fold."""
    linear = CsISettings(neutron_interp="linear")
    rebuilt = CsILikelihood(csi_lik.experiment, linear)
    nu = csi_lik.nominal().at[-1].set(0.013)  # a shift between the 10-ns knots
    want = COMPONENTS(rebuilt, nu, signals["csi"])["brn"]
    other = COMPONENTS(csi_lik, nu, signals["csi"])["brn"]
    assert float(jnp.max(jnp.abs(want - other))) > 1e-6  # the two folds differ here
    got = COMPONENTS(csi_lik.replace_settings(linear), nu, signals["csi"])["brn"]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# --- CsI ---------------------------------------------------------------------------------------
def test_csi_chi2_equals_hand_computation_with_empty_bins(csi_lik, signals):
    lik, signal = csi_lik, signals["csi"]
    obs = np.asarray(lik.experiment.observed)
    empty = obs == 0
    assert empty.any(), "the CsI data have empty bins: the test checks them"
    nu = _random_nu(lik, 1)
    comps = COMPONENTS(lik, nu, signal)
    raw = np.sum([np.asarray(v) for v in comps.values()], axis=0)
    mu = _positive(raw)  # the Poisson mean: the documented smooth positive part
    safe = np.where(obs > 0, obs, 1.0)
    hand = 2 * np.sum(mu - obs + np.where(obs > 0, obs * np.log(safe / mu), 0.0))
    x = np.asarray(nu)
    hand += np.sum(((x[:4] - 1.0) / [0.12, 0.25, 0.35, 0.021]) ** 2) + np.sum(x[4:7] ** 2)
    hand += (x[7] / 0.05) ** 2 + (x[8] / 0.1) ** 2
    got = NLL(lik, nu, signal)
    assert float(got) == pytest.approx(hand, rel=1e-12)

    # empty bins contribute exactly 2 N_th: the likelihood's own data term with the
    # non-empty bins at their observed counts (where each of their terms vanishes) ...
    only_empty = float(lik.data_chi2(jnp.where(empty, raw, obs)))
    # ... and with the empty bins' predictions far below zero (their terms vanish)
    without_empty = float(lik.data_chi2(jnp.where(empty, -1e6, raw)))
    # N_th is the Poisson mean: the smooth positive part of the prediction (it differs from
    # the raw prediction by s²/(4 N) only)
    assert only_empty == pytest.approx(2.0 * mu[empty].sum(), rel=1e-12)
    assert only_empty > 1e-2  # the empty bins do carry a prediction
    assert only_empty + without_empty == pytest.approx(float(lik.data_chi2(raw)), rel=1e-12)
    # and nothing else: doubling the empty bins' predictions adds exactly 2 ΔN_th
    doubled = float(lik.data_chi2(jnp.where(empty, 2.0 * raw, raw)))
    added = 2.0 * (_positive(2.0 * raw) - mu)[empty].sum()
    assert doubled - float(lik.data_chi2(raw)) == pytest.approx(added, rel=1e-9)


def test_csi_components_at_nominal(csi_lik, signals):
    lik = csi_lik
    comps = COMPONENTS(lik, lik.nominal(), signals["csi"])
    tpl = lik.nominal_backgrounds()
    assert set(tpl) == {"brn", "nin", "ss"}
    np.testing.assert_array_equal(tpl["ss"], lik.ss_template)
    # the tabulated time folds agree with the direct (Hermite) fold to ~1e-11
    for k in ("brn", "nin", "ss"):
        np.testing.assert_allclose(comps[k], tpl[k], rtol=1e-9, atol=1e-12)
    assert float(comps["cevns"].sum()) == pytest.approx(323.373, rel=1e-5)
    assert float(lik.cevns_total(lik.nominal(), signals["csi"])) == pytest.approx(
        float(comps["cevns"].sum()), rel=1e-14
    )
    # the factors scale their components
    nu = lik.nominal().at[1].set(1.5).at[3].set(0.5)
    scaled = COMPONENTS(lik, nu, signals["csi"])
    np.testing.assert_allclose(scaled["brn"], 1.5 * comps["brn"], rtol=1e-14)
    np.testing.assert_allclose(scaled["ss"], 0.5 * comps["ss"], rtol=1e-14)
    np.testing.assert_allclose(scaled["cevns"], comps["cevns"], rtol=1e-14)


def test_csi_subtracted_variance(csi_lik):
    """N^exp + the SS prediction's Poisson variance: w_j² Σ_j' m_ij' uniform in time (the
    AC PE row's count spread with weights w_j), m_ij for the AC histogram itself."""
    exp = csi_lik.experiment
    obs, ac = np.asarray(exp.observed), np.asarray(exp.backgrounds.ss)
    w = np.asarray(exp.backgrounds.ss_time_weights)
    expected = obs + ac.sum(axis=1, keepdims=True) * w**2
    np.testing.assert_allclose(csi_lik.subtracted_variance(), expected, rtol=1e-13)
    template = csi_lik.replace_settings(
        dataclasses.replace(csi_lik.settings, steady_state="template")
    )
    np.testing.assert_array_equal(template.subtracted_variance(), obs + ac)


def test_nan_free_at_extreme_nuisances(csi_lik, signals):
    nu = jnp.array([0.0, 0.0, -0.5, -0.2, 3.0, -3.0, 2.5, 0.4, -0.5])
    for spec in (signals["csi"], jnp.zeros_like(signals["csi"])):  # also: no CEvNS at all
        val, grads = VALUE_AND_GRAD(csi_lik, nu, spec)
        assert np.isfinite(float(val))
        assert all(np.all(np.isfinite(x)) for x in grads)
    # outside the ±1 μs range of the time tables: continued linearly, still finite
    far = csi_lik.nominal().at[-2].set(1.5).at[-1].set(-1.5)
    val, grads = VALUE_AND_GRAD(csi_lik, far, signals["csi"])
    assert np.isfinite(float(val)) and all(np.all(np.isfinite(x)) for x in grads)


# --- LAr ---------------------------------------------------------------------------------------
def test_lar_chi2_equals_hand_computation(lar_lik, signals):
    lik = lar_lik
    lar = lik.experiment
    nu = _random_nu(lik, 2)
    x = np.asarray(nu)
    bkg = lar.backgrounds
    obs = np.asarray(lar.observed)
    tpl = {k: np.asarray(v) for k, v in bkg.templates(lar).items()}
    ours = np.asarray(signals["lar"])
    cv = {"cevns": np.asarray(bkg.cevns_released()), **tpl}
    nominal = {"cevns": ours, **tpl}
    factor = dict(zip(("cevns", "brn_prompt", "brn_delayed", "ss"), x[:4], strict=True))
    factor = {k: np.full(obs.shape, v) for k, v in factor.items()}
    for eps, (comp, _), var in zip(
        x[4:], LAR_SYSTEMATICS.values(), np.asarray(bkg.systematics()), strict=True
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(cv[comp] > 0, (var - cv[comp]) / cv[comp], 0.0)
        factor[comp] = factor[comp] + eps * rel
    pred = sum(factor[k] * nominal[k] for k in nominal)
    variance = obs + tpl["ss"] / 5
    np.testing.assert_allclose(lik.variance(), np.maximum(variance, 1.0), rtol=1e-14)
    np.testing.assert_allclose(lik.subtracted_variance(), lik.variance(), rtol=0)
    hand = np.sum((obs - pred) ** 2 / variance)
    hand += np.sum(((x[:4] - 1.0) / [0.13, 0.32, 1.0, 0.0079]) ** 2) + np.sum(x[4:] ** 2)
    got = NLL(lik, nu, signals["lar"])
    assert float(got) == pytest.approx(hand, rel=1e-12)
    comps = COMPONENTS(lik, nu, signals["lar"])
    assert set(comps) == set(factor)
    for k in factor:
        np.testing.assert_allclose(comps[k], factor[k] * nominal[k], rtol=1e-12, atol=1e-12)
    # the variance has its own setting
    ratio4 = lik.replace_settings(LArSettings(ss_sample_ratio=4.0))
    np.testing.assert_allclose(ratio4.variance(), np.maximum(obs + tpl["ss"] / 4, 1.0), rtol=1e-14)


# --- shared machinery --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_grad_matches_finite_differences(kind, liks, signals):
    lik = liks[kind]
    nu = _random_nu(lik, 3)
    spec = 1.1 * signals[kind]
    _, (g_nu, g_spec) = VALUE_AND_GRAD(lik, nu, spec)
    f = lambda x, a=1.0: float(NLL(lik, x, a * spec))  # noqa: E731
    h = 1e-6
    fd = np.array([(f(nu + h * e) - f(nu - h * e)) / (2 * h) for e in np.eye(nu.size)])
    np.testing.assert_allclose(g_nu, fd, rtol=1e-5, atol=1e-4)
    # physics direction: scaling the CEvNS signal
    fd_a = (f(nu, 1 + h) - f(nu, 1 - h)) / (2 * h)
    assert float(jnp.sum(g_spec * spec)) == pytest.approx(fd_a, rel=1e-5)


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_fixed_cevns_counts(kind, liks, signals):
    """fix_cevns_counts solves the CEvNS factor for a total (exactly: the total is affine in
    it); NaN leaves the factor as it was."""
    lik, signal = liks[kind], signals[kind]
    nu = _random_nu(lik, 4)
    fixed = lik.fix_cevns_counts(nu, signal, jnp.asarray(250.0))
    assert float(lik.cevns_total(fixed, signal)) == pytest.approx(250.0, rel=1e-12)
    np.testing.assert_array_equal(fixed[1:], nu[1:])
    free = lik.fix_cevns_counts(nu, signal, jnp.asarray(jnp.nan))
    np.testing.assert_array_equal(free, nu)


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_start(kind, liks, signals):
    """The profile starts at nominal with the CEvNS factor at the 1-D minimum of χ² (all
    other nuisances nominal); far inside an excluded region it is tiny but positive."""
    lik = liks[kind]
    x0 = START(lik, signals[kind])
    np.testing.assert_array_equal(x0[1:], lik.nominal()[1:])
    assert 0.5 < float(x0[0]) < 2.0
    grad, hess = GRAD_HESS(lik, x0, signals[kind])
    assert abs(float(grad[0] / hess[0, 0])) < 1e-8  # a Newton step in a moves it by < 1e-8
    huge = SIGNAL(lik, mediator("B-L", 0.001, 0.05))  # ~1e12 times the SM rate
    a0 = float(START(lik, huge)[0])
    assert 0.0 < a0 < 1e-6


def test_joint_likelihood(csi_lik, lar_lik, signals):
    joint = JointLikelihood((csi_lik, lar_lik))
    nus = (_random_nu(csi_lik, 5), _random_nu(lar_lik, 5))
    sigs = (signals["csi"], signals["lar"])
    single = [float(NLL(p, n, s)) for p, n, s in zip(joint.parts, nus, sigs, strict=True)]
    assert float(joint.twice_nll(nus, sigs)) == pytest.approx(sum(single), rel=1e-12)
    spectra = tuple(SPECTRUM(p.experiment, standard_model()) for p in joint.parts)
    for a, b in zip(joint.signal(spectra), sigs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(TypeError, match="non-empty tuple"):
        JointLikelihood(())
    with pytest.raises(TypeError, match="non-empty tuple"):
        JointLikelihood((csi_lik, "lar"))
