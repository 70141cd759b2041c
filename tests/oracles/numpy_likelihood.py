"""Independent NumPy/SciPy + iminuit implementation of the CsI 2021 and LAr 2020 χ².

The χ² of docs/physics.md §8 with the nuisances, priors, templates, shape morphing and timing
shifts of ``cevns_jax.likelihood_csi`` / ``cevns_jax.likelihood_lar``, written again in
plain NumPy on top of :mod:`numpy_reference` (the independent CEvNS prediction), and
profiled with iminuit's Migrad instead of cevns_jax's damped Newton / exact linear solve.
The CEvNS and BRN/NIN timing shifts are evaluated directly (no tables). It is the second
method behind ``tests/test_numpy_likelihood.py`` and a baseline of
``benchmarks/bench_engine.py``.

Shared with ``cevns_jax``: only *inputs* — the release loaders behind
:func:`numpy_reference.csi2021_setup` / ``lar2020_setup``, and the observed counts and
background arrays of the built experiments (``build_csi2021`` / ``build_lar2020``: AC
histogram, BRN/NIN PE fractions and 10-ns cumulative time distributions, the LAr released
templates and systematic variants). Everything computed from them is here: the ±1σ
response variants of CsI (quenching rows 1-4, efficiency rows 1-2 of the release), the
quadratic/linear morphing, the steady state (the AC PE spectrum spread over time by an
analytic integral of the time efficiency, or the AC histogram itself), the CEvNS timing
shift (``scipy.stats.exponnorm`` via the reference), the C¹ monotone-Hermite shift of the
BRN/NIN time CDFs, the LAr relative systematic shifts and variance, both χ² and the
Gaussian priors.

Parameter vectors (the flat nuisance vectors of the cevns_jax likelihoods, same order,
normalisations as factors a = 1 + η with nominal 1):

* CsI (9): a_CEvNS, a_BRN, a_NIN, a_SS, θ_qf0, θ_qf1, θ_eff, δt_CEvNS [μs], δt_n [μs];
* LAr (12): a_CEvNS, a_BRN,prompt, a_BRN,delayed, a_SS, ε_1..ε_8 (``LAR_SYSTEMATICS`` order).

Profiling: Migrad (strategy 1) started at the nominal nuisances (:data:`CSI_NOMINAL`,
:data:`LAR_NOMINAL`) with initial steps equal to the prior widths. CsI uses Minuit's
numerical gradient; the LAr χ² is quadratic in its nuisances, so its analytic gradient (a
matrix product) is passed to Minuit.

Usage::

    from oracles import numpy_likelihood as nl, numpy_reference as ref  # tests/ on sys.path
    csi, lar = nl.csi_data(data_dir), nl.lar_data(data_dir)
    nl.chi2_csi(nl.CSI_NOMINAL, nl.csi_point(csi, ref.SM), csi)  # χ² at nominal nuisances
    nl.profiled_chi2(ref.SM, {"csi": csi, "lar": lar}, "csi+lar").fval
"""

import dataclasses

import numpy as np
from iminuit import Minuit
from scipy.special import gammainc

from cevns_jax.csi2021 import build_csi2021  # (inputs only)
from cevns_jax.datasets import load_csi2021
from cevns_jax.lar2020 import LAR_SYSTEMATICS, build_lar2020  # (inputs only)
from cevns_jax.stats import POSITIVE_SCALE  # (a constant only)

from . import numpy_reference as ref

__all__ = [
    "CSI_NAMES",
    "CSI_NOMINAL",
    "CSI_WIDTHS",
    "LAR_NAMES",
    "LAR_NOMINAL",
    "LAR_WIDTHS",
    "CsIData",
    "LArData",
    "Profile",
    "chi2_csi",
    "chi2_lar",
    "csi_data",
    "csi_point",
    "csi_uniform_time_weights",
    "grad_lar",
    "lar_data",
    "lar_point",
    "morph",
    "profile_csi",
    "profile_lar",
    "profiled_chi2",
]

#: CsI nuisance names, nominal values (= prior centres) and prior widths (docs/physics.md §8;
#: timing widths as CsISettings).
CSI_NAMES = ("norm_cevns", "norm_brn", "norm_nin", "norm_ss", "theta_qf0", "theta_qf1",
             "theta_eff", "dt_cevns_us", "dt_neutron_us")  # fmt: skip
CSI_NOMINAL = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
CSI_WIDTHS = np.array([0.12, 0.25, 0.35, 0.021, 1.0, 1.0, 1.0, 0.05, 0.1])
#: LAr nuisance names, nominal values and prior widths (docs/physics.md §8).
LAR_COMPONENTS = ("cevns", "brn_prompt", "brn_delayed", "ss")
LAR_NAMES = tuple(f"norm_{c}" for c in LAR_COMPONENTS) + tuple(f"eps_{s}" for s in LAR_SYSTEMATICS)
LAR_NOMINAL = np.array([1.0] * 4 + [0.0] * len(LAR_SYSTEMATICS))
LAR_WIDTHS = np.array([0.13, 0.32, 1.0, 0.0079] + [1.0] * len(LAR_SYSTEMATICS))
#: SS sample size relative to the beam-on live time (adds N_SS / 5 to the LAr variance).
LAR_SS_RATIO = 5.0
#: CsI: the Poisson mean of a bin is the smooth positive part (x + sqrt(x² + s²))/2 of the
#: predicted counts x (keeps χ² finite and smooth where far-out shape pulls make a prediction
#: negative), with cevns_jax's scale s (a convention, imported). LAr: variance floored at 1.
SIGMA2_FLOOR = 1.0
#: (+1σ, −1σ) rows of the CsI release's quenching (scintRespCoefficients) and efficiency
#: coefficient tables, in the order qf0, qf1, eff; row 0 is the central value.
_CSI_VARIANTS = (("qf", 1, 2), ("qf", 3, 4), ("eff", 1, 2))


# --- inputs ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CsIData:
    """Everything about CsI that does not depend on the physics point (numpy arrays).

    Attributes:
        setup: the reference detector (recoil grid, nominal response, time grid, pulse).
        response: (7, n_T, n_e) nominal, then (+1σ, −1σ) of qf0, qf1, eff.
        observed, ss: (n_e, n_t) observed counts and steady-state prediction at a_SS = 1.
        pe_fraction: (2, n_e) BRN, NIN fraction of their counts in each PE bin.
        bkg_t_edges: (n_k,) uniform knots of the released 10-ns BRN/NIN time histograms (μs).
        bkg_t_cdf: (2, n_k) cumulative BRN, NIN counts at the knots.
        widths: (9,) prior widths; nominal: (9,) prior centres.
    """

    setup: ref.Setup
    response: np.ndarray
    observed: np.ndarray
    ss: np.ndarray
    pe_fraction: np.ndarray
    bkg_t_edges: np.ndarray
    bkg_t_cdf: np.ndarray
    widths: np.ndarray
    nominal: np.ndarray = dataclasses.field(default_factory=CSI_NOMINAL.copy)


@dataclasses.dataclass(frozen=True)
class LArData:
    """Everything about LAr that does not depend on the physics point.

    Attributes:
        setup: the reference detector.
        observed: (n_e, n_t) observed counts (F90 summed).
        backgrounds: (3, n_e, n_t) prompt BRN, delayed BRN, SS templates.
        rel_shift: (n_sys, n_e, n_t) (N^sys − N^CV)/N^CV of each released systematic
            (0 where N^CV = 0), N^CV the central value of the component it acts on.
        sys_component: (n_sys,) index into :data:`LAR_COMPONENTS` of each systematic.
        variance: (n_e, n_t) σ² = N^exp + N^SS/5 (floored at 1).
        widths: (12,) prior widths; nominal: (12,) prior centres.
    """

    setup: ref.Setup
    observed: np.ndarray
    backgrounds: np.ndarray
    rel_shift: np.ndarray
    sys_component: np.ndarray
    variance: np.ndarray
    widths: np.ndarray
    nominal: np.ndarray = dataclasses.field(default_factory=LAR_NOMINAL.copy)


def _csi_response(setup: ref.Setup, pe_edges, qf, eff) -> np.ndarray:
    """(n_T, n_e) CsI response for one quenching and one efficiency row (as the reference)."""
    T = setup.T
    a, b, c, d = qf
    e_kev = 1e3 * (a * T + b * T**2 + c * T**3 + d * T**4)
    shape = 1.0 + 9.56 * e_kev
    scale = 13.35 * e_kev / shape
    fine, owner = ref._sub_edges(pe_edges, 0.25)
    prob = np.diff(gammainc(shape[:, None], fine[None, :] / scale[:, None]), axis=1)
    ea, eb, ec, ed = eff
    x = 0.5 * (fine[1:] + fine[:-1])
    eff_x = np.maximum(ea / (1.0 + np.exp(-eb * (x - ec))) + ed, 0.0)
    return ref._sum_into(prob * eff_x, owner, len(pe_edges) - 1)


def csi_uniform_time_weights(t_edges, t0: float = 0.52, slope: float = 0.0494) -> np.ndarray:
    """(n_t,) fraction of a uniform-in-time sample in each time bin after the CsI time
    efficiency (1 to ``t0`` μs, then exp(−slope (t − t0))), by its analytic integral."""
    t = np.asarray(t_edges, dtype=float)
    integral = np.where(t <= t0, t, t0 + (1.0 - np.exp(-slope * (t - t0))) / slope)
    return np.diff(integral) / (integral[-1] - integral[0])


def csi_data(data_dir=None, exp=None, steady_state: str = "uniform_time") -> CsIData:
    """CsI inputs; ``exp`` (a built ``csi2021`` Experiment) is built here if not given.

    ``steady_state``: ``"uniform_time"`` (the AC PE spectrum × :func:`csi_uniform_time_weights`)
    or ``"template"`` (the AC histogram), as ``CsISettings.steady_state``.
    """
    exp = build_csi2021(data_dir) if exp is None else exp
    setup = ref.csi2021_setup(data_dir)
    rel = load_csi2021(data_dir)
    pe_edges = np.asarray(exp.e_edges)
    qf, eff = rel.qf_coeffs, rel.eff_coeffs
    variants = [(qf[0], eff[0])]
    for table, up, down in _CSI_VARIANTS:
        for r in (up, down):
            variants.append((qf[r], eff[0]) if table == "qf" else (qf[0], eff[r]))
    response = np.stack([_csi_response(setup, pe_edges, q, e) for q, e in variants])
    bkg = exp.backgrounds
    ac = np.asarray(bkg.ss)
    if steady_state == "uniform_time":
        ss = ac.sum(axis=1, keepdims=True) * csi_uniform_time_weights(exp.t_edges)
    elif steady_state == "template":
        ss = ac
    else:
        raise ValueError(
            f"steady_state must be 'uniform_time' or 'template', got {steady_state!r}"
        )
    return CsIData(
        setup=setup,
        response=response,
        observed=np.asarray(exp.observed),
        ss=ss,
        pe_fraction=np.asarray(bkg.pe_fraction),
        bkg_t_edges=np.asarray(bkg.t_edges),
        bkg_t_cdf=np.asarray(bkg.t_cdf),
        widths=CSI_WIDTHS.copy(),
    )


def lar_data(data_dir=None, exp=None) -> LArData:
    """LAr inputs; ``exp`` (a built ``lar2020`` Experiment) is built here if not given."""
    exp = build_lar2020(data_dir) if exp is None else exp
    setup = ref.lar2020_setup(data_dir)
    bkg = exp.backgrounds
    backgrounds = np.asarray(bkg.nominal_3d).sum(axis=2)  # F90 summed: (3, n_e, n_t)
    cevns_cv = np.asarray(bkg.cevns_released_3d).sum(axis=1)
    systematics = np.asarray(bkg.systematics_3d).sum(axis=2)
    cv = np.concatenate([cevns_cv[None], backgrounds])  # (4, n_e, n_t)
    comp = np.array([LAR_COMPONENTS.index(c) for c, _ in LAR_SYSTEMATICS.values()])
    rel_shift = np.zeros_like(systematics)
    for i, z in enumerate(comp):
        pos = cv[z] > 0
        rel_shift[i][pos] = systematics[i][pos] / cv[z][pos] - 1.0
    observed = np.asarray(exp.observed)
    variance = np.maximum(observed + backgrounds[2] / LAR_SS_RATIO, SIGMA2_FLOOR)
    return LArData(setup, observed, backgrounds, rel_shift, comp, variance, LAR_WIDTHS.copy())


# --- pieces ---------------------------------------------------------------------------------
def morph(theta, nominal, up, down):
    """Quadratic interpolation through (−1, 0, +1) ↦ (down, nominal, up) for |θ| ≤ 1,
    continued linearly (value and slope at ±1) outside; summed over systematics.

    theta (k,); nominal (...); up, down (k, ...).
    """
    out = np.array(nominal, dtype=float, copy=True)
    for th, u, d in zip(theta, up, down, strict=True):
        a, b = 0.5 * (u - d), 0.5 * (u + d) - nominal  # Δ = a θ + b θ²
        if abs(th) <= 1.0:
            out += a * th + b * th * th
        else:
            s = 1.0 if th > 0 else -1.0
            out += (a * s + b) + (a + 2.0 * b * s) * (th - s)
    return out


def hermite_cdf(x, knots, cdf):
    """Monotone C¹ cubic Hermite interpolant (Fritsch–Butland slopes: harmonic mean of the
    neighbouring densities, 0 at extrema and at the ends) of a CDF on uniform knots;
    constant outside."""
    h = knots[1] - knots[0]
    dens = np.diff(cdf) / h
    lo, hi = dens[:-1], dens[1:]
    slope = np.zeros(len(knots))
    both = lo * hi > 0
    slope[1:-1][both] = 2.0 * lo[both] * hi[both] / (lo[both] + hi[both])
    k = np.clip(np.floor((x - knots[0]) / h).astype(int), 0, len(dens) - 1)
    s = (x - knots[k]) / h
    inside = ((2 * s**3 - 3 * s**2 + 1) * cdf[k] + (3 * s**2 - 2 * s**3) * cdf[k + 1]
              + h * ((s**3 - 2 * s**2 + s) * slope[k] + (s**3 - s**2) * slope[k + 1]))  # fmt: skip
    return np.where(x <= knots[0], cdf[0], np.where(x >= knots[-1], cdf[-1], inside))


def neutron_templates(data: CsIData, dt_us: float) -> np.ndarray:
    """(2, n_e, n_t) BRN, NIN with arrival times shifted by ``dt_us``, time efficiency applied."""
    t = data.setup.t_fine_edges - dt_us
    cdf = np.stack([hermite_cdf(t, data.bkg_t_edges, row) for row in data.bkg_t_cdf])
    t_counts = np.diff(cdf, axis=1) @ data.setup.t_weight
    return data.pe_fraction[:, :, None] * t_counts[:, None, :]


# --- CsI --------------------------------------------------------------------------------------
def csi_point(data: CsIData, model: ref.NewPhysics = ref.SM) -> np.ndarray:
    """(7 variants, 3 sources, n_e) CEvNS energy counts of a physics point (before timing)."""
    spectrum = ref.recoil_spectrum(data.setup, model)  # (3, n_T)
    return np.einsum("st,vte->vse", spectrum, data.response)


def csi_cevns(x, point, data: CsIData) -> np.ndarray:
    """(n_e, n_t) CEvNS counts at nuisances ``x`` before the normalisation a_CEvNS."""
    e = morph(x[4:7], point[0], point[1::2], point[2::2])  # (3, n_e)
    tf = ref.time_fractions(data.setup, x[7])  # (3, n_t)
    return np.einsum("se,st->et", e, tf)


def chi2_csi(x, point, data: CsIData) -> float:
    """χ²_CsI = 2 Σ [μ − n + n ln(n/μ)] + Σ ((x − x₀)/σ)² at nuisances ``x`` (9,)."""
    x = np.asarray(x, dtype=float)
    brn, nin = neutron_templates(data, x[8])
    mu = x[0] * csi_cevns(x, point, data) + x[1] * brn + x[2] * nin + x[3] * data.ss
    mu = 0.5 * (mu + np.sqrt(mu * mu + POSITIVE_SCALE**2))
    n = data.observed
    pos = n > 0
    dev = 2.0 * (np.sum(mu - n) + np.sum(n[pos] * np.log(n[pos] / mu[pos])))
    return float(dev + np.sum(((x - data.nominal) / data.widths) ** 2))


# --- LAr --------------------------------------------------------------------------------------
def lar_point(data: LArData, model: ref.NewPhysics = ref.SM) -> np.ndarray:
    """(4 + n_sys, n_e, n_t) design of the linear LAr model at a physics point:
    the nominal components N_z, then r_l N_z(l) for each systematic."""
    nominal = np.concatenate([ref.expected_counts(data.setup, model).sum(axis=0)[None],
                              data.backgrounds])  # fmt: skip
    return np.concatenate([nominal, data.rel_shift * nominal[data.sys_component]])


def _lar_residual(x, design, data: LArData):
    return data.observed - np.tensordot(x, design, axes=1)


def chi2_lar(x, design, data: LArData) -> float:
    """χ²_Ar = Σ (N^exp − Σ_z (a_z + Σ_l ε_l r_l) N^z)² / σ² + Σ ((x − x₀)/σ_x)²."""
    x = np.asarray(x, dtype=float)
    r = _lar_residual(x, design, data)
    return float(np.sum(r * r / data.variance) + np.sum(((x - data.nominal) / data.widths) ** 2))


def grad_lar(x, design, data: LArData) -> np.ndarray:
    """Analytic gradient of :func:`chi2_lar` (the χ² is quadratic in ``x``)."""
    x = np.asarray(x, dtype=float)
    r = _lar_residual(x, design, data) / data.variance
    return -2.0 * np.tensordot(design, r, axes=2) + 2.0 * (x - data.nominal) / data.widths**2


# --- profiling ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Profile:
    """Migrad result: minimal χ², nuisances, validity and number of χ² evaluations."""

    fval: float
    x: np.ndarray
    valid: bool
    nfcn: int
    ngrad: int = 0


def _migrad(fcn, names, nominal, widths, grad=None, tol=1e-3, strategy=1) -> Profile:
    m = Minuit(fcn, np.array(nominal, dtype=float), grad=grad, name=names)
    m.errordef = Minuit.LEAST_SQUARES
    m.errors = widths
    m.tol = tol  # EDM < 2e-3 · tol: χ² within ~1e-6 of the minimum
    m.strategy = strategy
    m.print_level = 0
    m.migrad()
    return Profile(float(m.fval), np.asarray(m.values), bool(m.valid), int(m.nfcn), int(m.ngrad))


def profile_csi(data: CsIData, model: ref.NewPhysics = ref.SM, **kw) -> Profile:
    """χ²_CsI minimised over its 9 nuisances with Migrad (numerical gradient)."""
    point = csi_point(data, model)
    return _migrad(lambda x: chi2_csi(x, point, data), CSI_NAMES, data.nominal, data.widths,
                   **kw)  # fmt: skip


def profile_lar(data: LArData, model: ref.NewPhysics = ref.SM, **kw) -> Profile:
    """χ²_Ar minimised over its 12 nuisances with Migrad (analytic gradient)."""
    design = lar_point(data, model)
    return _migrad(lambda x: chi2_lar(x, design, data), LAR_NAMES, data.nominal, data.widths,
                   grad=lambda x: grad_lar(x, design, data), **kw)  # fmt: skip


def profiled_chi2(model: ref.NewPhysics, data: dict, which: str = "csi", **kw) -> Profile:
    """Profiled χ² of ``"csi"``, ``"lar"`` or ``"csi+lar"`` (independent nuisances, so the
    combined profile is the sum of the two; ``x`` concatenates CsI then LAr)."""
    fns = {"csi": profile_csi, "lar": profile_lar}
    parts = [fns[k](data[k], model, **kw) for k in sorted(which.split("+"))]
    return Profile(
        fval=sum(p.fval for p in parts),
        x=np.concatenate([p.x for p in parts]),
        valid=all(p.valid for p in parts),
        nfcn=sum(p.nfcn for p in parts),
        ngrad=sum(p.ngrad for p in parts),
    )


if __name__ == "__main__":
    import sys

    import jax

    jax.config.update("jax_enable_x64", True)  # building the experiments needs float64
    data_dir = sys.argv[1] if len(sys.argv) > 1 else None
    inputs = {"csi": csi_data(data_dir), "lar": lar_data(data_dir)}
    for which in ("csi", "lar", "csi+lar"):
        p = profiled_chi2(ref.SM, inputs, which)
        print(f"SM {which}: profiled chi2 {p.fval:.6f} (valid {p.valid}, {p.nfcn} evaluations)")
