"""Profilers: minimise a χ² over its nuisance parameters at fixed cost, batched without waiting.

Two solvers, chosen by each likelihood (by type, as optimistix chooses solvers):

* :class:`ExactQuadratic` — for a χ² that is exactly quadratic in its nuisances (the LAr
  Gaussian χ², linear predictions): one Newton step from the start, i.e. the exact linear
  solve (H + εI) δ = −∇χ², plus one step of iterative refinement against rounding; no
  iterations to tune and no tolerance to meet.
* :class:`DampedNewton` — for a smooth non-quadratic χ² (the CsI Poisson deviance): a fixed
  number of Levenberg–Marquardt-damped Newton steps with exact second derivatives. Each
  step solves (H + λI) δ = −∇χ² by Cholesky; where H + λI is not positive definite (the
  exact Hessian of a Poisson χ² is indefinite away from the minimum, e.g. where a shape
  morph bends the wrong way) the step uses the positive semi-definite Gauss–Newton part G
  of H instead, which always points downhill. A step that does not lower χ² (or is not
  finite) is rejected and λ grows ×10 (to at least 1), an accepted one shrinks λ ×0.1.
  Near the minimum H is positive definite, so the last steps are exact Newton steps and
  converge quadratically. A ``fori_loop`` of fixed length: under ``vmap`` every member does
  the same work, no member waits for another, and nothing can stall.

Both work in scaled coordinates z = (y − y₀)/scale, with the prior widths as scales, so
every direction has curvature O(1) and the gradient norm is in χ² per prior σ. Convergence
is reported, never hidden: ``converged`` = finite χ² and scaled gradient norm < ``tol``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

__all__ = [
    "AbstractSolver",
    "DampedNewton",
    "ExactQuadratic",
    "ProfileResult",
    "cho_solve",
    "cholesky",
    "value_grad_hess",
]


class ProfileResult(eqx.Module):
    """Outcome of a profile (batched along leading axes when vmapped).

    Attributes:
        value: () minimal χ² (differentiable w.r.t. the physics input: envelope theorem).
        nuisances: (n,) minimising nuisances (a tuple of those for a joint likelihood).
        converged: () bool, finite χ² and scaled gradient norm below the tolerance.
        grad_norm: () final gradient norm in χ² per prior σ.
    """

    value: Array
    nuisances: object
    converged: Array
    grad_norm: Array


def value_grad_hess(fn, z: Array) -> tuple[Array, Array, Array]:
    """(f, ∇f, ∇²f) at z; the Hessian is forward-over-reverse (exact)."""

    def grad_aux(u):
        value, grad = jax.value_and_grad(fn)(u)
        return grad, (value, grad)

    hess, (value, grad) = jax.jacfwd(grad_aux, has_aux=True)(z)
    return value, grad, hess


def cholesky(a: Array) -> Array:
    """Lower Cholesky factor L (L Lᵀ = a) of a small (n, n) matrix in plain array ops;
    NaN where ``a`` is not positive definite.

    Written out column by column (n is the number of nuisances, ~10) instead of
    ``jnp.linalg.cholesky``: under ``vmap`` that is a batched LAPACK call which (jaxlib
    0.10, CPU) splits its batch over XLA's intra-op thread pool and blocks the calling
    pool thread until the pieces are done; when as many such calls run at once as the
    pool has threads (two independent factorisations per damped step, two cores), every
    worker waits for work only a worker could do and the process hangs for ever. Plain
    element-wise ops are also faster for batches of small matrices.
    """
    n = a.shape[-1]
    rows = jnp.arange(n)
    factor = jnp.zeros_like(a)
    for j in range(n):
        v = a[:, j] - jnp.sum(factor * factor[j], axis=-1)  # columns >= j are still 0
        factor = factor.at[:, j].set(jnp.where(rows >= j, v / jnp.sqrt(v[j]), 0.0))
    return factor


def cho_solve(factor: Array, b: Array) -> Array:
    """x with L Lᵀ x = b for the lower factor L of :func:`cholesky` (plain array ops)."""
    n = b.shape[-1]
    y = jnp.zeros_like(b)
    for i in range(n):  # forward: L y = b
        y = y.at[i].set((b[i] - jnp.sum(factor[i] * y)) / factor[i, i])
    x = jnp.zeros_like(b)
    for i in reversed(range(n)):  # backward: Lᵀ x = y
        x = x.at[i].set((y[i] - jnp.sum(factor[:, i] * x)) / factor[i, i])
    return x


def _solve(hess: Array, grad: Array, damping: Array) -> Array:
    """−(H + λI)⁻¹ ∇ for a positive (semi-)definite H (Cholesky, :func:`cholesky`)."""
    eye = jnp.eye(grad.shape[0], dtype=hess.dtype)
    return cho_solve(cholesky(hess + damping * eye), -grad)


def _damped_step(hess: Array, fallback: Array, grad: Array, damping: Array) -> Array:
    """−(H + λI)⁻¹ ∇ by Cholesky where H + λI is positive definite, else −(G + λI)⁻¹ ∇
    with the positive semi-definite approximation G (NaN if that fails too)."""
    eye = jnp.eye(grad.shape[0], dtype=hess.dtype)
    exact = cholesky(hess + damping * eye)
    ok = jnp.all(jnp.isfinite(exact))
    factor = jnp.where(ok, exact, cholesky(fallback + damping * eye))
    return cho_solve(factor, -grad)


def _unpack(out):
    """(f, ∇f, ∇²f, G) from a ``vgh`` result; G defaults to ∇²f."""
    return out if len(out) == 4 else (*out, out[2])


class AbstractSolver(eqx.Module):
    """Minimises a function of z from z = 0 in scaled coordinates.

    ``minimise(vgh, n)`` takes ``vgh(z) -> (f, ∇f, ∇²f)`` or ``(f, ∇f, ∇²f, G)`` (exact
    derivatives and, optionally, a positive semi-definite approximation G of ∇²f such as
    the Gauss–Newton matrix; the likelihoods provide structured ones,
    :func:`value_grad_hess` generic ones) and returns ``(z, grad_norm)``.
    """

    tol: eqx.AbstractVar[float]

    def minimise(self, vgh, n: int) -> tuple[Array, Array]:
        raise NotImplementedError


class ExactQuadratic(AbstractSolver):
    """Exact minimum of a quadratic χ²: one linear solve.

    Attributes:
        ridge: ε added to the Hessian's diagonal (scaled units) so that a flat direction
            (a nuisance without prior acting on an empty component) stays at its start.
        tol: scaled gradient norm at the solution below which it counts as converged.
    """

    ridge: float = eqx.field(static=True, default=1e-10)
    tol: float = eqx.field(static=True, default=1e-6)

    def minimise(self, vgh, n: int) -> tuple[Array, Array]:
        _, grad, hess, _ = _unpack(vgh(jnp.zeros(n)))
        z = _solve(hess, grad, self.ridge)
        # one step of iterative refinement: far inside an excluded region the Hessian spans
        # many decades and the first solve is accurate only to cond(H)·ε
        grad = vgh(z)[1]
        step = _solve(hess, grad, self.ridge)
        # gradient after the step, exact for a quadratic: ∇χ²(z + δ) = ∇χ²(z) + H δ
        return z + step, jnp.linalg.norm(grad + hess @ step)


class DampedNewton(AbstractSolver):
    """Fixed-length Levenberg–Marquardt-damped Newton iteration.

    Attributes:
        steps: number of iterations (each: one value, gradient and Hessian).
        damping: initial λ (scaled units).
        shrink, grow: factors applied to λ after an accepted / a rejected step.
        floor: smallest λ after a rejected step (a rejection means the quadratic model
            failed at this step length: damp at least to the curvature scale O(1) at once).
        tol: scaled gradient norm below which the result counts as converged.
    """

    steps: int = eqx.field(static=True, default=12)
    damping: float = eqx.field(static=True, default=1e-3)
    shrink: float = eqx.field(static=True, default=0.1)
    grow: float = eqx.field(static=True, default=10.0)
    floor: float = eqx.field(static=True, default=1.0)
    tol: float = eqx.field(static=True, default=1e-5)

    def minimise(self, vgh, n: int) -> tuple[Array, Array]:
        z0 = jnp.zeros(n)
        f0, g0, h0, p0 = _unpack(vgh(z0))

        def body(_, carry):
            z, f, g, h, p, lam = carry
            z_new = z + _damped_step(h, p, g, lam)
            f_new, g_new, h_new, p_new = _unpack(vgh(z_new))
            ok = jnp.isfinite(f_new) & (f_new <= f) & jnp.all(jnp.isfinite(g_new))
            pick = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
            lam = jnp.where(ok, self.shrink * lam, jnp.maximum(self.grow * lam, self.floor))
            lam = jnp.clip(lam, 1e-12, 1e12)
            new = (z_new, f_new, g_new, h_new, p_new)
            return (*(pick(a, b) for a, b in zip(new, (z, f, g, h, p), strict=True)), lam)

        carry = (z0, f0, g0, h0, p0, jnp.asarray(self.damping, dtype=f0.dtype))
        z, _, g, *_ = jax.lax.fori_loop(0, self.steps, body, carry)
        return z, jnp.linalg.norm(g)
