"""Poisson on/off per bin: a background measured in a side sample of equal exposure.

In each bin the signal region counts n ~ Poisson(s + b) and the side sample (off) counts
m ~ Poisson(b), with the background expectation b a nuisance of its own. Profiled over b
per bin, the deviance

    D(s) = min_{b ≥ 0} 2[s + b − n + n ln(n/(s + b))] + 2[b − m + m ln(m/b)]

is a function of the signal-region prediction s alone. The maximum-likelihood b solves
2b² + (2s − n − m) b − m s = 0:

    b̂ = [−A + √(A² + 8 m s)] / 4,   A = 2s − n − m

(b̂ = (n + m)/2 at s = 0, m/2 at n = 0, max(0, n/2 − s) at m = 0), written without
cancellation for A > 0 (b̂ = 2ms / (A + √(A² + 8ms))). By the envelope theorem
dD/ds = 2(1 − n/μ) with μ = s + b̂, and d²D/ds² = h_s h_b / (h_s + h_b) with h_s = 2n/μ²,
h_b = 2m/b̂² (the curvature left after profiling b; h_s where b̂ = 0 sits on its bound).
The prediction s enters through :func:`~cevns_jax.stats.smooth_positive`, as in
:func:`~cevns_jax.stats.poisson_chi2`.
"""

import jax.numpy as jnp
from jax.scipy.special import xlogy
from jaxtyping import Array

from .stats import POSITIVE_SCALE

__all__ = ["on_off_background", "on_off_chi2", "on_off_chi2_derivatives"]


def _positive(s: Array):
    """smooth_positive(s) with its first two derivatives."""
    s2 = POSITIVE_SCALE * POSITIVE_SCALE
    root = jnp.sqrt(s * s + s2)
    return 0.5 * (s + root), 0.5 * (1.0 + s / root), 0.5 * s2 / (root * root * root)


def _background(n: Array, m: Array, s: Array) -> Array:
    """b̂ for s > 0 (closed form, no cancellation, finite gradients everywhere)."""
    a = 2.0 * s - n - m
    disc = a * a + 8.0 * m * s
    # √disc has an infinite derivative at disc = 0 (m = 0 and 2s = n only: a kink of b̂)
    root = jnp.sqrt(jnp.where(disc > 0.0, disc, 1.0)) * (disc > 0.0)
    plus = a > 0.0
    big = 2.0 * m * s / jnp.where(plus, a + root, 1.0)
    small = 0.25 * (root - a)
    return jnp.maximum(jnp.where(plus, big, small), 0.0)


def on_off_background(observed: Array, off: Array, expected: Array) -> Array:
    """b̂ per bin: the maximum-likelihood background of the signal region given its counts
    ``observed`` (n), the side-sample counts ``off`` (m) and the other predictions
    ``expected`` (s); arrays of one shape."""
    return _background(observed, off, _positive(expected)[0])


def _terms(n, m, s):
    b = _background(n, m, s)
    mu = s + b
    rn = jnp.where(n > 0.0, n / mu, 1.0)
    rm = jnp.where(m > 0.0, m / jnp.where(b > 0.0, b, 1.0), 1.0)
    value = 2.0 * (mu - n + xlogy(n, rn)) + 2.0 * (b - m + xlogy(m, rm))
    return b, mu, value


def on_off_chi2(observed: Array, off: Array, expected: Array) -> Array:
    """() Σ_bins D(s): the on/off deviance with the background profiled per bin."""
    return jnp.sum(_terms(observed, off, _positive(expected)[0])[2])


def on_off_chi2_derivatives(
    observed: Array, off: Array, expected: Array
) -> tuple[Array, Array, Array]:
    """:func:`on_off_chi2` and its per-bin first and second derivatives in s (closed form).

    Returns:
        ``(chi2, d1, d2)``: () and two arrays shaped like ``expected``.
    """
    n, m = observed, off
    s, ds, d2s = _positive(expected)
    b, mu, value = _terms(n, m, s)
    d1 = 2.0 * (1.0 - n / mu)
    h_s = 2.0 * n / (mu * mu)
    h_b = 2.0 * m / jnp.where(b > 0.0, b * b, 1.0)
    total = h_s + h_b
    free = (b > 0.0) & (total > 0.0)
    d2 = jnp.where(free, h_s * h_b / jnp.where(free, total, 1.0), h_s)
    return jnp.sum(value), d1 * ds, d2 * ds * ds + d1 * d2s
