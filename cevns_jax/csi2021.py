"""COHERENT CsI[Na] 2021 (arXiv:2110.07730): experiment builder and background model.

Defaults follow docs/physics.md §3–4: 14.6 kg CsI at 19.3 m, 3.198e23 POT, 0.0848 ν per flavour
per POT; quenching polynomial with two ±1σ systematic pairs; Gamma smearing at 13.35
PE/keVee; energy efficiency with ±1σ curves; time efficiency; analysis binning 9 PE × 11
time bins in PE < 60, t < 6 μs. The proton-pulse mean on the CsI time axis defaults to
0.565 μs (width 0.15 μs): the value that describes the CsI data best; 0.44 μs (the LAr
axis) is worse by Δχ² ≈ 7.

Shape systematics of the response, in order: ``qf0``, ``qf1`` (the two quenching
systematic models) and ``eff`` (energy efficiency).

Backgrounds: steady state (SS) = the anti-coincidence histogram (same live time); beam
related neutrons (BRN) and neutrino-induced neutrons (NIN) = released PE shape × released
time distribution (shiftable by a timing offset) × time efficiency. The time files sum to
the counts over all PE before the time efficiency; the PE shapes are normalised to 1 on
PE < 60, so the counts in the analysis region are (time sum)/(PE-shape sum over all PE):
27.63/1.498 = 18.45 BRN and 7.56/1.334 = 5.67 NIN before the time efficiency.
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import constants as c
from ._types import float_array
from ._x64 import require_x64
from .datasets import binned_counts, load_csi2021
from .errors import ConfigError
from .experiment import AbstractBackgrounds, Experiment, recoil_grid
from .flux import SNSFlux
from .nuclei import AbstractFormFactor, Helm, cs133, i127, stack_nuclei
from .response import aggregation_matrix, csi_energy_response, csi_time_efficiency, time_weights
from .xsec import WeakCouplings, radiative_couplings, t_max

__all__ = [
    "CSI_EFFICIENCY",
    "CSI_PE_EDGES",
    "CSI_QUENCHING",
    "CSI_T_EDGES",
    "CsIBackgrounds",
    "build_csi2021",
    "check_edges",
]

CSI_PE_EDGES = (0.0, 8.0, 12.0, 16.0, 20.0, 24.0, 32.0, 40.0, 50.0, 60.0)
CSI_T_EDGES = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 2.0, 4.0, 6.0)
CSI_MOLAR_MASS_G = 259.81
_QF_ROWS = {"qf0": (1, 2), "qf1": (3, 4)}  # rows of scintRespCoefficients.txt: (+1σ, -1σ)
#: Choices of the central quenching curve: row of ``scintRespCoefficients.txt``.
CSI_QUENCHING = {"nominal": 0, "qf0_plus": 1, "qf0_minus": 2, "qf1_plus": 3, "qf1_minus": 4}
#: Choices of the central efficiency curve: row of ``effCoefficients.txt`` (the file labels
#: both systematic rows "+1 sigma"; the second is the lower curve, read as −1σ).
CSI_EFFICIENCY = {"nominal": 0, "plus": 1, "minus": 2}


def check_edges(edges, name: str, lo: float, hi: float) -> np.ndarray:
    """Validate analysis bin edges: 1-D, strictly increasing, inside [lo, hi].

    Raises:
        ConfigError: naming the binning and what is wrong.
    """
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or e.size < 2:
        raise ConfigError(f"{name} edges must be a 1-D list of at least 2 numbers, got {edges!r}")
    if np.any(np.diff(e) <= 0):
        raise ConfigError(f"{name} edges must be strictly increasing, got {e.tolist()}")
    if e[0] < lo or e[-1] > hi:
        raise ConfigError(f"{name} edges must lie within [{lo}, {hi}], got {e[0]}..{e[-1]}")
    return e


def _choice(value: str, valid: dict, what: str) -> int:
    if value not in valid:
        raise ConfigError(f"unknown CsI {what} {value!r}; choose from {', '.join(valid)}")
    return valid[value]


def _hermite_cdf(x: Array, knots: Array, cdf: Array) -> Array:
    """Monotone C¹ cubic Hermite interpolation of a CDF tabulated on uniform ``knots``;
    constant (0 or the total) outside."""
    h = knots[1] - knots[0]
    dens = jnp.diff(cdf) / h  # (n,) bin densities
    lo, hi = dens[:-1], dens[1:]
    prod = lo * hi
    inner = jnp.where(prod > 0.0, 2.0 * prod / jnp.where(prod > 0.0, lo + hi, 1.0), 0.0)
    slope = jnp.concatenate([jnp.zeros(1), inner, jnp.zeros(1)])  # (n + 1,) at knots
    n = dens.shape[0]
    k = jnp.clip(jnp.floor((x - knots[0]) / h).astype(int), 0, n - 1)
    s = (x - knots[k]) / h  # no clipping: its gradient would vanish on the knots
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    inside = h00 * cdf[k] + h01 * cdf[k + 1] + h * (h10 * slope[k] + h11 * slope[k + 1])
    return jnp.where(x <= knots[0], cdf[0], jnp.where(x >= knots[-1], cdf[-1], inside))


class CsIBackgrounds(AbstractBackgrounds):
    """CsI 2021 backgrounds.

    Attributes:
        ss: (n_e, n_t) steady-state counts (anti-coincidence histogram).
        ss_time_weights: (n_t,) fraction of a beam-uncorrelated (uniform in time) sample
            in each analysis time bin, time efficiency applied (sums to 1).
        pe_fraction: (2, n_e) BRN, NIN: fraction of all-PE counts in each PE bin.
        t_edges: (n_f + 1,) edges of the released 10-ns time distributions (us).
        t_cdf: (2, n_f + 1) cumulative BRN, NIN counts (all PE) at those edges.
    """

    ss: Array = eqx.field(converter=float_array)
    ss_time_weights: Array = eqx.field(converter=float_array)
    pe_fraction: Array = eqx.field(converter=float_array)
    t_edges: Array = eqx.field(converter=float_array)
    t_cdf: Array = eqx.field(converter=float_array)

    def ss_uniform_time(self) -> Array:
        """(n_e, n_t) the AC sample's PE spectrum spread uniformly in time (× the time
        efficiency): the steady state's expectation for a beam-uncorrelated background,
        with the AC sample's total and PE distribution and none of its per-bin time
        fluctuations."""
        return jnp.sum(self.ss, axis=1, keepdims=True) * self.ss_time_weights

    def neutron_time_counts(self, exp: Experiment, dt_us, interp: str = "hermite") -> Array:
        """(2, n_t) BRN and NIN counts per analysis time bin (all PE in the region, time
        efficiency applied) with arrival times shifted by ``dt_us`` (μs).

        The released 10-ns time distributions are shifted through their cumulative
        counts, interpolated either piecewise linearly (``interp="linear"``) or with a
        monotone C¹ cubic (``"hermite"``, default: it passes through the same knots, so
        the unshifted templates are identical, and keeps χ² differentiable in the shift).
        """
        t = exp.t_fine_edges - dt_us
        if interp == "linear":
            cdf = jax.vmap(lambda row: jnp.interp(t, self.t_edges, row))(self.t_cdf)
        else:
            cdf = jax.vmap(lambda row: _hermite_cdf(t, self.t_edges, row))(self.t_cdf)
        return jnp.diff(cdf, axis=-1) @ exp.t_weight

    def neutron_templates(self, exp: Experiment, dt_us, interp: str = "hermite") -> Array:
        """(2, n_e, n_t) BRN and NIN templates with arrival times shifted by ``dt_us``."""
        t_counts = self.neutron_time_counts(exp, dt_us, interp)
        return self.pe_fraction[:, :, None] * t_counts[:, None, :]

    def templates(self, exp: Experiment, dt_us=0.0) -> dict[str, Array]:
        brn, nin = self.neutron_templates(exp, dt_us)
        return {"brn": brn, "nin": nin, "ss": self.ss}


def build_csi2021(
    data_dir=None,
    *,
    pe_edges=CSI_PE_EDGES,
    t_edges=CSI_T_EDGES,
    form_factor: AbstractFormFactor | None = None,
    couplings: WeakCouplings | None = None,
    r_n_fm: tuple[float, float] = (5.01, 4.94),
    r_p_fm: tuple[float, float] = (4.821, 4.766),
    quenching: str = "nominal",
    efficiency: str = "nominal",
    time_efficiency: bool = True,
    pulse_mean_us: float = 0.565,
    pulse_width_us: float = 0.15,
    n_pot: float = 3.198e23,
    nu_per_pot: float = 0.0848,
    distance_m: float = 19.3,
    mass_kg: float = 14.6,
    light_yield: float = 13.35,
    n_recoil: int = 480,
) -> Experiment:
    """Build the CsI 2021 experiment from the release files.

    Args:
        data_dir: directory with ``csi2021/``; default ``$CEVNS_JAX_DATA`` or download.
        pe_edges: analysis PE edges (within 0–250 PE).
        t_edges: analysis time edges in μs (within 0–6 μs).
        form_factor: nuclear form factor (default Helm, s = 0.9 fm).
        couplings: SM weak couplings (default: with radiative corrections).
        r_n_fm: neutron rms radii of Cs-133 and I-127 in fm.
        r_p_fm: point-proton rms radii of Cs-133 and I-127 in fm.
        quenching: central quenching curve, a key of :data:`CSI_QUENCHING` (the ±1σ
            systematic pairs keep their released rows).
        efficiency: central energy-efficiency curve, a key of :data:`CSI_EFFICIENCY` (the
            ±1σ variants keep the released rows).
        time_efficiency: apply the released time efficiency (to CEvNS and BRN/NIN alike).
        pulse_mean_us, pulse_width_us: Gaussian proton pulse on the CsI time axis.
        n_pot, nu_per_pot, distance_m, mass_kg: exposure, ν per flavour per POT, baseline,
            detector mass.
        light_yield: PE per keVee.
        n_recoil: number of recoil-energy cells from 0 to the kinematic end point.

    Returns:
        The :class:`~cevns_jax.experiment.Experiment` ``"csi2021"``.

    Raises:
        RuntimeError: JAX is in 32-bit mode (call :func:`cevns_jax.enable_x64` first).
        ConfigError: invalid binning.
        DataError: missing or corrupted release files.
    """
    require_x64()
    pe = check_edges(pe_edges, "CsI PE", 0.0, 250.0)
    te = check_edges(t_edges, "CsI time", 0.0, 6.0)
    q0 = _choice(quenching, CSI_QUENCHING, "quenching")
    e0 = _choice(efficiency, CSI_EFFICIENCY, "efficiency")
    rel = load_csi2021(data_dir)
    target = stack_nuclei(cs133(r_p_fm[0], r_n_fm[0]), i127(r_p_fm[1], r_n_fm[1]))
    t_top = float(np.max(t_max(c.E_NU_MAX_DELAYED, np.asarray(target.mass))))
    T, dT = recoil_grid(t_top, n_recoil)
    qf, eff = rel.qf_coeffs, rel.eff_coeffs
    variants = [(qf[q0], eff[e0])]
    for up, down in _QF_ROWS.values():
        variants += [(qf[up], eff[e0]), (qf[down], eff[e0])]
    variants += [(qf[q0], eff[1]), (qf[q0], eff[2])]
    response = np.stack(  # NumPy/SciPy: no compilation (see cevns_jax.response)
        [csi_energy_response(T, pe, q, e, light_yield=light_yield, xp=np) for q, e in variants]
    )
    t_eff = partial(csi_time_efficiency, xp=np) if time_efficiency else None
    t_fine, t_weight = time_weights(te, 0.01, t_eff)
    pe_agg = aggregation_matrix(
        np.append(rel.brn_pe_centers - 0.5, rel.brn_pe_centers[-1] + 0.5), pe
    )
    pe_fraction = np.stack(
        [rel.brn_pe @ pe_agg / rel.brn_pe.sum(), rel.nin_pe @ pe_agg / rel.nin_pe.sum()]
    )
    dt = np.diff(rel.brn_t_centers)[0]
    bkg_edges = np.append(rel.brn_t_centers - dt / 2, rel.brn_t_centers[-1] + dt / 2)
    t_cdf = np.stack([np.concatenate([[0.0], np.cumsum(h)]) for h in (rel.brn_t, rel.nin_t)])
    uniform = np.diff(t_fine) @ t_weight  # a flat time density through the time efficiency
    backgrounds = CsIBackgrounds(
        ss=binned_counts(rel.events_ac, pe, te),
        ss_time_weights=uniform / uniform.sum(),
        pe_fraction=pe_fraction,
        t_edges=bkg_edges,
        t_cdf=t_cdf,
    )
    n_molecules = mass_kg * 1e3 / CSI_MOLAR_MASS_G * c.AVOGADRO
    return Experiment(
        name="csi2021",
        target=target,
        n_targets=jnp.array([n_molecules, n_molecules]),
        form_factor=Helm() if form_factor is None else form_factor,
        couplings=radiative_couplings() if couplings is None else couplings,
        flux=SNSFlux(n_pot, nu_per_pot, distance_m, pulse_mean_us, pulse_width_us),
        T=T,
        dT=dT,
        response=response,
        shape_names=tuple(_QF_ROWS) + ("eff",),
        t_fine_edges=t_fine,
        t_weight=t_weight,
        e_edges=pe,
        t_edges=te,
        observed=binned_counts(rel.events_c, pe, te),
        backgrounds=backgrounds,
        e_unit="PE",
    )
