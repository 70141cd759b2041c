"""Generic statistics of binned likelihoods: deviances, priors, positivity, normalisations.

Nothing here knows about an experiment: the likelihood implementations
(:mod:`cevns_jax.likelihood_csi`, :mod:`cevns_jax.likelihood_lar`) combine these pieces.
All functions are pure, jittable, vmappable and NaN-free in their gradients.
"""

import jax.numpy as jnp
from jax.scipy.special import xlogy
from jaxtyping import Array

__all__ = [
    "POSITIVE_SCALE",
    "gaussian_chi2",
    "gaussian_chi2_derivatives",
    "gaussian_prior_chi2",
    "poisson_chi2",
    "poisson_chi2_derivatives",
    "smooth_positive",
    "solve_normalisation",
]

#: Scale (events) of :func:`smooth_positive`, which keeps predicted counts positive. A bin
#: with no data and a prediction morphed below zero (θ_eff < −1 in the CsI 0–8 PE bin)
#: sits on its corner; at 1e-3 events the corner is smooth enough for Newton steps (at
#: 1e-5 they zig-zag for tens of iterations), and a bin with μ ≫ 1e-3 moves by s²/(4μ).
POSITIVE_SCALE = 1e-3


def gaussian_prior_chi2(x: Array, centre: Array, width: Array) -> Array:
    """Σ ((x − centre)/width)² over a nuisance vector; width = inf contributes 0 (free).

    Args:
        x, centre, width: (n,) values, prior centres and 1σ prior widths.
    """
    free = jnp.isinf(width)
    pull = (x - centre) / jnp.where(free, 1.0, width)  # double where: no inf*0 in gradients
    return jnp.sum(jnp.where(free, 0.0, pull * pull))


def smooth_positive(x: Array, scale: float = POSITIVE_SCALE) -> Array:
    """Smooth positive part (x + sqrt(x² + s²))/2: x + s²/(4x) for x ≫ s, → 0 below.

    Shape systematics are morphed between their ±1σ variants and extrapolated linearly
    beyond, so far out a bin's prediction can turn negative; clipping with ``max`` would
    put a kink into χ² that stalls Newton steps. Applied to the total prediction of a bin.
    """
    return 0.5 * (x + jnp.sqrt(x * x + scale * scale))


def poisson_chi2(observed: Array, expected: Array) -> Array:
    """Poisson deviance 2 Σ [μ − n + n ln(n/μ)], exact (2μ) in bins with n = 0.

    μ is the :func:`smooth_positive` part of the prediction (a change of 2.5e-7/μ events
    for μ ≫ 1e-3), so unphysical predictions give a large, finite, smooth χ².
    """
    mu = smooth_positive(expected)
    ratio = jnp.where(observed > 0.0, observed / mu, 1.0)  # n/μ → 1 at n = 0: no 0/0
    return 2.0 * jnp.sum(mu - observed + xlogy(observed, ratio))


def poisson_chi2_derivatives(observed: Array, expected: Array) -> tuple[Array, Array, Array]:
    """:func:`poisson_chi2` and its per-bin first and second derivatives in μ (closed form).

    Returns:
        ``(chi2, d1, d2)``: () and two arrays shaped like ``expected``.
    """
    s2 = POSITIVE_SCALE * POSITIVE_SCALE
    root = jnp.sqrt(expected * expected + s2)
    mu = 0.5 * (expected + root)
    dmu = 0.5 * (1.0 + expected / root)
    d2mu = 0.5 * s2 / (root * root * root)
    ratio = jnp.where(observed > 0.0, observed / mu, 1.0)
    value = 2.0 * jnp.sum(mu - observed + xlogy(observed, ratio))
    pull = 1.0 - observed / mu
    return value, 2.0 * pull * dmu, 2.0 * (observed / (mu * mu) * dmu * dmu + pull * d2mu)


def gaussian_chi2(observed: Array, expected: Array, variance: Array) -> Array:
    """Σ (n − μ)² / σ² (Gaussian least squares)."""
    return jnp.sum((observed - expected) ** 2 / variance)


def gaussian_chi2_derivatives(
    observed: Array, expected: Array, variance: Array
) -> tuple[Array, Array, Array]:
    """:func:`gaussian_chi2` and its per-bin first and second derivatives in μ."""
    resid = observed - expected
    return jnp.sum(resid * resid / variance), -2.0 * resid / variance, 2.0 / variance


def solve_normalisation(target: Array, total_at_0: Array, total_at_1: Array) -> Array:
    """The factor a with a·B + S = target, given the totals S (a = 0) and B + S (a = 1).

    Used to profile at fixed CEvNS counts: the total CEvNS prediction of every likelihood
    is affine in its CEvNS normalisation. Returns 1 where B = 0 (the total cannot move).
    """
    slope = total_at_1 - total_at_0
    ok = slope != 0.0
    return jnp.where(ok, (target - total_at_0) / jnp.where(ok, slope, 1.0), 1.0)
