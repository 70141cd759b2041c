"""The profilers' small dense linear algebra (:func:`cevns_jax.profile.cholesky`,
:func:`cevns_jax.profile.cho_solve`): exact against NumPy, NaN on indefinite matrices, and
no LAPACK call in a vmapped profile (batched LAPACK calls deadlocked the toys on CPU)."""

import jax
import jax.numpy as jnp
import numpy as np

from cevns_jax.profile import DampedNewton, ExactQuadratic, cho_solve, cholesky, value_grad_hess


def _spd(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T + 0.1 * np.eye(n)


def test_cholesky_and_solve_match_numpy():
    for n, seed in ((1, 0), (3, 1), (10, 2)):
        a = _spd(n, seed)
        b = np.random.default_rng(seed + 10).normal(size=n)
        factor = np.asarray(cholesky(jnp.asarray(a)))
        np.testing.assert_allclose(factor, np.linalg.cholesky(a), rtol=1e-12, atol=1e-13)
        x = np.asarray(cho_solve(jnp.asarray(factor), jnp.asarray(b)))
        np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-10)


def test_cholesky_of_an_indefinite_matrix_is_not_finite():
    a = jnp.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    assert not np.all(np.isfinite(np.asarray(cholesky(a))))


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
