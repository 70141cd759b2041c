"""Pseudo-experiments (toys): the profile-likelihood-ratio distribution, batched.

A toy is the *same* likelihood with other data: its Poisson-distributed counts and its
global observables (the centres of the nuisance priors) are array leaves swapped into the
likelihood (:func:`toy_likelihood`, :class:`ToyLikelihood`), so a batch of toys is one
vmapped, compiled call and no toy retraces anything.

Toys are drawn at a physics point (charges, mass, g) from the model with the nuisances at
their conditional best fit to the observed data at that point (the profile construction):

* CsI: counts per (energy, time) bin ~ Poisson(μ(ν̂)). Optionally (``templates=True``)
  the anti-coincidence (AC) steady-state sample ~ Poisson(â_SS × the SS expectation) per
  bin too, from which the toy likelihood rebuilds its steady state (its PE spectrum, or
  the histogram itself with ``steady_state="template"``); the SS normalisation prior
  (2.1 %) *is* the statistics of that sample, so its global observable then stays at 1
  (fluctuating both would count them twice). Not the default of
  :func:`cevns_jax.coverage.toy_study`, whose toys test the likelihood as it reads the
  data (docs/coverage.md).
  With the per-bin steady state (``CsISettings.steady_state="per_bin"``) the likelihood
  itself models the AC counts as data, so they are always drawn: m_ij ~ Poisson(b̂_ij) and
  the coincidence counts ~ Poisson(N^beam_ij + b̂_ij), b̂ the per-bin best fit at the
  true point.
* LAr: counts per bin ~ Poisson(μ(ν̂)), and each toy's χ² is the likelihood as used on the
  data, its variance σ² = N_toy + N_SS/5 recomputed from the toy's counts. We draw Poisson
  counts rather than the Gaussian χ²'s own distribution because the data are counts: the
  toys then test the Gaussian approximation (and its data-dependent variance) too.
* every other nuisance with a finite prior: centre ~ Normal(ν̂, width).

Their fits, the test statistic t(g), are :mod:`cevns_jax.toy_fits`.
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
    "ToyLikelihood",
    "ToySpec",
    "draw_toys",
    "observed_as_toys",
    "signal_at",
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
        return _counts(lk, nu, signal) + (nu[i_ss] * lk.ss_template,)

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


def signal_at(coeffs: Array, g: Array) -> Array:
    """The signal at coupling g from its :func:`signal_coefficients` (1, g², g⁴)."""
    g2 = g * g
    return coeffs[0] + g2 * coeffs[1] + g2 * g2 * coeffs[2]


@eqx.filter_jit
def truth_nuisances(parts: tuple, coeffs: tuple, g: Array) -> tuple:
    """Per part: the nuisances ν̂ of the profile on the observed data at coupling g."""
    return tuple(p.profile(signal_at(c, g)).nuisances for p, c in zip(parts, coeffs, strict=True))


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
        means = spec.expected(lik, nu, signal_at(c, g))
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


def observed_as_toys(parts: Sequence[AbstractLikelihood], n: int, templates: bool = False):
    """The observed data as ``n`` identical "toys" (to evaluate them with
    :func:`cevns_jax.toy_fits.fit_toys`)."""
    out = []
    for lik in parts:
        data = toy_spec(lik, templates).where(lik)
        centre = lik.nominal()
        out.append((
            tuple(jnp.broadcast_to(d, (n,) + d.shape) for d in data),
            jnp.broadcast_to(centre, (n,) + centre.shape),
        ))  # fmt: skip
    return tuple(out)
