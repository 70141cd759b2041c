"""The profilers (:mod:`cevns_jax.profile`) and :meth:`AbstractLikelihood.profile`: exact
derivatives, damped Newton and the exact quadratic solve on toys, status reporting, vmap,
profiles at fixed CEvNS counts, the envelope gradient and the joint profile."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.likelihood import JointLikelihood
from cevns_jax.likelihood_csi import CsILikelihood
from cevns_jax.mediator import mediator, standard_model
from cevns_jax.profile import (
    DampedNewton,
    ExactQuadratic,
    ProfileResult,
    _damped_step,
    value_grad_hess,
)
from cevns_jax.rates import recoil_spectrum

SIGNAL = eqx.filter_jit(lambda lik, model: lik.signal(recoil_spectrum(lik.experiment, model)))
PROFILE = eqx.filter_jit(lambda lik, s: lik.profile(s))
PROFILE_AT = eqx.filter_jit(lambda lik, s, n: lik.profile(s, cevns_counts=n))
NLL = eqx.filter_jit(lambda lik, nu, s: lik.twice_nll(nu, s))
VMAP_PROFILE = eqx.filter_jit(lambda lik, batch: jax.vmap(lik.profile)(batch))
#: physics points: SM, a B-L vector and a scalar mediator that change the CEvNS rate visibly
POINTS = {
    "SM": standard_model(),
    "B-L": mediator("B-L", 0.02, 8e-5),
    "scalar": mediator("scalar", 0.005, 3e-5),
}


@pytest.fixture(scope="module")
def liks(csi_lik, lar_lik):
    return {"csi": csi_lik, "lar": lar_lik}


@pytest.fixture(scope="module")
def signals(liks):
    return {k: {p: SIGNAL(lik, m) for p, m in POINTS.items()} for k, lik in liks.items()}


# --- the solvers on toys ---------------------------------------------------------------------
def _rosen(z):
    x = z + jnp.array([-1.2, 1.0, 0.0])  # the solvers start at z = 0
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2 + (x[2] - 3.0) ** 2


def test_value_grad_hess_is_exact():
    z = jnp.array([0.3, -0.2, 0.5])
    f, g, h = value_grad_hess(_rosen, z)
    x = np.asarray(z) + [-1.2, 1.0, 0.0]
    assert float(f) == pytest.approx(float(_rosen(z)), rel=1e-15)
    grad = [-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2),
            2 * (x[2] - 3.0)]  # fmt: skip
    np.testing.assert_allclose(g, grad, rtol=1e-13)
    hess = [[2 - 400 * (x[1] - 3 * x[0] ** 2), -400 * x[0], 0], [-400 * x[0], 200, 0], [0, 0, 2]]
    np.testing.assert_allclose(h, hess, rtol=1e-13, atol=1e-12)


def test_damped_newton_reports_its_status():
    """A fixed number of damped Newton steps reaches the Rosenbrock minimum; too few do not,
    and the gradient norm says so (no hidden failure)."""
    vgh = jax.jit(lambda z: value_grad_hess(_rosen, z))
    z, grad_norm = jax.jit(lambda: DampedNewton(steps=60).minimise(vgh, 3))()
    np.testing.assert_allclose(z + jnp.array([-1.2, 1.0, 0.0]), [1.0, 1.0, 3.0], atol=1e-8)
    assert float(grad_norm) < DampedNewton().tol
    _, short = jax.jit(lambda: DampedNewton(steps=2).minimise(vgh, 3))()
    assert float(short) > DampedNewton().tol


def test_damped_newton_rejects_steps_that_raise_chi2():
    """f = sqrt(1 + z²) − z/2 from z = 0 (one minimum at z = 1/√3): the undamped Newton
    iteration diverges (|z| grows without bound); damped steps are rejected and λ grows
    until the steps descend. Every accepted step lowers f."""

    def f(z):
        return jnp.sum(jnp.sqrt(1.0 + (z - 3.0) ** 2) - 0.5 * (z - 3.0))

    vgh = jax.jit(lambda z: value_grad_hess(f, z))
    z, grad_norm = jax.jit(lambda: DampedNewton(steps=40, damping=0.0).minimise(vgh, 1))()
    assert float(z[0]) == pytest.approx(3.0 + 1.0 / np.sqrt(3.0), abs=1e-8)
    assert float(grad_norm) < 1e-10
    # plain Newton from the same start goes astray: the test needed the damping
    x = jnp.zeros(1)
    for _ in range(5):
        _, g, h = vgh(x)
        x = x - g / h[0, 0]
    assert not np.isfinite(float(x[0])) or abs(float(x[0]) - 3.577) > 1.0


def test_damped_step_falls_back_to_the_positive_semidefinite_matrix():
    """Where H + λI is positive definite the step is the exact damped Newton step; where it
    is not (H indefinite: a Newton step would head for a saddle or a maximum) the step
    uses the positive semi-definite fallback G, and still descends."""
    grad = jnp.array([1.0, -0.2])
    fallback = jnp.array([[2.0, 0.5], [0.5, 1.0]])
    definite = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    step = _damped_step(definite, fallback, grad, 0.1)
    np.testing.assert_allclose(step, -np.linalg.solve(definite + 0.1 * np.eye(2), grad))
    indefinite = jnp.array([[-3.0, 0.0], [0.0, 2.0]])
    step = _damped_step(indefinite, fallback, grad, 0.1)
    np.testing.assert_allclose(step, -np.linalg.solve(fallback + 0.1 * np.eye(2), grad))
    assert float(grad @ step) < 0.0  # a descent direction
    # the exact step with the indefinite H would not be one
    assert float(grad @ -np.linalg.solve(indefinite + 0.1 * np.eye(2), grad)) > 0.0


def test_exact_quadratic_solves_and_keeps_flat_directions():
    """One solve (with a refinement) is exact for a quadratic; a flat direction (zero
    curvature, no gradient) stays at the start thanks to the ridge."""
    a = jnp.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    b = jnp.array([1.0, -2.0, 0.0])
    quad = lambda z: 0.5 * z @ a @ z - b @ z + 7.0  # noqa: E731
    z, grad_norm = ExactQuadratic().minimise(lambda z: value_grad_hess(quad, z), 3)
    np.testing.assert_allclose(z[:2], jnp.linalg.solve(a[:2, :2], b[:2]), rtol=1e-12)
    assert float(z[2]) == 0.0
    assert float(grad_norm) < ExactQuadratic().tol
    # an ill-conditioned quadratic (curvatures 1 and 1e14): still solved to its tolerance
    ill = jnp.diag(jnp.array([1.0, 1e14]))
    c = jnp.array([1.0, 3e7])
    bad = lambda z: 0.5 * z @ ill @ z - c @ z  # noqa: E731
    z, grad_norm = ExactQuadratic().minimise(lambda z: value_grad_hess(bad, z), 2)
    np.testing.assert_allclose(z, [1.0, 3e-7], rtol=1e-9)
    assert float(grad_norm) < ExactQuadratic().tol


# --- AbstractLikelihood.profile --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_profile_is_a_minimum(kind, liks, signals):
    """At every point: converged, the value is twice_nll at the returned nuisances, and no
    nuisance moved by ±0.01 prior σ lowers it."""
    lik = liks[kind]
    widths = np.asarray(lik.widths())
    for point in POINTS:
        signal = signals[kind][point]
        res = PROFILE(lik, signal)
        assert isinstance(res, ProfileResult)
        assert bool(res.converged) and float(res.grad_norm) < lik.solver.tol, point
        value = float(res.value)
        assert float(NLL(lik, res.nuisances, signal)) == pytest.approx(value, rel=1e-13)
        for i, w in enumerate(widths):
            for sign in (1.0, -1.0):
                moved = res.nuisances.at[i].add(sign * 0.01 * w)
                assert float(NLL(lik, moved, signal)) > value - 1e-9, (point, lik.names[i])
    # the points really differ
    values = [float(PROFILE(lik, signals[kind][p]).value) for p in POINTS]
    assert len(set(np.round(values, 3))) == len(POINTS)


def test_vmap_equals_loop(liks, signals):
    for kind in ("csi", "lar"):
        lik = liks[kind]
        batch = jnp.stack([signals[kind][p] for p in POINTS] + [0.5 * signals[kind]["SM"]])
        vm = VMAP_PROFILE(lik, batch)
        assert vm.value.shape == (4,) and vm.converged.shape == (4,)
        assert vm.nuisances.shape == (4, len(lik.names))
        for i in range(batch.shape[0]):
            one = PROFILE(lik, batch[i])
            assert float(vm.value[i]) == pytest.approx(float(one.value), rel=1e-10, abs=1e-8)
            np.testing.assert_allclose(vm.nuisances[i], one.nuisances, atol=1e-7)
            assert bool(vm.converged[i])


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_profile_at_fixed_cevns_counts(kind, liks, signals):
    """With the CEvNS total fixed (factor solved exactly, generic autodiff Hessians): the
    total is met, χ² is at least the free minimum, equal to it at the free minimum's
    total; NaN counts give the free profile."""
    lik = liks[kind]
    signal = signals[kind]["B-L"]
    free = PROFILE(lik, signal)
    n_free = float(lik.cevns_total(free.nuisances, signal))
    same = PROFILE_AT(lik, signal, jnp.asarray(n_free))
    assert bool(same.converged)
    assert float(same.value) == pytest.approx(float(free.value), abs=1e-7)
    for n in (0.5 * n_free, 1.5 * n_free):
        res = PROFILE_AT(lik, signal, jnp.asarray(n))
        assert bool(res.converged), n
        assert float(lik.cevns_total(res.nuisances, signal)) == pytest.approx(n, rel=1e-10)
        assert float(res.value) > float(free.value) + 0.1
    nan = PROFILE_AT(lik, signal, jnp.asarray(jnp.nan))
    assert bool(nan.converged)
    assert float(nan.value) == pytest.approx(float(free.value), abs=1e-7)


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_profiled_value_gradient_is_the_envelope(kind, liks, signals):
    """d χ²_prof / d signal is ∂χ²/∂signal at the minimising nuisances (envelope theorem),
    and matches a finite difference of profiled values along the signal."""
    lik = liks[kind]
    signal = signals[kind]["B-L"]
    grad = eqx.filter_jit(jax.grad(lambda s: lik.profile(s).value))(signal)
    nu = PROFILE(lik, signal).nuisances
    partial = eqx.filter_jit(jax.grad(lambda s: lik.twice_nll(nu, s)))(signal)
    np.testing.assert_allclose(grad, partial, rtol=1e-10, atol=1e-12)
    h = 1e-5
    fd = float(PROFILE(lik, (1 + h) * signal).value) - float(PROFILE(lik, (1 - h) * signal).value)
    assert float(jnp.sum(grad * signal)) == pytest.approx(fd / (2 * h), rel=1e-5)


def test_too_few_steps_are_reported(csi_lik, signals):
    """One damped Newton step cannot reach the CsI minimum: not converged, and the
    gradient norm says by how much."""
    short = CsILikelihood(csi_lik.experiment, csi_lik.settings, solver=DampedNewton(steps=1))
    res = PROFILE(short, signals["csi"]["B-L"])
    assert not bool(res.converged)
    assert float(res.grad_norm) > DampedNewton().tol
    full = PROFILE(csi_lik, signals["csi"]["B-L"])
    assert float(res.value) > float(full.value)


def test_joint_profile_is_the_sum(liks, signals):
    joint = JointLikelihood((liks["csi"], liks["lar"]))
    sigs = (signals["csi"]["B-L"], signals["lar"]["B-L"])
    res = eqx.filter_jit(lambda j, s: j.profile(s))(joint, sigs)
    parts = [PROFILE(p, s) for p, s in zip(joint.parts, sigs, strict=True)]
    assert float(res.value) == pytest.approx(sum(float(p.value) for p in parts), rel=1e-12)
    for a, p in zip(res.nuisances, parts, strict=True):
        np.testing.assert_allclose(a, p.nuisances, rtol=1e-12, atol=1e-14)
    assert bool(res.converged)
    norm = np.sqrt(sum(float(p.grad_norm) ** 2 for p in parts))
    assert float(res.grad_norm) == pytest.approx(norm, rel=1e-10, abs=1e-30)
