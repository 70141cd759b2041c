"""Fits of pseudo-experiments (:mod:`cevns_jax.toys`): the profile likelihood ratio, batched.

The test statistic at a tested coupling g is the profile likelihood ratio
t(g) = χ²_prof(g) − min_{g' ≥ 0} χ²_prof(g'); the minimum is searched on a grid uniform in
g² followed by safeguarded parabolic steps in g² (:func:`fit_toys`). Wilks: t ~ χ²₁ away
from the boundary g = 0, so the 2σ interval is t < 4. A batch of toys is one vmapped,
compiled call; new data, couplings or starts of the same shapes do not retrace.
"""

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .likelihood import AbstractLikelihood
from .toys import signal_at, toy_likelihood

__all__ = ["ToyFits", "fit_toys"]


class ToyFits(eqx.Module):
    """Fits of a batch of toys (leading axis: toys).

    Attributes:
        t: profile likelihood ratio at the tested coupling.
        chi2_test: χ²_prof at the tested coupling.
        chi2_min: min over g ≥ 0 of χ²_prof.
        g_best: coupling at that minimum.
        at_edge: whether the grid minimum was at its upper edge (search range too small).
        converged: every profile of the toy converged (the search grid's, the tested
            coupling's and the best refined one's).
        ends: per part, (K + 1, n) nuisances where the profiles on the search grid and at
            the tested coupling (last) stopped: the starts of a continuation
            (:func:`fit_toys` ``starts``).
    """

    t: Array
    chi2_test: Array
    chi2_min: Array
    g_best: Array
    at_edge: Array
    converged: Array
    ends: tuple


def _chi2(toys, coeffs, g, starts):
    res = [
        t.profile(signal_at(c, g), start=x) for t, c, x in zip(toys, coeffs, starts, strict=True)
    ]
    conv = jnp.all(jnp.stack([r.converged for r in res]))
    return sum(r.value for r in res), conv, tuple(r.nuisances for r in res)


def _parabola_step(lo, b, hi, f_lo, f_b, f_hi):
    """Vertex of the parabola through three points, inside (lo, hi); a golden-section step
    into the larger side where that fails (degenerate bracket or not convex)."""
    d1, d2 = b - lo, hi - b
    num = d1 * d1 * (f_b - f_hi) - d2 * d2 * (f_b - f_lo)
    den = d1 * (f_b - f_hi) + d2 * (f_b - f_lo)
    ok = (den < 0.0) & (d1 > 0.0) & (d2 > 0.0)
    x = b - 0.5 * num / jnp.where(ok, den, -1.0)
    golden = jnp.where(d2 > d1, b + 0.381966 * d2, b - 0.381966 * d1)
    # keep a minimal distance from b (a repeated point teaches nothing)
    inside = ok & (x > lo) & (x < hi) & (jnp.abs(x - b) > 1e-3 * (hi - lo))
    return jnp.where(inside, x, golden)


def _fit_one(parts, coeffs, s_grid, n_refine, templates, data, centres, g_test, starts):
    toys = tuple(
        toy_likelihood(p, d, c, templates) for p, d, c in zip(parts, data, centres, strict=True)
    )
    k = s_grid.shape[0]
    grid_starts = tuple(x[:k] for x in starts)
    values, conv, nus = jax.vmap(lambda s, x: _chi2(toys, coeffs, jnp.sqrt(s), x))(
        s_grid, grid_starts
    )
    chi2_test, conv_test, nus_test = _chi2(toys, coeffs, g_test, tuple(x[k] for x in starts))
    i = jnp.argmin(values)
    lo_i, hi_i = jnp.maximum(i - 1, 0), jnp.minimum(i + 1, k - 1)
    state = (s_grid[lo_i], s_grid[i], s_grid[hi_i], values[lo_i], values[i], values[hi_i])

    def refine(_, carry):
        (lo, b, hi, f_lo, f_b, f_hi), c_b, nu_b = carry
        x = _parabola_step(lo, b, hi, f_lo, f_b, f_hi)
        # warm start: the refined couplings lie next to the best one
        f_x, c_x, nu_x = _chi2(toys, coeffs, jnp.sqrt(x), nu_b)
        better = f_x < f_b
        left = x < b
        new = (
            jnp.where(better, jnp.where(left, lo, b), jnp.where(left, x, lo)),
            jnp.where(better, x, b),
            jnp.where(better, jnp.where(left, b, hi), jnp.where(left, hi, x)),
            jnp.where(better, jnp.where(left, f_lo, f_b), jnp.where(left, f_x, f_lo)),
            jnp.where(better, f_x, f_b),
            jnp.where(better, jnp.where(left, f_b, f_hi), jnp.where(left, f_hi, f_x)),
        )
        nu_new = jax.tree.map(lambda u, v: jnp.where(better, u, v), nu_x, nu_b)
        return new, jnp.where(better, c_x, c_b), nu_new

    nu_i = jax.tree.map(lambda v: v[i], nus)
    (_, s_best, _, _, f_best, _), conv_best, _ = jax.lax.fori_loop(
        0, n_refine, refine, (state, conv[i], nu_i)
    )
    use_test = chi2_test < f_best
    chi2_min = jnp.minimum(chi2_test, f_best)
    return ToyFits(
        t=chi2_test - chi2_min,
        chi2_test=chi2_test,
        chi2_min=chi2_min,
        g_best=jnp.where(use_test, g_test, jnp.sqrt(s_best)),
        at_edge=i == k - 1,
        converged=conv_test & jnp.all(conv) & (use_test | conv_best),
        ends=tuple(jnp.concatenate([v, t[None]]) for v, t in zip(nus, nus_test, strict=True)),
    )


@eqx.filter_jit
def _fit_batch(parts, coeffs, s_grid, n_refine, templates, toys, g_test, starts):
    data = tuple(d for d, _ in toys)
    centres = tuple(c for _, c in toys)
    fn = functools.partial(_fit_one, parts, coeffs, s_grid, n_refine, templates)
    return jax.vmap(fn)(data, centres, g_test, starts)


def fit_toys(
    parts: Sequence[AbstractLikelihood],
    coeffs: Sequence[Array],
    toys: tuple,
    g_test,
    g_grid,
    n_refine: int = 3,
    templates: bool = False,
    starts: tuple | None = None,
) -> ToyFits:
    """Fit a batch of toys: t(g_test) for each, in one compiled, vmapped call.

    Args:
        parts: the data set's likelihoods (the observed-data ones; toys swap their data).
        coeffs: per part, :func:`signal_coefficients` at the tested charges and mass.
        toys: per part ``(data, centres)`` with a leading (n,) toy axis (:func:`draw_toys`).
        g_test: () or (n,) tested coupling(s).
        g_grid: (K,) couplings (ascending, from 0) of the search for the best g ≥ 0; the
            search is uniform in g² between them, then ``n_refine`` parabolic steps (static),
            each started from the nuisances of the best coupling so far.
        templates: as given to :func:`draw_toys` (static).
        starts: optional per part (n, K + 1, n_nu) nuisances to start the profiles on the
            grid and at g_test from (e.g. an earlier fit's ``ends``, to continue it); NaN
            rows or ``None``: each likelihood's own start.

    Returns:
        :class:`ToyFits` with (n,) leaves; ``converged``: every profile converged.
        Changing data, couplings, starts or grid values (of the same shapes) does not
        retrace.
    """
    n = toys[0][1].shape[0]
    g_test = jnp.broadcast_to(jnp.asarray(g_test, dtype=float), (n,))
    s_grid = jnp.asarray(g_grid, dtype=float) ** 2
    if starts is None:
        k = s_grid.shape[0] + 1
        starts = tuple(jnp.full((n, k, len(p.names)), jnp.nan, dtype=float) for p in parts)
    args = (tuple(parts), tuple(coeffs), s_grid, int(n_refine), bool(templates))
    return _fit_batch(*args, toys, g_test, tuple(starts))
