"""One-loop contribution of a light vector or scalar boson to (g−2)_μ (docs/physics.md §7).

    δa_μ = g_μ^2/(8π^2) ∫_0^1 dx Q(x) / (x^2 + (1−x) M^2/m_μ^2),
    Q(x) = 2x^2(1−x) (vector),  x^2(2−x) (scalar).

Limits: M → 0 gives g_μ^2/(8π^2) (vector) and 3 g_μ^2/(16π^2) (scalar); M ≫ m_μ gives
g_μ^2 m_μ^2/(12π^2 M^2) (vector) and g_μ^2 m_μ^2/(8π^2 M^2) (ln(M^2/m_μ^2) − 7/6) (scalar).

The integral uses a fixed composite Gauss–Legendre rule built with numpy at import: the
halves [0, 1/2] and [1/2, 1] are cut into panels that shrink geometrically (factor 4)
towards the end points, 16 nodes each, which resolves the x ~ M/m_μ feature at small M and
the 1−x ~ m_μ^2/M^2 feature at large M. Dividing by x^2 the integrand becomes
Q(x)/x^2 / (1 + ρ (1−x)/x^2), ρ = M^2/m_μ^2, so the sum is Σ_j a_j / (1 + ρ t_j) with node
constants a_j, t_j: relative accuracy ~1e-14 for 0 ≤ M/m_μ ≤ 1e6, finite gradients
everywhere (d/dM = 0 at M = 0 exactly, where δa_μ has a cusp in |M|).
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from . import constants as c
from .charges import U1Charges

__all__ = [
    "G2Band",
    "delta_a_mu",
    "delta_a_mu_scalar",
    "delta_a_mu_vector",
    "g2_band",
]

_N_NODES = 16  # Gauss-Legendre nodes per panel
_N_LEVELS = 24  # geometric panels per half: the smallest reaches 0.5 * 4**-24 ~ 1.8e-15


def _build_rule() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes x, 1 − x (exact near both ends) and weights of the composite rule on [0, 1]."""
    gl_x, gl_w = np.polynomial.legendre.leggauss(_N_NODES)
    edges = np.concatenate([0.5 * 4.0 ** -np.arange(_N_LEVELS + 1), [0.0]])  # 1/2 ... 0
    near, wts = [], []
    for hi, lo in zip(edges[:-1], edges[1:], strict=True):
        near.append(lo + (hi - lo) * (gl_x + 1.0) / 2.0)
        wts.append((hi - lo) / 2.0 * gl_w)
    u = np.concatenate(near)  # distance from the nearer end point, in (0, 1/2)
    w = np.concatenate(wts)
    x = np.concatenate([u, 1.0 - u])
    y = np.concatenate([1.0 - u, u])  # 1 − x, exact where it is small
    return x, y, np.concatenate([w, w])


_X, _Y, _W = _build_rule()
_T = _Y / _X**2  # (1 − x)/x^2
_A_VECTOR = _W * 2.0 * _Y  # w · Q_V(x)/x^2
_A_SCALAR = _W * (1.0 + _Y)  # w · Q_S(x)/x^2


def _loop_integral(mass: Array, a: np.ndarray) -> Array:
    """Σ_j a_j / (1 + ρ t_j) with ρ = (M/m_μ)^2, for any shape of ``mass``."""
    rho = (mass / c.M_MUON) ** 2
    shape = (1,) * rho.ndim + (-1,)
    t = jnp.asarray(_T, dtype=rho.dtype).reshape(shape)
    a = jnp.asarray(a, dtype=rho.dtype).reshape(shape)
    return jnp.sum(a / (1.0 + rho[..., None] * t), axis=-1)


def delta_a_mu_vector(mass: ArrayLike, g_mu: ArrayLike) -> Float[Array, "..."]:
    """δa_μ of a vector boson with muon vector coupling g_μ.

    Args:
        mass: boson mass M in MeV, ≥ 0 (any shape).
        g_mu: coupling to the muon (broadcast with ``mass``).

    Returns:
        δa_μ (dimensionless), broadcast shape of ``mass`` and ``g_mu``.

    Example:
        >>> round(float(delta_a_mu_vector(0.0, 1.0) * 8 * np.pi**2), 5)
        1.0
    """
    mass = jnp.asarray(mass, dtype=float)
    g_mu = jnp.asarray(g_mu, dtype=float)
    return g_mu * g_mu / (8.0 * jnp.pi**2) * _loop_integral(mass, _A_VECTOR)


def delta_a_mu_scalar(mass: ArrayLike, g_mu: ArrayLike) -> Float[Array, "..."]:
    """δa_μ of a CP-even scalar with muon Yukawa coupling g_μ.

    Args:
        mass: scalar mass M in MeV, ≥ 0 (any shape).
        g_mu: coupling to the muon (broadcast with ``mass``).

    Returns:
        δa_μ (dimensionless), broadcast shape of ``mass`` and ``g_mu``.
    """
    mass = jnp.asarray(mass, dtype=float)
    g_mu = jnp.asarray(g_mu, dtype=float)
    return g_mu * g_mu / (8.0 * jnp.pi**2) * _loop_integral(mass, _A_SCALAR)


def delta_a_mu(mass: ArrayLike, g: ArrayLike, charges: U1Charges) -> Float[Array, "..."]:
    """Total δa_μ of a model: vector with g·Q'_μ plus scalar with g·(scalar weight).

    Args:
        mass: mediator mass M in MeV (any shape).
        g: gauge coupling (broadcast with ``mass``).
        charges: one model (vmap for a stack; a stack also broadcasts with a scalar ``mass``).

    Returns:
        δa_μ (dimensionless), broadcast shape of the inputs.
    """
    g = jnp.asarray(g, dtype=float)
    vec = delta_a_mu_vector(mass, g * charges.lepton[..., 1])
    sca = delta_a_mu_scalar(mass, g * charges.scalar)
    return vec + sca


class G2Band(eqx.Module):
    """Couplings g(M) that explain the (g−2)_μ discrepancy.

    Attributes:
        central: (...) g with δa_μ = Δa_μ.
        lower: (..., k) g with δa_μ = max(Δa_μ − nσ·err, 0), one column per ``n_sigma``.
        upper: (..., k) g with δa_μ = Δa_μ + nσ·err.
        n_sigma: (k,) the band widths in units of the error.

    A model without muon coupling (δa_μ = 0 for every g) gets ``inf`` everywhere (no
    coupling explains Δa_μ); a clipped lower target gives g = 0.
    """

    central: Float[Array, "..."]
    lower: Float[Array, "... k"]
    upper: Float[Array, "... k"]
    n_sigma: Float[Array, " k"]


def g2_band(
    mass: ArrayLike,
    charges: U1Charges,
    n_sigma: tuple[float, ...] = (1.0, 2.0),
    delta_a: float = c.DELTA_A_MU,
    delta_a_err: float = c.DELTA_A_MU_ERR,
) -> G2Band:
    """The (g−2)_μ band in the (M, g) plane: g = sqrt(target / δa_μ(M, g = 1)).

    Args:
        mass: mediator mass M in MeV (any shape).
        charges: one model.
        n_sigma: band widths (static Python floats).
        delta_a: central Δa_μ (default 251e-11, 2021 world average).
        delta_a_err: 1σ error of Δa_μ (default 59e-11).

    Returns:
        :class:`G2Band`; ``inf`` where the model does not couple to the muon.
    """
    unit = delta_a_mu(mass, 1.0, charges)
    coupled = unit > 0.0
    inv_sqrt = jnp.where(coupled, 1.0 / jnp.sqrt(jnp.where(coupled, unit, 1.0)), jnp.inf)

    def coupling(target: float) -> Array:
        root = float(np.sqrt(max(target, 0.0)))  # constant: no gradient through the clip
        return jnp.where(coupled, root * inv_sqrt, jnp.inf)

    lower = [coupling(delta_a - k * delta_a_err) for k in n_sigma]
    upper = [coupling(delta_a + k * delta_a_err) for k in n_sigma]
    return G2Band(
        central=coupling(delta_a),
        lower=jnp.stack(lower, axis=-1),
        upper=jnp.stack(upper, axis=-1),
        n_sigma=jnp.asarray(n_sigma, dtype=float),
    )
