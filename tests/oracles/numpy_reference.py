"""Independent NumPy/SciPy reference for the expected CEvNS counts of CsI 2021 and LAr 2020.

Written from docs/physics.md, not from ``cevns_jax``'s compute modules: it shares only the
release-file loaders (:mod:`cevns_jax.datasets`). It is the second method behind
``tests/test_numpy_reference.py`` and the baseline of ``bench_rates.py``.

What is done differently from ``cevns_jax``:

* neutrino-energy integral: Gauss-Legendre quadrature of f(E)·dσ/dT(E, T) over
  [E_min(T), m_μ/2] for the delayed Michel spectra (exact: the integrand is a polynomial of
  degree ≤ 3 in E), the prompt line evaluated at its energy; ``cevns_jax`` uses closed-form
  moments of the spectra;
* Helm form factor through ``scipy.special.spherical_jn``;
* arrival times through ``scipy.stats.exponnorm`` (exponentially modified Gaussian);
* Z'-photon kinetic mixing: Gauss-Legendre quadrature of the Feynman-parameter integral;
* constants typed in here from docs/physics.md §10.

What is deliberately the same: the discretisation (midpoint recoil-energy grid from 0 to the
largest kinematic end point, PE / keVee sub-bins with the efficiency at their centres, 10 ns
time sub-bins with the time efficiency at their centres). Agreement bin by bin (~1e-13 for the
SM, ≤ 1e-9 with the electron loop, limited by its quadrature here) therefore tests the
implementation, not the grid; the grid's own accuracy is a separate question (see
:func:`discretisation_check`: refining the recoil grid 8x moves the totals by ~2e-6).

Usage::

    from benchmarks.numpy_reference import csi2021_setup, expected_counts, NewPhysics
    counts = expected_counts(csi2021_setup(data_dir))            # (3, n_e, n_t), SM
    counts = expected_counts(setup, NewPhysics.vector(1/3, -1, mass_mev=10, g=1e-4))
"""

import dataclasses
import math

import numpy as np
from scipy.special import gammainc, ndtr, spherical_jn
from scipy.stats import exponnorm

from cevns_jax.datasets import load_csi2021, load_lar2020

__all__ = [
    "NewPhysics",
    "SM",
    "Setup",
    "csi2021_setup",
    "lar2020_setup",
    "recoil_spectrum",
    "time_fractions",
    "expected_counts",
    "discretisation_check",
]

# --- constants (docs/physics.md §10), MeV / us / fm / cm --------------------------------------
GF = 1.1663788e-11  # MeV^-2
ALPHA = 1.0 / 137.035999
ME, MMU, MTAU = 0.51099895, 105.6583755, 1776.86  # MeV
MPI = 139.57039  # MeV
HBARC_FM = 197.3269804  # MeV fm
HBARC_CM = HBARC_FM * 1e-13  # MeV cm
AMU = 931.49410242  # MeV
NA = 6.02214076e23
TAU_PI, TAU_MU = 0.026033, 2.19698  # us
E_PROMPT = (MPI**2 - MMU**2) / (2 * MPI)
E_MAX = MMU / 2
SIGMA_OVER_MUD = 59.1 / 3.42  # (σ_πN / m̄_ud)_ref
# radiative-corrected couplings (Erler & Su): g_V^p for ν_e, ν_μ; g_V^n
GVP = {"e": 0.0401, "mu": 0.0318}
GVN = -0.5094
HELM_S = 0.9  # fm
SOURCES = ("nu_e", "nu_mu", "nubar_mu")
_SOURCE_FLAVOUR = (0, 1, 1)  # lepton flavour of each source (0 = e, 1 = mu)
_GL_E = np.polynomial.legendre.leggauss(8)
_GL_X = np.polynomial.legendre.leggauss(48)


@dataclasses.dataclass(frozen=True)
class NewPhysics:
    """A light mediator in plain numbers (the Standard Model when ``g = 0``).

    Attributes:
        quark: U(1)' charge of the first-generation quarks, Q'_u = Q'_d.
        nu: charges Q'_ν for ν_e, ν_μ, ν_τ.
        lepton: charges Q'_l of e, μ, τ (loop-induced kinetic mixing; reference scale m_μ
            in the loop when Σ Q'_l ≠ 0, as in cevns_jax).
        scalar: weight of the flavour-universal scalar coupling (1 for the scalar model).
        mass_mev: mediator mass in MeV.
        g: coupling.
    """

    quark: float = 0.0
    nu: tuple[float, float, float] = (0.0, 0.0, 0.0)
    lepton: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scalar: float = 0.0
    mass_mev: float = 1.0
    g: float = 0.0

    @classmethod
    def from_charges(cls, charges, mass_mev: float, g: float) -> "NewPhysics":
        """From any object with ``quark`` (3,), ``nu``, ``lepton`` and ``scalar`` fields."""
        return cls(
            float(np.asarray(charges.quark)[0]),
            tuple(float(x) for x in np.asarray(charges.nu)),
            tuple(float(x) for x in np.asarray(charges.lepton)),
            float(np.asarray(charges.scalar)),
            float(mass_mev),
            float(g),
        )


SM = NewPhysics()


@dataclasses.dataclass(frozen=True)
class Setup:
    """One detector, everything precomputed that does not depend on the mediator.

    Attributes are numpy arrays: isotope properties (n_iso,), recoil grid (n_T,),
    ``response`` (n_T, n_e), ``t_fine_edges`` (n_f + 1,), ``t_weight`` (n_f, n_t).
    """

    name: str
    Z: np.ndarray
    N: np.ndarray
    mass: np.ndarray  # MeV
    r_p: np.ndarray  # fm
    r_n: np.ndarray  # fm
    n_targets: np.ndarray
    fluence: float  # neutrinos per flavour per cm^2
    T: np.ndarray  # MeV
    dT: np.ndarray  # MeV
    response: np.ndarray
    t_fine_edges: np.ndarray  # us
    t_weight: np.ndarray
    pulse_mean: float  # us
    pulse_width: float  # us


# --- binning helpers ------------------------------------------------------------------------
def _sub_edges(edges, width):
    """Sub-bins of about ``width`` inside each analysis bin, and the bin of each sub-bin."""
    pieces, owner = [], []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        n = max(1, int(round((hi - lo) / width)))
        pieces.append(np.linspace(lo, hi, n + 1)[:-1])
        owner += [i] * n
    return np.concatenate(pieces + [np.asarray(edges[-1:], float)]), np.array(owner)


def _sum_into(values, owner, n_bins):
    """Sum the last axis of ``values`` (sub-bins) into ``n_bins`` analysis bins."""
    out = np.zeros(values.shape[:-1] + (n_bins,))
    for i in range(n_bins):
        out[..., i] = values[..., owner == i].sum(axis=-1)
    return out


def _recoil_grid(masses, n):
    t_top = max(2 * E_MAX**2 / (m + 2 * E_MAX) for m in masses)
    edges = np.linspace(0.0, t_top, n + 1)
    return 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)


def _time_weight(t_edges, efficiency):
    fine, owner = _sub_edges(np.asarray(t_edges, float), 0.01)
    centres = 0.5 * (fine[1:] + fine[:-1])
    w = np.zeros((len(centres), len(t_edges) - 1))
    w[np.arange(len(centres)), owner] = efficiency(centres)
    return fine, w


def _fluence(n_pot, r, distance_m):
    return r * n_pot / (4 * math.pi * (distance_m * 100.0) ** 2)


# --- detectors ------------------------------------------------------------------------------
def csi2021_setup(data_dir=None, *, n_recoil=480, pulse_mean_us=0.565) -> Setup:
    """CsI[Na] 2021 (docs/physics.md §3-4): Gamma smearing, sigmoid efficiency, time efficiency."""
    rel = load_csi2021(data_dir)
    pe_edges = np.array([0, 8, 12, 16, 20, 24, 32, 40, 50, 60], float)
    t_edges = np.array([0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1, 2, 4, 6])
    Z, N = np.array([55.0, 53.0]), np.array([78.0, 74.0])
    mass = np.array([132.905452, 126.904473]) * AMU - Z * ME
    T, dT = _recoil_grid(mass, n_recoil)
    # quenching: E_ee [MeVee] = a T + b T^2 + c T^3 + d T^4, T in MeVnr
    a, b, c, d = rel.qf_coeffs[0]
    e_kev = 1e3 * (a * T + b * T**2 + c * T**3 + d * T**4)
    # Gamma law in PE: shape 1 + 9.56 E, mean 13.35 E (E in keVee)
    shape = 1.0 + 9.56 * e_kev
    scale = 13.35 * e_kev / shape
    fine, owner = _sub_edges(pe_edges, 0.25)
    prob = np.diff(gammainc(shape[:, None], fine[None, :] / scale[:, None]), axis=1)
    ea, eb, ec, ed = rel.eff_coeffs[0]
    x = 0.5 * (fine[1:] + fine[:-1])
    eff = np.maximum(ea / (1.0 + np.exp(-eb * (x - ec))) + ed, 0.0)
    response = _sum_into(prob * eff, owner, len(pe_edges) - 1)
    t_fine, t_weight = _time_weight(
        t_edges, lambda t: np.where(t < 0.52, 1.0, np.exp(-0.0494 * (t - 0.52)))
    )
    n_mol = 14.6e3 / 259.81 * NA
    return Setup(
        "csi2021",
        Z,
        N,
        mass,
        np.array([4.821, 4.766]),
        np.array([5.01, 4.94]),
        np.array([n_mol, n_mol]),
        _fluence(3.198e23, 0.0848, 19.3),
        T,
        dT,
        response,
        t_fine,
        t_weight,
        pulse_mean_us,
        0.15,
    )


def lar2020_setup(data_dir=None, *, n_recoil=600) -> Setup:
    """CENNS-10 LAr 2020 analysis A: parameters from the release YAML, Gaussian resolution."""
    rel = load_lar2020(data_dir)
    p = rel.params
    Z, N = np.array([18.0]), np.array([22.0])
    mass = np.array([39.9623831]) * AMU - Z * ME
    T, dT = _recoil_grid(mass, n_recoil)
    t_kev = 1e3 * T
    e_ee = (p.qf_a + p.qf_b_per_kevnr * t_kev) * t_kev
    sigma = p.energy_resolution_a * np.sqrt(e_ee)
    fine, owner = _sub_edges(rel.e_edges, 0.5)
    prob = np.diff(ndtr((fine[None, :] - e_ee[:, None]) / sigma[:, None]), axis=1)
    eff = np.interp(0.5 * (fine[1:] + fine[:-1]), rel.eff_kevee, rel.eff)
    response = _sum_into(prob * eff, owner, len(rel.e_edges) - 1)
    t_fine, t_weight = _time_weight(rel.t_edges, np.ones_like)
    return Setup(
        "lar2020",
        Z,
        N,
        mass,
        np.array([3.448]),
        np.array([3.55]),
        np.array([p.mass_kg * 1e3 / 39.9623831 * NA]),
        _fluence(p.pot, p.nu_per_flavor_per_pot, p.distance_m),
        T,
        dT,
        response,
        t_fine,
        t_weight,
        p.pot_trace_mean_ns * 1e-3,
        p.pot_trace_width_ns * 1e-3,
    )


# --- physics --------------------------------------------------------------------------------
def helm(q_fm, r_rms):
    """Helm form factor; q in fm^-1 (> 0), rms radius in fm."""
    r0 = np.sqrt(5.0 / 3.0 * (r_rms**2 - 3 * HELM_S**2))
    x = q_fm * r0
    return 3 * spherical_jn(1, x) / x * np.exp(-0.5 * (q_fm * HELM_S) ** 2)


def _loop_pi(q2, lepton):
    """Π(q^2) = Σ_l Q'_l ∫ x(1-x) ln((m_l^2 + x(1-x) q^2)/m_μ^2) dx (Gauss-Legendre in x)."""
    nodes, weights = _GL_X
    x = 0.5 * (nodes + 1.0)
    w = 0.5 * weights * x * (1 - x)
    total = np.zeros_like(q2)
    for charge, m in zip(lepton, (ME, MMU, MTAU), strict=True):
        if charge:
            arg = (m**2 + np.multiply.outer(q2, x * (1 - x))) / MMU**2
            total = total + charge * np.log(arg) @ w
    return total


def _charges(setup: Setup, model: NewPhysics):
    """Weak charges Q_l (3 flavours, iso, T) and the scalar coefficient S (iso, T)."""
    M = setup.mass[:, None]
    T = setup.T[None, :]
    q2 = 2 * M * T + T * T  # MeV^2
    q = np.sqrt(q2) / HBARC_FM
    zf = setup.Z[:, None] * helm(q, setup.r_p[:, None])
    nf = setup.N[:, None] * helm(q, setup.r_n[:, None])
    gvp = (GVP["e"], GVP["mu"], GVP["mu"])  # ν_τ never reaches the detectors
    prop = 1.0 / (q2 + model.mass_mev**2)
    g2 = model.g**2
    pi_mix = _loop_pi(q2, model.lepton) if any(model.lepton) else 0.0
    Q = []
    for fl in range(3):
        tree = g2 * model.nu[fl] * 3 * model.quark * (zf + nf) * prop / (math.sqrt(2) * GF)
        dgvp = -math.sqrt(2) * ALPHA * g2 * model.nu[fl] * pi_mix * prop / (math.pi * GF)
        Q.append((gvp[fl] + dgvp) * zf + GVN * nf + tree)
    S = (
        M**2
        * T
        / (4 * math.pi)
        * g2**2
        * model.scalar**2
        * SIGMA_OVER_MUD**2
        * (zf + nf) ** 2
        * prop**2
    )
    return np.stack(Q), S


def _dsigma_dT(E, M, T, Q, S):
    """dσ/dT in MeV^-3; E broadcasts against (iso, T) arrays; zero above T_max(E)."""
    xs = GF**2 * M / math.pi * (1 - M * T / (2 * E**2)) * Q**2 + S / E**2
    return np.where(T <= 2 * E**2 / (M + 2 * E), xs, 0.0)


def recoil_spectrum(setup: Setup, model: NewPhysics = SM) -> np.ndarray:
    """Counts per recoil cell per source (3, n_T), summed over isotopes."""
    M = setup.mass[:, None]
    T = setup.T[None, :]
    Q, S = _charges(setup, model)
    e_min = 0.5 * (T + np.sqrt(T * T + 2 * M * T))
    # delayed: Gauss-Legendre on [E_min, m_mu/2]
    nodes, weights = _GL_E
    lo = np.minimum(e_min, E_MAX)
    half = 0.5 * (E_MAX - lo)
    E = lo[..., None] + half[..., None] * (nodes + 1.0)  # (iso, T, k)
    w = half[..., None] * weights
    f_e = 192 / MMU**3 * E**2 * (0.5 - E / MMU)
    f_mub = 64 / MMU**3 * E**2 * (0.75 - E / MMU)
    out = []
    for s, fl in enumerate(_SOURCE_FLAVOUR):
        if s == 1:  # prompt line
            folded = np.where(e_min < E_PROMPT, _dsigma_dT(E_PROMPT, M, T, Q[fl], S), 0.0)
        else:
            f = f_e if s == 0 else f_mub
            xs = _dsigma_dT(E, M[..., None], T[..., None], Q[fl][..., None], S[..., None])
            folded = np.sum(w * f * xs, axis=-1)
        per_iso = folded * setup.n_targets[:, None]
        out.append(per_iso.sum(axis=0))
    return np.stack(out) * setup.fluence * HBARC_CM**2 * setup.dT


def time_fractions(setup: Setup, offset_us: float = 0.0) -> np.ndarray:
    """(3, n_t) fraction of each source in each time bin, after the time efficiency."""
    mu, sig, t = setup.pulse_mean + offset_us, setup.pulse_width, setup.t_fine_edges
    c_pi = exponnorm.cdf(t, TAU_PI / sig, loc=mu, scale=sig)
    c_mu = exponnorm.cdf(t, TAU_MU / sig, loc=mu, scale=sig)
    delayed = (TAU_MU * c_mu - TAU_PI * c_pi) / (TAU_MU - TAU_PI)
    cdf = np.stack([delayed, c_pi, delayed])
    return np.diff(cdf, axis=1) @ setup.t_weight


def expected_counts(setup: Setup, model: NewPhysics = SM) -> np.ndarray:
    """Expected CEvNS counts (3 sources, n_e, n_t) at nominal detector parameters."""
    e_counts = recoil_spectrum(setup, model) @ setup.response  # (3, n_e)
    return e_counts[:, :, None] * time_fractions(setup)[:, None, :]


def discretisation_check(data_dir=None, factor: int = 8) -> dict[str, float]:
    """Relative change of the SM totals when the recoil grid is refined ``factor`` times."""
    out = {}
    for build, n in ((csi2021_setup, 480), (lar2020_setup, 600)):
        coarse = expected_counts(build(data_dir, n_recoil=n)).sum()
        fine = expected_counts(build(data_dir, n_recoil=n * factor)).sum()
        out[build.__name__.removesuffix("_setup")] = float(coarse / fine - 1.0)
    return out


if __name__ == "__main__":
    import sys

    data = sys.argv[1] if len(sys.argv) > 1 else None
    for setup in (csi2021_setup(data), lar2020_setup(data)):
        n = expected_counts(setup)
        per = ", ".join(f"{s} {v:.2f}" for s, v in zip(SOURCES, n.sum(axis=(1, 2)), strict=True))
        print(f"{setup.name}: SM total {n.sum():.3f} ({per})")
    print("recoil-grid refinement x8, relative change:", discretisation_check(data))
