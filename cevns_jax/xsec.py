"""CEvNS cross section: SM weak charge with radiative corrections, Z' and scalar terms.

The cross section factorises into a part that depends on the recoil energy T only (weak
charges, form factors, propagators) and the neutrino-energy dependence
(1 - M T / 2E^2) and 1/E^2 (docs/physics.md sections 1, 5, 6):

    dσ/dT = G_F^2 M/π · Q_l(T)^2 · (1 - M T/(2E^2))  +  S(T) / E^2,

    Q_l = Q_l^SM + g^2 X_l,   S = g^4 w^2 M^2 T/(4π) (σ/m)_ref^2 (Z F_Z + N F_N)^2/(q^2 + M_φ^2)^2

so that, folded with a spectrum f(E) above threshold, only the moments A_0 = ∫f and
A_2 = ∫f/E^2 are needed (:func:`cevns_jax.flux.energy_moments`). Everything is in MeV;
cross sections in MeV^-3 (multiply by (ħc)^2 for cm^2/MeV).
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._types import float_array
from .loops import loop_proton_coupling_shift
from .mediator import Mediator
from .nuclei import AbstractFormFactor, Nucleus, momentum2_fm2

__all__ = [
    "WeakCouplings",
    "radiative_couplings",
    "tree_level_couplings",
    "t_max",
    "e_min",
    "charge_terms",
    "dsigma_dT",
]


class WeakCouplings(eqx.Module):
    """Neutrino–nucleon vector couplings.

    Attributes:
        gv_p: (3,) proton coupling g_V^p(ν_l) for l = e, μ, τ (flavour dependent through the
            neutrino charge radius).
        gv_n: () neutron coupling g_V^n.
    """

    gv_p: Array = eqx.field(converter=float_array)
    gv_n: Array = eqx.field(converter=float_array)


def radiative_couplings() -> WeakCouplings:
    """MS-bar couplings with radiative corrections (Erler & Su 2013; docs/physics.md §1).

    g_V^p(ν_e) = 0.0401, g_V^p(ν_μ) = 0.0318, g_V^n = -0.5094. The flavour dependence is the
    neutrino charge-radius term ∝ ln(M_W^2/m_l^2); g_V^p(ν_τ) (not produced at the SNS) is
    extrapolated with that logarithm from the e–μ difference.
    """
    g_e, g_mu = 0.0401, 0.0318
    per_log = (g_e - g_mu) / jnp.log(c.M_MUON**2 / c.M_ELECTRON**2)
    g_tau = g_mu - per_log * jnp.log(c.M_TAU**2 / c.M_MUON**2)
    return WeakCouplings(jnp.array([g_e, g_mu, float(g_tau)]), -0.5094)


def tree_level_couplings(sin2_theta_w: float = c.SIN2_THETA_W_LOW) -> WeakCouplings:
    """Tree-level couplings g_V^p = 1/2 - 2 sin^2θ_W (all flavours), g_V^n = -1/2."""
    gp = 0.5 - 2.0 * sin2_theta_w
    return WeakCouplings(jnp.array([gp, gp, gp]), -0.5)


def t_max(E: ArrayLike, mass: ArrayLike) -> Array:
    """Maximal recoil energy 2E^2/(M + 2E) in MeV for neutrino energy E (MeV); NumPy in,
    NumPy out."""
    return 2.0 * E**2 / (mass + 2.0 * E)


def e_min(T: ArrayLike, mass: ArrayLike) -> Array:
    """Minimal neutrino energy (MeV) giving recoil T (MeV): (T + sqrt(T^2 + 2MT))/2."""
    T = jnp.asarray(T)
    return 0.5 * (T + jnp.sqrt(T * T + 2.0 * mass * T))


def charge_terms(
    T: ArrayLike,
    nucleus: Nucleus,
    form_factor: AbstractFormFactor,
    couplings: WeakCouplings,
    model: Mediator,
) -> tuple[Float[Array, "3 ..."], Float[Array, "3 ..."], Float[Array, "..."]]:
    """T-dependent pieces of the cross section for one nucleus, per lepton flavour.

    Args:
        T: recoil kinetic energies in MeV (any shape, broadcast against the nucleus leaves).
        nucleus: target nucleus.
        form_factor: nuclear form factor (same shape for protons and neutrons).
        couplings: SM vector couplings.
        model: the mediator (charges, mass in MeV, coupling g).

    Returns:
        ``(q_sm, x, s)``: SM weak charge Q^SM_l (3, ...); the coefficient X_l of g^2 in the
        weak charge (3, ...), tree-level quark term plus the loop-induced kinetic mixing;
        and S/g^4 (MeV^-3 · MeV^2, i.e. the coefficient of g^4/E^2 in dσ/dT), shape (...).
    """
    T = jnp.asarray(T)
    q2 = 2.0 * nucleus.mass * T + T * T  # MeV^2
    q2_fm = momentum2_fm2(T, nucleus.mass)
    zf = nucleus.Z * form_factor(q2_fm, nucleus.r_p)
    nf = nucleus.N * form_factor(q2_fm, nucleus.r_n)
    ch = model.charges
    q_sm = _per_flavour(couplings.gv_p, zf) + couplings.gv_n * nf
    prop = 1.0 / (q2 + model.mass_mev**2)  # MeV^-2
    tree = prop / (c.SQRT2 * c.G_FERMI) * 3.0 * ch.quark[0] * (zf + nf)
    x = _per_flavour(ch.nu, tree)
    loop = loop_proton_coupling_shift(
        q2, model.mass_mev, jnp.ones_like(model.coupling), ch
    )  # (..., 3)
    x = x + jnp.moveaxis(loop, -1, 0) * zf
    s = (
        nucleus.mass**2
        * T
        / (4.0 * jnp.pi)
        * ch.scalar**2
        * c.SIGMA_OVER_MUD_REF**2
        * (zf + nf) ** 2
        * prop**2
    )
    return q_sm, x, s


def _per_flavour(per_l: Array, field: Array) -> Array:
    """Outer product of a (3,) flavour vector with a field of any shape -> (3, ...)."""
    return per_l.reshape((3,) + (1,) * field.ndim) * field


def dsigma_dT(
    E: ArrayLike,
    T: ArrayLike,
    nucleus: Nucleus,
    form_factor: AbstractFormFactor,
    couplings: WeakCouplings,
    model: Mediator,
) -> Float[Array, "3 ..."]:
    """Differential cross section dσ/dT in cm^2/MeV for ν_e, ν_μ, ν_τ (first axis).

    Args:
        E: neutrino energy in MeV.
        T: nuclear recoil kinetic energy in MeV (broadcast with E).
        nucleus, form_factor, couplings, model: see :func:`charge_terms`.

    Returns:
        Array (3, ...): zero above the kinematic limit T_max(E).
    """
    E, T = jnp.broadcast_arrays(jnp.asarray(E, dtype=float), jnp.asarray(T, dtype=float))
    q_sm, x, s = charge_terms(T, nucleus, form_factor, couplings, model)
    g2 = model.coupling**2
    q = q_sm + g2 * x
    kin = jnp.clip(1.0 - nucleus.mass * T / (2.0 * E**2), 0.0)
    xs = c.G_FERMI**2 * nucleus.mass / jnp.pi * q**2 * kin + g2**2 * s / E**2
    allowed = T <= t_max(E, nucleus.mass)
    return jnp.where(allowed, xs, 0.0) * c.HBARC2_MEV2_CM2
