"""Detector responses, built once as matrices from recoil energy to reconstructed bins.

Each builder maps a grid of nuclear recoil energies T (MeV) to the probability of being
reconstructed — and selected — in each analysis energy bin: a matrix (n_T, n_bins) whose
rows include quenching, smearing and the energy efficiency. Smearing is integrated
exactly over fine sub-bins (CDF differences); the efficiency is evaluated at the centre of
each sub-bin, then sub-bins are summed into analysis bins. The builders are meant to run once,
when an experiment is built, never inside a likelihood evaluation. They take the array
namespace ``xp``: ``numpy`` (with ``scipy.special``) for a fixed experiment built from a
release — no compilation, and the incomplete gamma function of the CsI smearing is ~15×
faster in SciPy than in XLA on a CPU — or ``jax.numpy`` (the default) where a detector
parameter is traced and differentiated (the Cryo-CsI design). Both give the same matrix
to ~1e-14.

Time: :func:`time_weights` gives the fine-grid time efficiency folded with the map from
fine time bins to analysis bins.
"""

import jax.numpy as jnp
import jax.scipy.special
import numpy as np
import scipy.special
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "fine_edges",
    "aggregation_matrix",
    "csi_quenching",
    "csi_efficiency",
    "csi_energy_response",
    "lar_energy_response",
    "csi_time_efficiency",
    "time_weights",
]


def _special(xp):
    """The special-function module that goes with the array namespace ``xp``."""
    return scipy.special if xp is np else jax.scipy.special


def fine_edges(edges: np.ndarray, width: float) -> np.ndarray:
    """Fine sub-bin edges of about ``width`` that contain every edge of ``edges``."""
    edges = np.asarray(edges, dtype=float)
    parts = [
        np.linspace(lo, hi, max(1, int(round((hi - lo) / width))) + 1)[:-1]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return np.concatenate(parts + [edges[-1:]])


def aggregation_matrix(fine: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0/1 matrix (n_fine_bins, n_bins) assigning each fine bin to its analysis bin."""
    centres = 0.5 * (fine[1:] + fine[:-1])
    idx = np.searchsorted(edges, centres, side="right") - 1
    return (idx[:, None] == np.arange(len(edges) - 1)[None, :]).astype(float)


def csi_quenching(T_mev: ArrayLike, coeffs: ArrayLike, xp=jnp) -> Array:
    """CsI[Na] electron-equivalent energy in keVee: 1e3 (a T + b T^2 + c T^3 + d T^4).

    T is the nuclear recoil energy in MeV (MeVnr)."""
    T = xp.asarray(T_mev)
    a, b, c3, d = (xp.asarray(coeffs)[i] for i in range(4))
    return 1e3 * (a * T + b * T**2 + c3 * T**3 + d * T**4)


def csi_efficiency(pe: ArrayLike, coeffs: ArrayLike, xp=jnp) -> Array:
    """CsI energy efficiency a/(1 + exp(-b(x - c))) + d on reconstructed PE, clipped at 0."""
    x = xp.asarray(pe)
    a, b, c0, d = (xp.asarray(coeffs)[i] for i in range(4))
    return xp.maximum(a / (1.0 + xp.exp(-b * (x - c0))) + d, 0.0)


def csi_energy_response(
    T_mev: ArrayLike,
    pe_edges: np.ndarray,
    qf_coeffs: ArrayLike,
    eff_coeffs: ArrayLike,
    light_yield: float = 13.35,
    gamma_b: float = 9.56,
    sub_width: float = 0.25,
    xp=jnp,
) -> Float[Array, "nT nbins"]:
    """CsI[Na] 2021 response: quenching polynomial, Gamma smearing in PE, efficiency.

    The PE count x for an electron-equivalent energy E (keVee) follows the Gamma law
    P(x) ∝ x^b' exp(-a'(1+b')x) with a' = 1/(light_yield E) (0.0749/E for 13.35 PE/keVee)
    and b' = gamma_b E, whose mean is light_yield·E.

    Args:
        T_mev: (n_T,) recoil energies in MeVnr.
        pe_edges: (n_bins + 1,) analysis PE edges.
        qf_coeffs: (4,) quenching polynomial coefficients (MeVee vs MeVnr).
        eff_coeffs: (4,) efficiency coefficients a, b, c, d.
        light_yield: PE per keVee.
        gamma_b: Gamma shape parameter per keVee.
        sub_width: fine sub-bin width in PE.
        xp: array namespace, ``jax.numpy`` (traceable) or ``numpy`` (see the module).

    Returns:
        Matrix (n_T, n_bins) of selection probabilities.
    """
    fine = fine_edges(pe_edges, sub_width)
    e_kev = xp.maximum(csi_quenching(T_mev, qf_coeffs, xp), 1e-12)[:, None]
    shape = 1.0 + gamma_b * e_kev
    rate = shape / (light_yield * e_kev)
    cdf = _special(xp).gammainc(shape, rate * xp.asarray(fine)[None, :])
    prob = xp.diff(cdf, axis=1)
    eff = csi_efficiency(0.5 * (fine[1:] + fine[:-1]), eff_coeffs, xp)
    return (prob * eff[None, :]) @ xp.asarray(aggregation_matrix(fine, pe_edges))


def lar_energy_response(
    T_mev: ArrayLike,
    e_edges: np.ndarray,
    qf_a: float,
    qf_b: float,
    eff_kevee: np.ndarray,
    eff: np.ndarray,
    resolution: float = 0.58,
    sub_width: float = 0.5,
    xp=jnp,
) -> Float[Array, "nT nbins"]:
    """CENNS-10 LAr response: linear quenching, Gaussian resolution, efficiency table.

    E_ee = (qf_a + qf_b T[keVnr]) T[keVnr]; σ = resolution·sqrt(E_ee) keVee. The efficiency
    is interpolated in reconstructed keVee from the released table and held at its last
    value above the table (40 keVee), where it is flat.

    Args:
        T_mev: (n_T,) recoil energies in MeVnr.
        e_edges: (n_bins + 1,) reconstructed-energy edges in keVee.
        qf_a, qf_b: quenching QF = a + b T[keVnr] (b in 1/keVnr).
        eff_kevee, eff: efficiency table (keVee, efficiency).
        resolution: σ/E = resolution/sqrt(E[keVee]).
        sub_width: fine sub-bin width in keVee.
        xp: array namespace, ``jax.numpy`` (traceable) or ``numpy`` (see the module).

    Returns:
        Matrix (n_T, n_bins).
    """
    fine = fine_edges(e_edges, sub_width)
    t_kev = 1e3 * xp.asarray(T_mev)
    e_ee = ((qf_a + qf_b * t_kev) * t_kev)[:, None]
    sigma = xp.maximum(resolution * xp.sqrt(e_ee), 1e-9)
    prob = xp.diff(_special(xp).ndtr((xp.asarray(fine)[None, :] - e_ee) / sigma), axis=1)
    centres = 0.5 * (fine[1:] + fine[:-1])
    eff_fine = xp.interp(centres, xp.asarray(eff_kevee), xp.asarray(eff))
    return (prob * eff_fine[None, :]) @ xp.asarray(aggregation_matrix(fine, e_edges))


def csi_time_efficiency(t_us: ArrayLike, t0: float = 0.52, slope: float = 0.0494, xp=jnp) -> Array:
    """CsI time efficiency: 1 before t0 (us), exp(-slope (t - t0)) after (slope in 1/us)."""
    t = xp.asarray(t_us)
    return xp.where(t < t0, 1.0, xp.exp(-slope * xp.maximum(t - t0, 0.0)))


def time_weights(t_edges: np.ndarray, width: float, efficiency=None) -> tuple[np.ndarray, Array]:
    """Fine time edges and the (n_fine, n_bins) matrix: efficiency × fine-to-analysis map.

    Args:
        t_edges: analysis time edges in us.
        width: fine bin width in us.
        efficiency: callable of time (us), or None for a flat efficiency of 1; with a
            NumPy callable the matrix is NumPy (no compilation).
    """
    fine = fine_edges(t_edges, width)
    agg = aggregation_matrix(fine, t_edges)
    if efficiency is None:
        return fine, agg
    centres = 0.5 * (fine[1:] + fine[:-1])
    return fine, efficiency(centres)[:, None] * agg
