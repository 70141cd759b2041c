"""Profilers: minimise a χ² over its nuisance parameters at fixed cost, batched without waiting.

Two solvers, chosen by each likelihood (by type, as optimistix chooses solvers):

* :class:`ExactQuadratic` — for a χ² that is exactly quadratic in its nuisances (the LAr
  Gaussian χ², linear predictions): one Newton step from the start, i.e. the exact linear
  solve (H + εI) δ = −∇χ², plus one step of iterative refinement against rounding; no
  iterations to tune and no tolerance to meet.
* :class:`DampedNewton` — for a smooth non-quadratic χ² (the CsI Poisson deviance): a fixed
  number of Levenberg–Marquardt-damped Newton steps with exact second derivatives. Each
  step solves (H + λI) δ = −∇χ² (:func:`solve_spd`); where H + λI is not positive definite (the
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
    "solve_spd",
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


def solve_spd(a: Array, b: Array) -> tuple[Array, Array]:
    """x = a⁻¹ b for small symmetric (..., n, n) matrices ``a`` and (..., n) ``b``, by
    Gauss–Jordan elimination without pivoting, in plain array ops.

    The pivots of a symmetric matrix are all positive exactly when it is positive definite
    (they are the squared diagonal of its Cholesky factor), so the elimination also tells
    whether ``a`` is; there it is as stable as a Cholesky solve.

    Plain ops and one ``fori_loop`` over the n columns (n is the number of nuisances, ~10)
    instead of ``jnp.linalg``: under ``vmap`` those are batched LAPACK calls which (jaxlib
    0.10, CPU) split their batch over XLA's intra-op thread pool and block the calling pool
    thread until the pieces are done; when as many such calls run at once as the pool has
    threads, every worker waits for work only a worker could do and the process hangs for
    ever (seen with two factorisations per damped step on two cores). One loop instead of
    a factorisation and two triangular solves keeps the compiled program small and fast.

    Returns:
        ``(x, positive_definite)``: (..., n) and (...) bool; x is meaningless where
        ``positive_definite`` is False.
    """
    n = a.shape[-1]
    first = jnp.arange(n)[:, None]
    aug = jnp.concatenate([a, b[..., None]], axis=-1)  # (..., n, n + 1)

    def eliminate(j, carry):
        m, smallest = carry
        pivot = m[..., j, j]
        row = m[..., j, :] / pivot[..., None]  # the normalised pivot row
        m = m - m[..., :, j, None] * row[..., None, :]  # clears column j (row j too)
        m = jnp.where(first == j, row[..., None, :], m)
        return m, jnp.minimum(smallest, pivot)

    m, smallest = jax.lax.fori_loop(0, n, eliminate, (aug, jnp.full(a.shape[:-2], jnp.inf)))
    return m[..., n], smallest > 0.0


def _solve(hess: Array, grad: Array, damping: Array) -> Array:
    """−(H + λI)⁻¹ ∇ for a positive (semi-)definite H (:func:`solve_spd`)."""
    eye = jnp.eye(grad.shape[0], dtype=hess.dtype)
    return solve_spd(hess + damping * eye, -grad)[0]


def _damped_step(hess: Array, fallback: Array, grad: Array, damping: Array) -> Array:
    """−(H + λI)⁻¹ ∇ where H + λI is positive definite, else −(G + λI)⁻¹ ∇ with the
    positive semi-definite approximation G (both solved in one elimination loop; NaN if
    neither is positive definite)."""
    eye = jnp.eye(grad.shape[0], dtype=hess.dtype)
    x, ok = solve_spd(jnp.stack([hess, fallback]) + damping * eye, jnp.stack([-grad, -grad]))
    return jnp.where(ok[0], x[0], jnp.where(ok[1], x[1], jnp.nan))


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
        # pass 0: the solve from z = 0; pass 1: one step of iterative refinement with the
        # Hessian of pass 0 (far inside an excluded region the Hessian spans many decades
        # and the first solve is accurate only to cond(H)·ε). A loop of two passes, so
        # that vgh is traced and compiled once.
        def body(i, carry):
            z, hess0, *_ = carry
            _, grad, hess, _ = _unpack(vgh(z))
            hess0 = jnp.where(i == 0, hess, hess0)
            step = _solve(hess0, grad, self.ridge)
            return z + step, hess0, grad, step

        z0 = jnp.zeros(n)
        carry = (z0, jnp.zeros((n, n)), z0, z0)
        z, hess, grad, step = jax.lax.fori_loop(0, 2, body, carry)
        # gradient after the step, exact for a quadratic: ∇χ²(z + δ) = ∇χ²(z) + H δ
        return z, jnp.linalg.norm(grad + hess @ step)


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
        # Iteration 0 evaluates the start (always accepted, λ unchanged), iteration i > 0
        # the i-th trial step: vgh appears once in the traced program (half the tracing
        # and compilation of evaluating the start outside the loop).
        def body(i, carry):
            trial, z, f, g, h, p, lam = carry
            f_new, g_new, h_new, p_new = _unpack(vgh(trial))
            ok = jnp.isfinite(f_new) & (f_new <= f) & jnp.all(jnp.isfinite(g_new))
            ok = ok | (i == 0)
            pick = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
            step_lam = jnp.where(ok, self.shrink * lam, jnp.maximum(self.grow * lam, self.floor))
            lam = jnp.where(i == 0, lam, jnp.clip(step_lam, 1e-12, 1e12))
            new = (trial, f_new, g_new, h_new, p_new)
            z, f, g, h, p = (pick(a, b) for a, b in zip(new, (z, f, g, h, p), strict=True))
            return (z + _damped_step(h, p, g, lam), z, f, g, h, p, lam)

        z0 = jnp.zeros(n)
        placeholders = (jnp.zeros(()), z0, jnp.zeros((n, n)), jnp.zeros((n, n)))  # f, ∇f, H, G
        carry = (z0, z0, *placeholders, jnp.asarray(self.damping, dtype=z0.dtype))
        _, z, _, g, *_ = jax.lax.fori_loop(0, self.steps + 1, body, carry)
        return z, jnp.linalg.norm(g)
