"""SNS pion-decay-at-rest neutrino flux: energy spectra, their moments, arrival times.

Three sources, in this order everywhere in the package (the "source" axis):
``0 = nu_e`` (delayed), ``1 = nu_mu`` (prompt line), ``2 = anti-nu_mu`` (delayed).
:data:`LEPTON_FLAVOUR` maps each source to the lepton flavour (0 = e, 1 = mu, 2 = tau) that
sets its weak charge and its U(1)' charge.

Energy integrals of the cross section only need two moments of each spectrum above the
kinematic threshold E_min(T) (see :func:`energy_moments`), so the prompt line is handled
exactly (no delta function on a grid) and the Michel spectra analytically.

Times are in microseconds. The arrival-time distribution is the Gaussian proton pulse
convolved with the pion lifetime (prompt) and additionally the muon lifetime (delayed);
both are closed forms written through ``log_ndtr`` so they are stable far in the tails.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._types import float_array

__all__ = [
    "SOURCES",
    "LEPTON_FLAVOUR",
    "SNSFlux",
    "energy_spectrum",
    "energy_moments",
    "time_cdf",
    "fluence_per_flavour",
]

SOURCES = ("nu_e", "nu_mu", "nubar_mu")
LEPTON_FLAVOUR = np.array([0, 1, 1])


class SNSFlux(eqx.Module):
    """Pion-decay-at-rest flux at a detector.

    Attributes:
        n_pot: protons on target.
        nu_per_pot: neutrinos of each flavour per proton (r).
        distance_m: source–detector distance L in m.
        pulse_mean_us: mean of the Gaussian proton pulse on the detector's time axis (us).
        pulse_width_us: standard deviation of the proton pulse (us).
    """

    n_pot: Array = eqx.field(converter=float_array)
    nu_per_pot: Array = eqx.field(converter=float_array)
    distance_m: Array = eqx.field(converter=float_array)
    pulse_mean_us: Array = eqx.field(converter=float_array)
    pulse_width_us: Array = eqx.field(converter=float_array, default=0.15)


def fluence_per_flavour(flux: SNSFlux) -> Array:
    """Time-integrated flux of each neutrino flavour, r N_POT / (4 pi L^2), in cm^-2."""
    L_cm = flux.distance_m * 100.0
    return flux.nu_per_pot * flux.n_pot / (4.0 * jnp.pi * L_cm**2)


def energy_spectrum(E: ArrayLike) -> Float[Array, "3 ..."]:
    """Normalised delayed spectra and (for plotting) zero for the prompt line, per MeV.

    Args:
        E: neutrino energies in MeV, any shape.

    Returns:
        Array (3, *E.shape): nu_e and anti-nu_mu Michel spectra (each integrates to 1 on
        [0, m_mu/2]); the prompt nu_mu entry is 0 (it is a line at :data:`E_NU_PROMPT`).
    """
    E = jnp.asarray(E)
    m = c.M_MUON
    inside = (E >= 0.0) & (E <= m / 2.0)
    nue = 192.0 / m**3 * E**2 * (0.5 - E / m)
    numubar = 64.0 / m**3 * E**2 * (0.75 - E / m)
    zero = jnp.zeros_like(E)
    return jnp.stack([jnp.where(inside, nue, 0.0), zero, jnp.where(inside, numubar, 0.0)])


def _michel_primitives(E: Array) -> Array:
    """Primitives of f(E) and f(E)/E^2 for the two Michel spectra: shape (2 spectra, 2, ...)."""
    m = c.M_MUON
    k_e, k_m = 192.0 / m**3, 64.0 / m**3
    p0_e = k_e * (E**3 / 6.0 - E**4 / (4.0 * m))
    p2_e = k_e * (E / 2.0 - E**2 / (2.0 * m))
    p0_m = k_m * (E**3 / 4.0 - E**4 / (4.0 * m))
    p2_m = k_m * (3.0 * E / 4.0 - E**2 / (2.0 * m))
    return jnp.stack([jnp.stack([p0_e, p2_e]), jnp.stack([p0_m, p2_m])])


def energy_moments(e_min: ArrayLike) -> Float[Array, "3 2 ..."]:
    """Moments of each normalised spectrum above a threshold.

    A_0(E_min) = ∫_{E_min} f(E) dE and A_2(E_min) = ∫_{E_min} f(E)/E^2 dE (MeV^-2).

    Args:
        e_min: minimal neutrino energy in MeV, any shape.

    Returns:
        Array (3 sources, 2 moments, *e_min.shape).
    """
    e_min = jnp.asarray(e_min)
    emax = c.E_NU_MAX_DELAYED
    lo = jnp.clip(e_min, 0.0, emax)
    delayed = _michel_primitives(jnp.full_like(lo, emax)) - _michel_primitives(lo)  # (2, 2, ...)
    above = (e_min < c.E_NU_PROMPT).astype(lo.dtype)
    prompt = jnp.stack([above, above / c.E_NU_PROMPT**2])
    return jnp.stack([delayed[0], prompt, delayed[1]])


def _emg_cdf(t: Array, mu: Array, sigma: Array, tau: float) -> Array:
    """CDF of a Gaussian(mu, sigma) plus an exponential of mean ``tau``."""
    z = (t - mu) / sigma
    log_tail = -(t - mu) / tau + 0.5 * (sigma / tau) ** 2 + log_ndtr(z - sigma / tau)
    return ndtr(z) - jnp.exp(log_tail)


def time_cdf(flux: SNSFlux, t_us: ArrayLike, offset_us: ArrayLike = 0.0) -> Float[Array, "3 ..."]:
    """Cumulative arrival-time distribution of each source at times ``t_us``.

    Prompt nu_mu: pulse ⊗ Exp(tau_pi). Delayed nu_e, anti-nu_mu: pulse ⊗ Exp(tau_pi) ⊗
    Exp(tau_mu), whose CDF is (tau_mu C_mu - tau_pi C_pi)/(tau_mu - tau_pi) in terms of the
    single-exponential CDFs.

    Args:
        flux: the flux (pulse mean and width).
        t_us: times in us, any shape.
        offset_us: timing offset added to the pulse mean (a nuisance parameter), us.

    Returns:
        Array (3, *t.shape) of probabilities in [0, 1].
    """
    t = jnp.asarray(t_us)
    mu = flux.pulse_mean_us + offset_us
    s = flux.pulse_width_us
    c_pi = _emg_cdf(t, mu, s, c.TAU_PION)
    c_mu = _emg_cdf(t, mu, s, c.TAU_MUON)
    delayed = (c.TAU_MUON * c_mu - c.TAU_PION * c_pi) / (c.TAU_MUON - c.TAU_PION)
    return jnp.stack([delayed, c_pi, delayed])
