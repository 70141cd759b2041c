"""Loop-induced Z'–photon kinetic mixing from charged-lepton loops (docs/physics.md §5).

A Z' that couples to the charged leptons mixes with the photon at one loop, so it couples to
the proton charge even without tree-level quark charges (leptophilic L_α − L_β models). The
loop function keeps the full momentum-transfer dependence; |q|^2 ≥ 0 is spacelike (CEvNS).

Conventions: for charged-lepton charges Q'_l (l = e, μ, τ) the mixing function is

    Π(q^2) = Σ_l Q'_l [ln(m_l^2/μ^2)/6 + F(q^2, m_l^2)],
    F(q^2, m^2) = ∫_0^1 x(1−x) ln(1 + x(1−x) q^2/m^2) dx,

and the proton vector coupling seen by a neutrino of flavour l shifts by

    Δg_V^p(ν_l) = √2 α g^2 Q'_{ν_l} (−Π(q^2)) / (π G_F (q^2 + M^2)).

The charged lepton has electric charge −1 and the proton +1, hence the minus sign: a lighter
charged lepton of positive Q' screens less at large |q| and gives a negative induced proton
charge. For L_α − L_β (Q'_α = +1, Q'_β = −1) Π = ε_{αβ}, so Δg_V^p(ν_α) ∝ ε_{βα} and
Δg_V^p(ν_β) ∝ ε_{αβ}, which is the paper's δ_{lα} ε_{βα} + δ_{lβ} ε_{αβ}.
"""

import math

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from .charges import U1Charges

__all__ = ["lepton_loop", "epsilon_ab", "lepton_loop_mixing", "loop_proton_coupling_shift"]

#: Charged-lepton masses e, μ, τ in MeV, in the flavour order of U1Charges.
LEPTON_MASSES = (c.M_ELECTRON, c.M_MUON, c.M_TAU)

# Below r = q^2/m^2 = _R_SWITCH the Taylor series is used (terms fall like (r/4)^k; 20 terms
# reach 1e-18 relative at the switch), above it the closed form (cancellation costs < 1e-14).
_R_SWITCH = 0.5
_N_SERIES = 20
# F(r) = Σ_k c_k r^k, c_k = (−1)^(k+1)/k · B(k+2, k+2) = (−1)^(k+1)/k · ((k+1)!)^2/(2k+3)!
_SERIES = tuple(
    float((-1) ** (k + 1) * math.factorial(k + 1) ** 2 / (k * math.factorial(2 * k + 3)))
    for k in range(1, _N_SERIES + 1)
)


def _horner(r: Array) -> Array:
    acc = jnp.zeros_like(r) + _SERIES[-1]
    for coeff in reversed(_SERIES[:-1]):
        acc = coeff + r * acc
    return r * acc


def _closed_form(r: Array) -> Array:
    """F(r) = [−5/3 + 4/r + β (1 − 2/r) ln((β+1)/(β−1))]/6, β = sqrt(1 + 4/r), r > 0."""
    inv = 1.0 / r
    beta = jnp.sqrt(1.0 + 4.0 * inv)
    # ln((β+1)/(β−1)) = ln((β+1)^2 r/4) = 2 ln(1 + (β−1)/2) + ln r, with β−1 = (4/r)/(β+1)
    log_ratio = 2.0 * jnp.log1p(2.0 * inv / (beta + 1.0)) + jnp.log(r)
    return (-5.0 / 3.0 + 4.0 * inv + beta * (1.0 - 2.0 * inv) * log_ratio) / 6.0


def lepton_loop(q2: ArrayLike, m2: ArrayLike) -> Float[Array, "..."]:
    """Vacuum-polarisation loop function F(q^2, m^2) = ∫_0^1 x(1−x) ln(1 + x(1−x) q^2/m^2) dx.

    F ≈ r/30 − r^2/280 for r = q^2/m^2 → 0 and F ≈ (ln r − 5/3)/6 for r → ∞. Value and
    derivatives are finite and accurate to ~1e-14 relative for all r ≥ 0, including r = 0.

    Args:
        q2: squared spacelike momentum transfer |q|^2 ≥ 0 in MeV^2 (any shape).
        m2: squared loop mass m^2 > 0 in MeV^2 (broadcast with ``q2``).

    Returns:
        Dimensionless F with the broadcast shape of ``q2`` and ``m2``.

    Example:
        >>> round(float(lepton_loop(1e-3, 1.0) / 1e-3 * 30), 3)
        1.0
    """
    r = jnp.asarray(q2, dtype=float) / jnp.asarray(m2, dtype=float)
    large = r > _R_SWITCH
    # double where: each branch only ever sees arguments where it is finite (gradients too)
    r_large = jnp.where(large, r, 1.0)
    r_small = jnp.where(large, 0.0, r)
    return jnp.where(large, _closed_form(r_large), _horner(r_small))


def epsilon_ab(q2: ArrayLike, m_a: ArrayLike, m_b: ArrayLike) -> Float[Array, "..."]:
    """ε_{ab}(|q|) = ∫_0^1 x(1−x) ln[(m_a^2 + x(1−x)|q|^2)/(m_b^2 + x(1−x)|q|^2)] dx.

    Evaluated as ln(m_a^2/m_b^2)/6 + F(q^2, m_a^2) − F(q^2, m_b^2); antisymmetric in a, b.

    Args:
        q2: |q|^2 ≥ 0 in MeV^2.
        m_a, m_b: lepton masses in MeV (not squared).

    Returns:
        Dimensionless ε with the broadcast shape of the inputs.

    Example:
        >>> import math
        >>> e0 = float(epsilon_ab(0.0, 1776.86, 105.6583755))
        >>> round(e0 / (math.log(1776.86**2 / 105.6583755**2) / 6), 6)
        1.0
    """
    m_a = jnp.asarray(m_a, dtype=float)
    m_b = jnp.asarray(m_b, dtype=float)
    return jnp.log(m_a / m_b) / 3.0 + lepton_loop(q2, m_a * m_a) - lepton_loop(q2, m_b * m_b)


def lepton_loop_mixing(
    q2: ArrayLike, lepton_charges: ArrayLike, mu_ref: float = c.M_MUON
) -> Float[Array, "..."]:
    """Charged-lepton loop mixing Π(q^2) = Σ_l Q'_l [ln(m_l^2/μ^2)/6 + F(q^2, m_l^2)].

    For Σ_l Q'_l = 0 (every L_α − L_β) the result does not depend on ``mu_ref``; then
    Π = ε_{αβ}(|q|) for Q'_α = +1, Q'_β = −1. Otherwise the loop term is renormalisation-scale
    dependent (μ = m_μ by default); it is then negligible next to the tree-level quark term.

    Args:
        q2: |q|^2 ≥ 0 in MeV^2 (any shape).
        lepton_charges: (..., 3) charges Q'_e, Q'_μ, Q'_τ; ``lepton_charges[..., l]`` must
            broadcast with ``q2``.
        mu_ref: reference (renormalisation) scale μ in MeV.

    Returns:
        Dimensionless Π with the broadcast shape of ``q2`` and ``lepton_charges[..., 0]``.
    """
    q2 = jnp.asarray(q2, dtype=float)
    charges = jnp.asarray(lepton_charges, dtype=float)
    mu_ref = jnp.asarray(mu_ref, dtype=float)
    total = None
    for flavour, mass in enumerate(LEPTON_MASSES):  # 3 fixed flavours, not a data loop
        term = jnp.log(mass / mu_ref) / 3.0 + lepton_loop(q2, mass * mass)
        term = charges[..., flavour] * term
        total = term if total is None else total + term
    return total


def loop_proton_coupling_shift(
    q2: ArrayLike, mass: ArrayLike, g: ArrayLike, charges: U1Charges, mu_ref: float = c.M_MUON
) -> Float[Array, "... 3"]:
    """Loop-induced shift of the proton vector coupling g_V^p(ν_l), per neutrino flavour.

    Δg_V^p(ν_l) = √2 α g^2 Q'_{ν_l} (−Π(q^2)) / (π G_F (q^2 + M^2)) with Π from
    :func:`lepton_loop_mixing`. For L_α − L_β this is
    √2 α g^2 (δ_{lα} ε_{βα} + δ_{lβ} ε_{αβ}) / (π G_F (q^2 + M^2)) (docs/physics.md §5).

    Args:
        q2: |q|^2 ≥ 0 in MeV^2 (any shape).
        mass: mediator mass M in MeV (broadcast with ``q2``).
        g: gauge coupling (broadcast with ``q2``).
        charges: one model (unbatched :class:`U1Charges`; vmap for a stack).
        mu_ref: reference scale of :func:`lepton_loop_mixing` in MeV.

    Returns:
        Dimensionless shifts, shape ``broadcast(q2, mass, g) + (3,)`` for ν_e, ν_μ, ν_τ.
    """
    q2 = jnp.asarray(q2, dtype=float)
    mass = jnp.asarray(mass, dtype=float)
    g = jnp.asarray(g, dtype=float)
    pi_mix = lepton_loop_mixing(q2, charges.lepton, mu_ref)
    pref = -c.SQRT2 * c.ALPHA_EM * g * g * pi_mix / (jnp.pi * c.G_FERMI * (q2 + mass * mass))
    return jnp.stack([pref * charges.nu[flavour] for flavour in range(3)], axis=-1)
