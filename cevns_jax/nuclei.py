"""Target nuclei and nuclear form factors.

A :class:`Nucleus` holds array leaves only (so radii can be fitted or profiled), and
isotopes of one target stack along a leading axis (CsI = Cs-133 + I-127). Form factors are
small Modules whose parameters are arrays too; the class selects the formula.

All form factors take the squared momentum transfer ``q2`` = |q|^2 in fm^-2 and an rms
radius in fm. Working in q^2 keeps them exact and NaN-free, value and gradient, at q = 0
(also for derivatives through q^2 = 2MT + T^2 at T = 0): below a small q^2 R^2 a Taylor
series in q^2 replaces the closed form through the "double where" pattern.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from ._types import float_array

__all__ = [
    "Nucleus",
    "AbstractFormFactor",
    "Helm",
    "KleinNystrand",
    "SymmetrizedFermi",
    "cs133",
    "i127",
    "ar40",
    "stack_nuclei",
    "momentum_fm",
    "momentum2_fm2",
]


class Nucleus(eqx.Module):
    """One nuclide (or a stack of them along a leading axis).

    Attributes:
        Z: proton number.
        N: neutron number.
        mass: nuclear mass in MeV.
        r_p: rms radius of the point-proton distribution in fm.
        r_n: rms radius of the point-neutron distribution in fm.
    """

    Z: Array = eqx.field(converter=float_array)
    N: Array = eqx.field(converter=float_array)
    mass: Array = eqx.field(converter=float_array)
    r_p: Array = eqx.field(converter=float_array)
    r_n: Array = eqx.field(converter=float_array)


def _nuclear_mass(atomic_mass_u: float, Z: int) -> float:
    """Nuclear mass in MeV from the atomic mass (u) minus Z electron masses."""
    return atomic_mass_u * c.ATOMIC_MASS_UNIT - Z * c.M_ELECTRON


def cs133(r_p: float = 4.821, r_n: float = 5.01) -> Nucleus:
    """Cs-133. Default radii: point-proton from the muonic-atom charge radius; neutron
    radius a model input (docs/physics.md section 2; other groups use 5.104 fm)."""
    return Nucleus(55, 78, _nuclear_mass(132.905452, 55), r_p, r_n)


def i127(r_p: float = 4.766, r_n: float = 4.94) -> Nucleus:
    """I-127 (default neutron radius 4.94 fm; other groups use 5.050 fm)."""
    return Nucleus(53, 74, _nuclear_mass(126.904473, 53), r_p, r_n)


def ar40(r_p: float = 3.448, r_n: float = 3.55) -> Nucleus:
    """Ar-40."""
    return Nucleus(18, 22, _nuclear_mass(39.9623831, 18), r_p, r_n)


def stack_nuclei(*nuclei: Nucleus) -> Nucleus:
    """Stack nuclei along a new leading (isotope) axis."""
    return Nucleus(
        *(jnp.stack([getattr(n, f) for n in nuclei]) for f in ("Z", "N", "mass", "r_p", "r_n"))
    )


def momentum2_fm2(T: ArrayLike, mass: ArrayLike) -> Array:
    """|q|^2 in fm^-2 for recoil kinetic energy ``T`` (MeV) of a nucleus of ``mass`` (MeV).

    Uses |q|^2 = 2 M T + T^2.
    """
    T = jnp.asarray(T)
    return (2.0 * mass * T + T * T) / c.HBARC_MEV_FM**2


def momentum_fm(T: ArrayLike, mass: ArrayLike) -> Array:
    """|q| in fm^-1 (see :func:`momentum2_fm2`)."""
    return jnp.sqrt(momentum2_fm2(T, mass))


def _series_switch(x2: Array, threshold: float, exact, series) -> Array:
    """``exact(x)`` for x^2 >= threshold, ``series(x^2)`` below, NaN-free in value and grad.

    ``exact`` receives x = sqrt(x^2) evaluated at a safe argument only.
    """
    small = x2 < threshold
    x_safe = jnp.sqrt(jnp.where(small, threshold, x2))
    return jnp.where(small, series(x2), exact(x_safe))


def _three_j1_over_x(x2: Array) -> Array:
    """3 j_1(x)/x as a function of x^2; series 1 - x^2/10 + x^4/280 for x^2 < 1e-4."""
    return _series_switch(
        x2,
        1e-4,
        lambda y: 3.0 * (jnp.sin(y) - y * jnp.cos(y)) / y**3,
        lambda y2: 1.0 - y2 / 10.0 + y2**2 / 280.0,
    )


class AbstractFormFactor(eqx.Module):
    """Base of nuclear form factors: ``ff(q2, r_rms)`` with q2 = |q|^2 in fm^-2, r_rms in fm."""

    def __call__(self, q2: ArrayLike, r_rms: ArrayLike) -> Float[Array, "..."]:
        raise NotImplementedError


class Helm(AbstractFormFactor):
    """Helm form factor F = 3 j1(q R0)/(q R0) exp(-q^2 s^2/2), R0^2 = 5/3 (R^2 - 3 s^2).

    Attributes:
        s: surface thickness in fm (default 0.9 fm).
    """

    s: Array = eqx.field(converter=float_array, default=0.9)

    def __call__(self, q2, r_rms):
        r0 = jnp.sqrt(5.0 / 3.0 * (jnp.asarray(r_rms) ** 2 - 3.0 * self.s**2))
        q2 = jnp.asarray(q2)
        return _three_j1_over_x(q2 * r0**2) * jnp.exp(-0.5 * q2 * self.s**2)


class KleinNystrand(AbstractFormFactor):
    """Klein–Nystrand form factor: hard sphere of radius R_A folded with a Yukawa of range a.

    F = 3 j1(q R_A)/(q R_A) / (1 + q^2 a^2), with R_A fixed by the rms radius,
    R^2 = 3/5 R_A^2 + 6 a^2.

    Attributes:
        a: Yukawa range in fm (default 0.7 fm).
    """

    a: Array = eqx.field(converter=float_array, default=0.7)

    def __call__(self, q2, r_rms):
        ra = jnp.sqrt(5.0 / 3.0 * (jnp.asarray(r_rms) ** 2 - 6.0 * self.a**2))
        q2 = jnp.asarray(q2)
        return _three_j1_over_x(q2 * ra**2) / (1.0 + q2 * self.a**2)


class SymmetrizedFermi(AbstractFormFactor):
    """Symmetrized Fermi form factor (analytic Fourier transform).

    Half-density radius c from the rms radius, R^2 = 3/5 c^2 + 7/5 pi^2 a^2.

    Attributes:
        a: diffuseness in fm (default 0.52 fm).
    """

    a: Array = eqx.field(converter=float_array, default=0.52)

    def __call__(self, q2, r_rms):
        pa = np.pi * self.a
        cc = jnp.sqrt(5.0 / 3.0 * (jnp.asarray(r_rms) ** 2 - 7.0 / 5.0 * pa**2))
        q2 = jnp.asarray(q2)

        def exact(x):  # x = q c
            y = x * pa / cc
            return (
                3.0
                / (x * (x**2 + y**2))
                * (y / jnp.sinh(y))
                * (y / jnp.tanh(y) * jnp.sin(x) - x * jnp.cos(x))
            )

        r2 = 0.6 * cc**2 + 1.4 * pa**2
        r4 = 3.0 / 7.0 * cc**4 + 18.0 / 7.0 * pa**2 * cc**2 + 31.0 / 7.0 * pa**4
        # series 1 - q^2 <r^2>/6 + q^4 <r^4>/120 in x^2 = q^2 c^2 below 1e-4
        return _series_switch(
            q2 * cc**2, 1e-4, exact, lambda x2: 1.0 - q2 * r2 / 6.0 + q2**2 * r4 / 120.0
        )
