"""Cryo-CsI (undoped CsI at ~77 K): a future COHERENT detector as an :class:`Experiment`.

Built from a :class:`~cevns_jax.cryo_design.CryoDesign` with the CsI 2021 machinery — the
same nuclei, form factors, couplings, flux (:class:`~cevns_jax.flux.SNSFlux`), quenching
polynomial and Gamma photo-statistics response
(:func:`~cevns_jax.response.csi_energy_response`) — and traceable end to end, so that any
design number can be differentiated (:mod:`cevns_jax.design`).

Choices (docs/cryo_csi.md gives the sources):

* energy axis: reconstructed PE in :data:`CRYO_PE_EDGES` (21 bins, 0-250 PE); time
  integrated over the CsI 2021 window 0-6 μs (one time bin, flat time efficiency: undoped
  CsI needs no afterglow cut); each source's arrival-time fraction in the window is kept;
* efficiency: a logistic step 1/(1 + exp(−(x − x_thr)/w)) in PE, centred on the PE of the
  threshold x_thr = light yield × E_ee(threshold) (so its position is differentiable);
* quenching: the CsI[Na] 2021 polynomial (undoped CsI is compatible, arXiv:2101.03264),
  mixed with a low variant (linear term reduced by ``qf_low_reduction``); one shape
  systematic ``qf`` whose ±1σ variants are the 2021 release's systematic model 0 shifts;
* photo-statistics: Gamma smearing with shape 1 + photostat_factor × light yield × E_ee;
* backgrounds (reconstructed energy, efficiency applied): steady state ∝ mass × beam-on
  hours, BRN ∝ mass × beam energy × (19.3 m / L)², both flat in keVee at the CsI 2021
  rates, and threshold noise ∝ (mass/10 kg)^(2/3) × hours × exp(−PE/λ);
* the observed counts are the Asimov data: the SM expectation plus nominal backgrounds.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import constants as c
from ._types import float_array
from ._x64 import require_x64
from .cryo_design import (
    CryoDesign,
    beam_energy_gwh,
    beam_hours,
    cryo_csi_1,
    cryo_csi_2,
    nu_per_pot,
    protons_on_target,
    with_values,
)
from .csi2021 import CSI_MOLAR_MASS_G, check_edges
from .experiment import AbstractBackgrounds, Experiment, recoil_grid
from .flux import SNSFlux
from .mediator import standard_model
from .nuclei import AbstractFormFactor, Helm, cs133, i127, stack_nuclei
from .rates import counts_from_spectrum, recoil_spectrum
from .response import (
    aggregation_matrix,
    csi_efficiency,
    csi_energy_response,
    csi_quenching,
    fine_edges,
    time_weights,
)
from .xsec import WeakCouplings, radiative_couplings, t_max

__all__ = [
    "CRYO_PE_EDGES",
    "CSI2021_QF",
    "CryoBackgrounds",
    "build_cryo_csi_1",
    "build_cryo_csi_2",
    "build_cryo_experiment",
    "predict_notes",
    "quenching_coeffs",
    "threshold_pe",
    "veto_survival",
]

CRYO_PE_EDGES = (
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0,
    60.0, 80.0, 100.0, 130.0, 170.0, 250.0,
)  # fmt: skip
CRYO_T_EDGES = (0.0, 6.0)
#: CsI[Na] 2021 quenching coefficients (MeVee vs MeVnr: a, b, c, d), rows nominal, syst
#: model 0 +1σ, −1σ (scintRespCoefficients.txt of the release, arXiv:2110.07730).
CSI2021_QF = np.array([
    [0.0554628, 4.30681, -111.707, 840.384],
    [0.0613632, 3.51547, -85.5548, 595.562],
    [0.0495624, 5.09815, -137.858, 1085.2],
])  # fmt: skip
_REFERENCE_DISTANCE_M = 19.3
#: Above this PE the fine sub-bins are 4 × wider (the efficiency is 1 there).
_COARSE_FROM_PE = 20.0


class CryoBackgrounds(AbstractBackgrounds):
    """Cryo-CsI backgrounds, each (n_e, 1), and the design they were built from.

    Attributes:
        design: the :class:`~cevns_jax.cryo_design.CryoDesign`.
        brn: beam-related neutrons; ss: steady state; noise: threshold noise.
    """

    design: CryoDesign
    brn: Array = eqx.field(converter=float_array)
    ss: Array = eqx.field(converter=float_array)
    noise: Array = eqx.field(converter=float_array)

    def templates(self, exp, dt_us=0.0) -> dict[str, Array]:
        return {"brn": self.brn, "ss": self.ss, "noise": self.noise}


def quenching_coeffs(d: CryoDesign) -> Array:
    """(3, 4) quenching coefficients: nominal (2021 mixed with the low variant), +1σ, −1σ."""
    q = jnp.asarray(CSI2021_QF)
    low = q[0] * jnp.stack([1.0 - d.qf_low_reduction, 1.0, 1.0, 1.0])
    nominal = (1.0 - d.qf_low_mix) * q[0] + d.qf_low_mix * low
    return jnp.stack([nominal, nominal + q[1] - q[0], nominal + q[2] - q[0]])


def threshold_pe(d: CryoDesign) -> Array:
    """() mean PE of a recoil at the threshold: light yield × E_ee(threshold)."""
    return d.light_yield * csi_quenching(d.threshold_kevnr * 1e-3, quenching_coeffs(d)[0])


def _efficiency_coeffs(d: CryoDesign) -> Array:
    return jnp.stack([1.0, 1.0 / d.threshold_width_pe, threshold_pe(d), 0.0])


def _segments(pe: np.ndarray, sub_width: float) -> list[tuple[np.ndarray, float]]:
    """Analysis edges cut at the first edge >= :data:`_COARSE_FROM_PE`: (edges, sub-bin
    width) below (``sub_width``, resolving the threshold) and above (4 × ``sub_width``,
    where the efficiency is 1 and the Gamma widths are several PE)."""
    k = int(np.searchsorted(pe, _COARSE_FROM_PE))
    if k <= 0 or k >= pe.size - 1:
        return [(pe, sub_width)]
    return [(pe[: k + 1], sub_width), (pe[k:], 4.0 * sub_width)]


def _fine_edges(pe: np.ndarray, sub_width: float) -> np.ndarray:
    parts = [fine_edges(e, w) for e, w in _segments(pe, sub_width)]
    return np.concatenate([parts[0]] + [p[1:] for p in parts[1:]])


def _background_templates(d: CryoDesign, pe_edges: np.ndarray, sub_width: float):
    """(brn, ss, noise) each (n_e, 1), efficiency applied, in the design's exposure, and
    the accidental-veto survival fraction exp(−R(>threshold) × veto window) (applied to
    them and to the CEvNS response by the caller)."""
    fine = _fine_edges(pe_edges, sub_width)
    lo, hi = jnp.asarray(fine[:-1]), jnp.asarray(fine[1:])
    eff = csi_efficiency(0.5 * (lo + hi), _efficiency_coeffs(d))
    agg = jnp.asarray(aggregation_matrix(fine, pe_edges))
    kevee = (hi - lo) / d.light_yield  # sub-bin widths in keVee
    hours = beam_hours(d)
    ss = d.ss_rate * d.background_scale * d.mass_kg * hours * kevee
    brn = (
        d.brn_rate * d.background_scale * d.mass_kg * beam_energy_gwh(d) * kevee
        * (_REFERENCE_DISTANCE_M / d.distance_m) ** 2
    )  # fmt: skip
    lam = d.noise_scale_pe
    shape = lam * (jnp.exp(-lo / lam) - jnp.exp(-hi / lam))  # ∫ exp(−x/λ) dx per sub-bin
    rate = d.noise_rate_hz * (d.mass_kg / d.noise_mass_kg) ** (2.0 / 3.0) * shape  # Hz
    survival = jnp.exp(-jnp.sum(rate * eff) * d.veto_window_us * 1e-6)
    window_s = hours * 3600.0 * d.spill_rate_hz * (CRYO_T_EDGES[1] - CRYO_T_EDGES[0]) * 1e-6
    noise = d.noise_mimic_fraction * window_s * rate
    brn, ss, noise = ((v * eff) @ agg * survival for v in (brn, ss, noise))
    return brn, ss, noise, survival


def veto_survival(d: CryoDesign, pe_edges=CRYO_PE_EDGES, sub_width: float = 0.25) -> Array:
    """() fraction of events not vetoed by an accidental noise pulse above threshold."""
    return _background_templates(d, np.asarray(pe_edges), sub_width)[3]


def build_cryo_experiment(
    design: CryoDesign,
    *,
    name: str = "cryo-csi-1",
    pe_edges=CRYO_PE_EDGES,
    form_factor: AbstractFormFactor | None = None,
    couplings: WeakCouplings | None = None,
    r_n_fm: tuple[float, float] = (5.01, 4.94),
    pulse_mean_us: float = 0.565,
    pulse_width_us: float = 0.15,
    n_recoil: int = 400,
    sub_width: float = 0.25,
) -> Experiment:
    """The experiment of a design (traceable: jit/grad through ``design`` work).

    Args:
        design: the detector and run.
        name: registry name of the experiment.
        pe_edges: analysis PE edges (within 0-400 PE).
        form_factor, couplings, r_n_fm: as for CsI 2021 (Helm, radiative, 5.01/4.94 fm).
        pulse_mean_us, pulse_width_us: proton pulse on the detector time axis (μs).
        n_recoil: recoil-energy cells from 0 to the kinematic end point.
        sub_width: fine PE sub-bin width of the response and backgrounds below 20 PE
            (4 × wider above).

    Returns:
        :class:`~cevns_jax.experiment.Experiment` whose ``observed`` are the Asimov data.
    """
    require_x64()
    pe = check_edges(pe_edges, "Cryo-CsI PE", 0.0, 400.0)
    with jax.ensure_compile_time_eval():  # constants, also when a caller traces the design
        nuclei = (cs133(r_n=r_n_fm[0]), i127(r_n=r_n_fm[1]))
        target = stack_nuclei(*nuclei)
        t_top = max(float(t_max(c.E_NU_MAX_DELAYED, n.mass)) for n in nuclei)
        T, dT = recoil_grid(t_top, n_recoil)
        form_factor = Helm() if form_factor is None else form_factor
        couplings = radiative_couplings() if couplings is None else couplings
    pulse = (pulse_mean_us, pulse_width_us)
    return _build(design, name, tuple(pe.tolist()), target, form_factor, couplings, T, dT,
                  pulse, sub_width)  # fmt: skip


@eqx.filter_jit
def _build(design, name, pe_edges, target, form_factor, couplings, T, dT, pulse,
           sub_width) -> Experiment:  # fmt: skip
    """:func:`build_cryo_experiment`, compiled once per binning (every array traced)."""
    pe = np.asarray(pe_edges)
    te = np.asarray(CRYO_T_EDGES)
    eff = _efficiency_coeffs(design)
    gamma_b = design.photostat_factor * design.light_yield
    brn, ss, noise, survival = _background_templates(design, pe, sub_width)
    response = jnp.stack([
        jnp.concatenate([
            csi_energy_response(T, e, q, eff, design.light_yield, gamma_b, w)
            for e, w in _segments(pe, sub_width)
        ], axis=1)
        for q in quenching_coeffs(design)
    ]) * survival  # fmt: skip
    t_fine, t_weight = time_weights(te, 0.01, None)
    n_molecules = design.mass_kg * 1e3 / CSI_MOLAR_MASS_G * c.AVOGADRO
    exp = Experiment(
        name=name,
        target=target,
        n_targets=jnp.stack([n_molecules, n_molecules]),
        form_factor=form_factor,
        couplings=couplings,
        flux=SNSFlux(protons_on_target(design), nu_per_pot(design), design.distance_m, *pulse),
        T=T,
        dT=dT,
        response=response,
        shape_names=("qf",),
        t_fine_edges=t_fine,
        t_weight=t_weight,
        e_edges=pe,
        t_edges=te,
        observed=jnp.zeros((pe.size - 1, 1)),
        backgrounds=CryoBackgrounds(design, brn[:, None], ss[:, None], noise[:, None]),
        e_unit="PE",
    )
    sm = counts_from_spectrum(exp, recoil_spectrum(exp, standard_model())).sum(axis=0)
    return eqx.tree_at(lambda e: e.observed, exp, sm + (brn + ss + noise)[:, None])


def build_cryo_csi_1(data_dir=None, *, design: CryoDesign | None = None, **options):
    """Cryo-CsI-I (:func:`~cevns_jax.cryo_design.cryo_csi_1`); ``data_dir`` is unused
    (no release files). ``options`` go to :func:`build_cryo_experiment`; ``set``: a dict
    of design values by name."""
    d = cryo_csi_1() if design is None else design
    d = with_values(d, options.pop("set", {}))
    return build_cryo_experiment(d, name="cryo-csi-1", **options)


def build_cryo_csi_2(data_dir=None, *, design: CryoDesign | None = None, **options):
    """Cryo-CsI-II (:func:`~cevns_jax.cryo_design.cryo_csi_2`); see :func:`build_cryo_csi_1`."""
    d = cryo_csi_2() if design is None else design
    d = with_values(d, options.pop("set", {}))
    return build_cryo_experiment(d, name="cryo-csi-2", **options)


def predict_notes(exp: Experiment, sm_total: float) -> list[str]:
    """Lines ``cevns-jax predict`` prints for a Cryo-CsI experiment: run plan, exposure and
    the SM CEvNS counts per year."""
    d = exp.backgrounds.design
    years = np.asarray(d.years)
    plan = " + ".join(
        f"{y:g} yr at {p:g} MW" for y, p in zip(years, np.asarray(d.power_mw), strict=True)
    )
    return [
        f"design: {float(d.mass_kg):g} kg undoped CsI, threshold {float(d.threshold_kevnr):g} "
        f"keVnr ({float(threshold_pe(d)):.2f} PE at {float(d.light_yield):g} PE/keVee), "
        f"L = {float(d.distance_m):g} m",
        f"run: {plan}, {float(d.proton_energy_gev):g} GeV protons, "
        f"{float(d.beam_hours_per_year):g} beam-on h/yr: {float(protons_on_target(d)):.3e} POT, "
        f"{float(nu_per_pot(d)):.4f} nu per flavour per POT",
        f"SM CEvNS per year: {sm_total / years.sum():,.1f} (over {years.sum():g} years: "
        f"{sm_total:,.1f})",
        "observed = Asimov data (SM expectation + nominal backgrounds): a future detector",
    ]
