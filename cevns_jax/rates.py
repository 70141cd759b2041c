"""Expected CEvNS counts in the analysis bins: flux ⊗ cross section ⊗ response.

Pipeline (all pure functions of pytrees, vectorised, no Python loops over bins):

1. :func:`recoil_components` — on the recoil grid, counts per T cell for each neutrino
   source split into the coefficients of g^0, g^2, g^4 (the mediator enters the weak charge
   linearly in g^2; the scalar term is g^4). Sum of the three with powers of g is
   :func:`recoil_spectrum`.
2. :func:`energy_counts` — response matrices (with shape systematics morphed between
   their ±1σ variants) map recoil cells to analysis energy bins.
3. :func:`time_fractions` — arrival-time CDFs (with a timing offset) on the fine time grid,
   times the time efficiency, summed into analysis time bins.
4. :func:`expected_counts` — (3 sources, n_e, n_t) counts;
   :func:`counts_polynomial` — the (N_0, N_1, N_2) with N = N_0 + g^2 N_1 + g^4 N_2.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from . import constants as c
from ._checks import require_finite
from .experiment import Experiment, ShapeParams
from .flux import LEPTON_FLAVOUR, energy_moments, fluence_per_flavour, time_cdf
from .mediator import Mediator
from .xsec import charge_terms, e_min

__all__ = [
    "recoil_components",
    "recoil_spectrum",
    "morph",
    "energy_counts",
    "time_fractions",
    "counts_from_spectrum",
    "expected_counts",
    "counts_polynomial",
]


def _recoil_pieces(exp: Experiment, model: Mediator):
    """Per source, isotope and recoil cell: Q_SM, X, S, the weak kinematic factor, A_2 and
    the normalisation (targets × fluence × (ħc)^2 × dT)."""
    T = exp.T[None, :]  # (1, n_T) against (n_iso, 1) nuclear leaves
    iso = jax.tree.map(lambda x: x[:, None], exp.target)
    q_sm, x, s = charge_terms(T, iso, exp.form_factor, exp.couplings, model)  # (3 l, iso, T)
    mom = energy_moments(e_min(T, iso.mass))  # (3 sources, 2, iso, T)
    a0, a2 = mom[:, 0], mom[:, 1]
    weak = c.G_FERMI**2 * iso.mass / jnp.pi * (a0 - 0.5 * iso.mass * T * a2)
    norm = (
        fluence_per_flavour(exp.flux)
        * (exp.n_targets[:, None] * c.HBARC2_MEV2_CM2 * exp.dT[None, :])[None]
    )
    return q_sm[LEPTON_FLAVOUR], x[LEPTON_FLAVOUR], s, weak, a2, norm


def recoil_components(exp: Experiment, model: Mediator) -> Float[Array, "3 3 nT"]:
    """Counts per recoil cell, per source, as coefficients of (1, g^2, g^4).

    The coupling stored in ``model`` is ignored (only charges and mass are used).

    Returns:
        Array (3 powers, 3 sources, n_T), summed over isotopes.
    """
    q_sm, x, s, weak, a2, norm = _recoil_pieces(exp, model)
    comps = jnp.stack([q_sm**2 * weak, 2.0 * q_sm * x * weak, x**2 * weak + s * a2])
    return jnp.sum(comps * norm, axis=-2)


def recoil_spectrum(exp: Experiment, model: Mediator) -> Float[Array, "3 nT"]:
    """Counts per recoil cell for each source at the model's coupling (direct evaluation)."""
    q_sm, x, s, weak, a2, norm = _recoil_pieces(exp, model)
    g2 = model.coupling**2
    rate = (q_sm + g2 * x) ** 2 * weak + g2**2 * s * a2
    return jnp.sum(rate * norm, axis=-2)


def morph(theta: Array, nominal: Array, up: Array, down: Array) -> Array:
    """Interpolate between ±1σ variants: quadratic inside |θ| ≤ 1, linear outside.

    Value and slope are continuous; θ = ±1 returns the variants exactly.

    Args:
        theta: (n,) nuisance values; nominal (...), up/down (n, ...).
    """
    th = theta.reshape(theta.shape + (1,) * nominal.ndim)
    half_diff = 0.5 * (up - down)
    half_sum = 0.5 * (up + down) - nominal
    inner = th * half_diff + th**2 * half_sum
    outer = th * (half_diff + 2.0 * jnp.sign(th) * half_sum) - half_sum
    return nominal + jnp.sum(jnp.where(jnp.abs(th) <= 1.0, inner, outer), axis=0)


def energy_counts(exp: Experiment, spectrum: Array, theta: Array) -> Array:
    """Apply the (morphed) energy response: (..., n_T) -> (..., n_e)."""
    per_variant = jnp.einsum("...t,vte->v...e", spectrum, exp.response)
    if not exp.shape_names:
        return per_variant[0]
    return morph(theta, per_variant[0], per_variant[1::2], per_variant[2::2])


def time_fractions(exp: Experiment, dt_us: Array) -> Float[Array, "3 nt"]:
    """Fraction of each source's neutrinos in each analysis time bin, after time efficiency."""
    cdf = time_cdf(exp.flux, exp.t_fine_edges, dt_us)
    return jnp.diff(cdf, axis=-1) @ exp.t_weight


def counts_from_spectrum(
    exp: Experiment, spectrum: Array, shape: ShapeParams | None = None
) -> Float[Array, "... 3 ne nt"]:
    """Binned counts from per-source recoil spectra (..., 3, n_T) at given shape nuisances.

    Splitting here lets a fit compute the (expensive) recoil spectrum once per physics point
    and vary only the cheap shape nuisances.
    """
    shape = ShapeParams.nominal(exp) if shape is None else shape
    e_counts = energy_counts(exp, spectrum, shape.theta)  # (..., 3, n_e)
    return e_counts[..., None] * time_fractions(exp, shape.dt_us)[:, None, :]


def expected_counts(
    exp: Experiment, model: Mediator, shape: ShapeParams | None = None
) -> Float[Array, "3 ne nt"]:
    """Expected CEvNS counts per source (nu_e, nu_mu, anti-nu_mu) in the analysis bins.

    Raises:
        ConfigError: the counts are not finite (an overflowing or NaN model input); under
            ``jit`` equinox's runtime error with the same message.
    """
    counts = counts_from_spectrum(exp, recoil_spectrum(exp, model), shape)
    return require_finite(counts, "expected_counts: the expected counts", _FINITE_FIX)


def counts_polynomial(
    exp: Experiment, model: Mediator, shape: ShapeParams | None = None
) -> Float[Array, "3 3 ne nt"]:
    """Coefficients (N_0, N_1, N_2) of expected counts in powers of g^2, per source.

    expected_counts = N_0 + g^2 N_1 + g^4 N_2 exactly, at the model's mass and charges.

    Raises:
        ConfigError: non-finite coefficients (see :func:`expected_counts`).
    """
    poly = counts_from_spectrum(exp, recoil_components(exp, model), shape)
    return require_finite(poly, "counts_polynomial: the count coefficients", _FINITE_FIX)


_FINITE_FIX = (
    "check the model inputs: mass_mev finite and > 0, coupling finite and perturbative "
    "(g x max|Q'| <= sqrt(4 pi)), finite charges; build models with "
    "cevns_jax.mediator(name, mass_gev=..., coupling=...), which checks them"
)
