"""The profilers' small dense linear algebra (:func:`cevns_jax.profile.solve_spd`): exact
against NumPy, indefinite matrices flagged, and no LAPACK call in a vmapped profile
(batched LAPACK calls deadlocked the toys on CPU)."""

import jax
import jax.numpy as jnp
import numpy as np

from cevns_jax.profile import DampedNewton, ExactQuadratic, solve_spd, value_grad_hess


def _spd(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T + 0.1 * np.eye(n)


def test_solve_matches_numpy():
    for n, seed in ((1, 0), (3, 1), (10, 2)):
        a = _spd(n, seed)
        b = np.random.default_rng(seed + 10).normal(size=n)
        x, ok = solve_spd(jnp.asarray(a), jnp.asarray(b))
        np.testing.assert_allclose(np.asarray(x), np.linalg.solve(a, b), rtol=1e-10)
        assert bool(ok)
    # batched, and ill-conditioned (scales spanning 12 decades, as far inside an excluded
    # region): relative accuracy of a Cholesky solve
    d = np.diag(10.0 ** np.linspace(-6, 6, 8))
    a = np.stack([_spd(8, 5), d @ _spd(8, 6) @ d])
    b = np.random.default_rng(7).normal(size=(2, 8))
    x, ok = solve_spd(jnp.asarray(a), jnp.asarray(b))
    for k in range(2):
        np.testing.assert_allclose(np.asarray(x[k]), np.linalg.solve(a[k], b[k]), rtol=1e-8)
    assert np.all(np.asarray(ok))


def test_indefinite_matrices_are_flagged():
    a = jnp.array([[[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.0], [0.0, -1e-3]], [[2.0, 1.0], [1.0, 2.0]]])
    _, ok = solve_spd(a, jnp.ones((3, 2)))  # eigenvalues (3, -1), (2, -1e-3), (3, 1)
    assert np.asarray(ok).tolist() == [False, False, True]


def test_vmapped_profiles_call_no_lapack():
    """Regression (the toy hang): under vmap, ``jnp.linalg`` factorisations are batched
    LAPACK custom calls that block XLA's CPU thread pool; the solvers must lower to plain
    array operations."""

    def f(z):
        return jnp.sum((z - 1.0) ** 2) + 0.1 * jnp.sum(z**4)

    for solver in (DampedNewton(steps=3), ExactQuadratic()):
        run = jax.vmap(lambda c, s=solver: s.minimise(lambda z: value_grad_hess(f, z + c), 4))
        hlo = jax.jit(run).lower(jnp.ones((8, 4))).as_text()
        assert "custom_call" not in hlo and "lapack" not in hlo.lower()
