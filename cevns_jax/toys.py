"""Pseudo-experiments (toys): the profile-likelihood-ratio distribution, batched.

A toy is the *same* likelihood with other data: its Poisson-distributed counts and its
global observables (the centres of the nuisance priors) are array leaves swapped into the
likelihood (:func:`toy_likelihood`, :class:`ToyLikelihood`), so a batch of toys is one
vmapped, compiled call and no toy retraces anything.

Toys are drawn at a physics point (charges, mass, g) from the model with the nuisances at
their conditional best fit to the observed data at that point (the profile construction):

* CsI: counts per (energy, time) bin ~ Poisson(μ(ν̂)). Optionally (``templates=True``)
  the anti-coincidence steady-state sample (the SS template) ~ Poisson(â_SS × template)
  per bin too; the SS normalisation prior (2.1 %) *is* the statistics of that sample, so
  its global observable then stays at 1 (fluctuating both would count them twice). The
  observed goodness of fit rejects those toys (docs/coverage.md), so it is not the default
  of :func:`cevns_jax.coverage.toy_study`.
  With the per-bin steady state (``CsISettings.steady_state="per_bin"``) the likelihood
  itself models the AC counts as data, so they are always drawn: m_ij ~ Poisson(b̂_ij) and
  the coincidence counts ~ Poisson(N^beam_ij + b̂_ij), b̂ the per-bin best fit at the
  true point.
* LAr: counts per bin ~ Poisson(μ(ν̂)), and each toy's χ² is the likelihood as used on the
  data, its variance σ² = N_toy + N_SS/5 recomputed from the toy's counts. We draw Poisson
  counts rather than the Gaussian χ²'s own distribution because the data are counts: the
  toys then test the Gaussian approximation (and its data-dependent variance) too.
* every other nuisance with a finite prior: centre ~ Normal(ν̂, width).

The test statistic at a tested coupling g is the profile likelihood ratio
t(g) = χ²_prof(g) − min_{g' ≥ 0} χ²_prof(g'); the minimum is searched on a grid uniform in
g² followed by safeguarded parabolic steps in g² (:func:`fit_toys`). Wilks: t ~ χ²₁ away
from the boundary g = 0, so the 2σ interval is t < 4.
"""

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .charges import U1Charges
from .errors import ConfigError
from .likelihood import AbstractLikelihood
from .likelihood_csi import CsILikelihood
from .likelihood_lar import LArLikelihood
from .mediator import Mediator
from .rates import recoil_components

__all__ = [
    "ToyFits",
    "ToyLikelihood",
    "ToySpec",
    "draw_toys",
    "fit_toys",
    "observed_as_toys",
    "signal_coefficients",
    "toy_likelihood",
    "toy_spec",
    "truth_nuisances",
]


class ToySpec(NamedTuple):
    """What is random in one likelihood's data.

    Attributes:
        where: ``lik -> tuple`` of the Poisson-distributed data arrays (for ``eqx.tree_at``).
        expected: ``(lik, nu, signal) -> tuple`` of their expectations, alike.
        fixed_centres: nuisances whose global observable is part of those data (their
            prior centre is not fluctuated).
    """

    where: Callable
    expected: Callable
    fixed_centres: tuple[str, ...] = ()


def _counts(lk, nu, signal):
    return (sum(lk.components(nu, signal).values()),)


@functools.singledispatch
def toy_spec(lik, templates: bool = False) -> ToySpec:
    """The :class:`ToySpec` of a likelihood (dispatched on its type).

    Args:
        lik: the likelihood.
        templates: also fluctuate background templates measured in side samples (CsI:
            the anti-coincidence steady-state sample); ``False``: only what the
            likelihood itself models as random (counts and prior centres).
    """
    raise ConfigError(f"no pseudo-experiment model for {type(lik).__name__}")


@toy_spec.register
def _(lik: CsILikelihood, templates: bool = False) -> ToySpec:
    where = lambda lk: (lk.experiment.observed, lk.experiment.backgrounds.ss)  # noqa: E731
    if lik.per_bin_ss:
        # the likelihood models the AC counts as data: m_ij ~ Poisson(b̂_ij), b̂ the per-bin
        # best fit at the true point, and the coincidence counts ~ Poisson(beam + b̂)
        def expected(lk, nu, signal):
            b = lk.steady_state(nu, signal)
            return _counts(lk, nu, signal)[0] + b, b

        return ToySpec(where=where, expected=expected, fixed_centres=("norm_ss",))
    if not templates:
        return ToySpec(where=lambda lk: (lk.experiment.observed,), expected=_counts)
    i_ss = lik.names.index("norm_ss")

    def expected(lk, nu, signal):
        return _counts(lk, nu, signal) + (nu[i_ss] * lk.experiment.backgrounds.ss,)

    return ToySpec(where=where, expected=expected, fixed_centres=("norm_ss",))


@toy_spec.register
def _(lik: LArLikelihood, templates: bool = False) -> ToySpec:
    # the LAr beam-off SS sample enters the χ² variance and a 0.79 % prior: kept fixed
    if lik.settings.f90_binned:  # the data the likelihood reads (LArLikelihood.observed)
        return ToySpec(where=lambda lk: (lk.experiment.backgrounds.observed_3d,), expected=_counts)
    return ToySpec(where=lambda lk: (lk.experiment.observed,), expected=_counts)


class ToyLikelihood(AbstractLikelihood):
    """A likelihood with other prior centres (global observables); final.

    Everything but :meth:`nominal` (the prior centres, also the profile's start) is the
    base likelihood's, whose data are the toy's (:func:`toy_likelihood`).

    Attributes:
        base: the likelihood with the toy's counts.
        centre: (n,) prior centres.
    """

    base: AbstractLikelihood
    centre: Array
    component_labels = {}

    @property
    def experiment(self):
        return self.base.experiment

    @property
    def solver(self):
        return self.base.solver

    @property
    def log_cevns(self):
        return self.base.log_cevns

    @property
    def names(self) -> tuple[str, ...]:
        return self.base.names

    def nominal(self) -> Array:
        return self.centre

    def widths(self) -> Array:
        return self.base.widths()

    def signal(self, spectrum: Array) -> Array:
        return self.base.signal(spectrum)

    def components(self, nu: Array, signal: Array) -> dict[str, Array]:
        return self.base.components(nu, signal)

    def subtracted_variance(self) -> Array:
        return self.base.subtracted_variance()

    def data_chi2(self, expected: Array) -> Array:
        return self.base.data_chi2(expected)

    def data_derivatives(self, expected: Array):
        return self.base.data_derivatives(expected)

    def linearize(self, nu: Array, signal: Array):
        return self.base.linearize(nu, signal)

    def curvature(self, nu: Array, signal: Array, weights: Array) -> Array:
        return self.base.curvature(nu, signal, weights)


def toy_likelihood(
    lik: AbstractLikelihood, data: tuple, centre: Array, templates: bool = False
) -> ToyLikelihood:
    """``lik`` with the toy's data (``toy_spec(lik, templates).where`` arrays) and prior
    centres."""
    where = toy_spec(lik, templates).where
    return ToyLikelihood(eqx.tree_at(where, lik, tuple(data)), centre)


def signal_coefficients(lik: AbstractLikelihood, charges: U1Charges, mass_mev) -> Array:
    """(3, ...) coefficients of the likelihood's signal in powers (1, g², g⁴)."""
    return lik.signal(recoil_components(lik.experiment, Mediator(charges, mass_mev, 1.0)))


def _signal_at(coeffs: Array, g: Array) -> Array:
    g2 = g * g
    return coeffs[0] + g2 * coeffs[1] + g2 * g2 * coeffs[2]


@eqx.filter_jit
def truth_nuisances(parts: tuple, coeffs: tuple, g: Array) -> tuple:
    """Per part: the nuisances ν̂ of the profile on the observed data at coupling g."""
    return tuple(p.profile(_signal_at(c, g)).nuisances for p, c in zip(parts, coeffs, strict=True))


@eqx.filter_jit
def draw_toys(
    key, parts: tuple, coeffs: tuple, g: Array, nus: tuple, n: int, templates: bool = False
) -> tuple:
    """``n`` toys at coupling ``g`` with nuisances ``nus`` (static ``n``, ``templates``:
    see :func:`toy_spec`).

    Returns:
        per part ``(data, centres)``: the data arrays with a leading (n,) axis, (n, n_nu).
    """
    out = []
    for k, (lik, c, nu) in enumerate(zip(parts, coeffs, nus, strict=True)):
        spec = toy_spec(lik, templates)
        means = spec.expected(lik, nu, _signal_at(c, g))
        keys = jax.random.split(jax.random.fold_in(key, k), len(means) + 1)
        data = tuple(
            jax.random.poisson(kk, m, (n,) + m.shape).astype(float)
            for kk, m in zip(keys[1:], means, strict=True)
        )
        widths = lik.widths()
        fixed = np.isin(np.asarray(lik.names), spec.fixed_centres)
        vary = jnp.isfinite(widths) & jnp.asarray(~fixed)
        z = jax.random.normal(keys[0], (n,) + nu.shape)
        shift = jnp.where(vary, jnp.where(vary, widths, 0.0) * z, 0.0)
        out.append((data, jnp.where(vary, nu, lik.nominal()) + shift))
    return tuple(out)


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
        t.profile(_signal_at(c, g), start=x) for t, c, x in zip(toys, coeffs, starts, strict=True)
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


def observed_as_toys(parts: Sequence[AbstractLikelihood], n: int, templates: bool = False):
    """The observed data as ``n`` identical "toys" (to evaluate them with :func:`fit_toys`)."""
    out = []
    for lik in parts:
        data = toy_spec(lik, templates).where(lik)
        centre = lik.nominal()
        out.append((
            tuple(jnp.broadcast_to(d, (n,) + d.shape) for d in data),
            jnp.broadcast_to(centre, (n,) + centre.shape),
        ))  # fmt: skip
    return tuple(out)
