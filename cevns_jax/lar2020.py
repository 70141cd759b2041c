"""COHERENT CENNS-10 LAr 2020, "Analysis A" (arXiv:2003.10630): experiment builder.

Defaults follow the release YAML and docs/physics.md §3–4: 24.4 kg Ar-40 at 27.5 m, 1.38e23
POT, 0.09 ν per flavour per POT; QF = 0.246 + 0.00078 T[keVnr]; σ/E = 0.58/√E[keVee];
the released efficiency table; Gaussian proton pulse of mean 0.44 μs and width 0.15 μs.
The binning is the release's: 12 energy bins (0–120 keVee) × 10 time bins (0.5 μs from
−0.1 μs); F90 (8 bins, 0.5–0.9) is integrated out in the 2D form (the experiment's
``observed``); the 3D form (E_ee × F90 × t) is kept in :class:`LArBackgrounds` for the
F90-binned likelihood (``LArSettings.f90_binned``).

Our CEvNS prediction comes from physics; the released CEvNS template only supplies the F90
shape (:meth:`LArBackgrounds.cevns_3d`) and serves as validation. Backgrounds are the
released templates (prompt BRN, delayed BRN, steady state) with their shape-systematic
variants, all summed over F90.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import constants as c
from ._types import float_array
from ._x64 import require_x64
from .datasets import load_lar2020
from .experiment import AbstractBackgrounds, Experiment, recoil_grid
from .flux import SNSFlux
from .nuclei import AbstractFormFactor, Helm, ar40, stack_nuclei
from .response import lar_energy_response, time_weights
from .xsec import WeakCouplings, radiative_couplings, t_max

__all__ = ["LArBackgrounds", "LAR_SYSTEMATICS", "build_lar2020"]

AR40_MOLAR_MASS_G = 39.9623831
#: Released shape systematics: name -> (component, field of the release holding the variant).
LAR_SYSTEMATICS = {
    "cevns_f90_plus": ("cevns", "cevns_f90_plus"),
    "cevns_f90_minus": ("cevns", "cevns_f90_minus"),
    "cevns_timing_mean": ("cevns", "cevns_timing_mean"),
    "brn_energy_plus": ("brn_prompt", "brn_energy_plus"),
    "brn_energy_minus": ("brn_prompt", "brn_energy_minus"),
    "brn_timing_mean_plus": ("brn_prompt", "brn_timing_mean_plus"),
    "brn_timing_mean_minus": ("brn_prompt", "brn_timing_mean_minus"),
    "brn_timing_width": ("brn_prompt", "brn_timing_width"),
}
_BACKGROUNDS = ("brn_prompt", "brn_delayed", "ss")


class LArBackgrounds(AbstractBackgrounds):
    """LAr 2020 released templates.

    Attributes:
        nominal_3d: (3, n_e, n_f90, n_t) prompt BRN, delayed BRN, SS.
        observed_3d: (n_e, n_f90, n_t) observed counts (the experiment's ``observed`` is
            their sum over F90).
        cevns_released_3d: (n_e, n_f90, n_t) the released CEvNS template (128 events).
        systematics_3d: (n_sys, n_e, n_f90, n_t) shape-systematic variants, in the order of
            :data:`LAR_SYSTEMATICS`.
        f90_edges: (n_f90 + 1,) F90 edges.
    """

    nominal_3d: Array = eqx.field(converter=float_array)
    observed_3d: Array = eqx.field(converter=float_array)
    cevns_released_3d: Array = eqx.field(converter=float_array)
    systematics_3d: Array = eqx.field(converter=float_array)
    f90_edges: Array = eqx.field(converter=float_array)

    def templates(self, exp: Experiment, dt_us=0.0) -> dict[str, Array]:
        """Backgrounds summed over F90, (n_e, n_t) each (no timing shift: the release
        carries its own timing systematics)."""
        del exp, dt_us
        return dict(zip(_BACKGROUNDS, jnp.sum(self.nominal_3d, axis=2), strict=True))

    def systematics(self) -> Array:
        """(n_sys, n_e, n_t) shape variants summed over F90."""
        return jnp.sum(self.systematics_3d, axis=2)

    def cevns_released(self) -> Array:
        """(n_e, n_t) released CEvNS template summed over F90."""
        return jnp.sum(self.cevns_released_3d, axis=1)

    def reference_cevns(self) -> Array:
        """The released CEvNS template, (n_e, n_t) (for comparison figures)."""
        return self.cevns_released()

    def cevns_3d(self, counts_2d: Array) -> Array:
        """Spread (..., n_e, n_t) CEvNS counts over F90 with the released CEvNS F90 shape
        of each energy bin (the energy-integrated shape where the template is empty):
        (..., n_e, n_f90, n_t)."""
        per_e = jnp.sum(self.cevns_released_3d, axis=2)  # (n_e, n_f90)
        overall = jnp.sum(per_e, axis=0) / jnp.sum(per_e)
        norm = jnp.sum(per_e, axis=1, keepdims=True)
        frac = jnp.where(norm > 0, per_e / jnp.where(norm > 0, norm, 1.0), overall)
        return counts_2d[..., :, None, :] * frac[:, :, None]


def build_lar2020(
    data_dir=None,
    *,
    form_factor: AbstractFormFactor | None = None,
    couplings: WeakCouplings | None = None,
    r_n_fm: float = 3.55,
    r_p_fm: float = 3.448,
    pulse_mean_us: float | None = None,
    pulse_width_us: float | None = None,
    n_pot: float | None = None,
    nu_per_pot: float | None = None,
    mass_kg: float | None = None,
    qf_a: float | None = None,
    qf_b_per_kevnr: float | None = None,
    resolution: float | None = None,
    n_recoil: int = 600,
) -> Experiment:
    """Build the LAr 2020 experiment from the release files (parameters from its YAML).

    Args:
        data_dir: directory with ``lar2020/``; default ``$CEVNS_JAX_DATA`` or download.
        form_factor: nuclear form factor (default Helm).
        couplings: SM weak couplings (default: with radiative corrections).
        r_n_fm: Ar-40 neutron rms radius in fm.
        r_p_fm: Ar-40 point-proton rms radius in fm.
        pulse_mean_us, pulse_width_us: proton pulse (default: the YAML's 440 ns, 150 ns).
        n_pot, nu_per_pot, mass_kg: exposure, ν per flavour per POT and fiducial mass
            (default: the YAML's 1.38e23, 0.09, 24.4 kg).
        qf_a, qf_b_per_kevnr: quenching QF = a + b T[keVnr], b in 1/keVnr (default: the
            YAML's 0.246 ± 0.006 and 7.8e-4 ± 0.9e-4).
        resolution: σ/E = resolution/sqrt(E[keVee]) (default: the YAML's 0.58).
        n_recoil: number of recoil-energy cells from 0 to the kinematic end point.

    Returns:
        The :class:`~cevns_jax.experiment.Experiment` ``"lar2020"``.

    Raises:
        RuntimeError: JAX is in 32-bit mode (call :func:`cevns_jax.enable_x64` first).
        DataError: missing or corrupted release files.
    """
    require_x64()
    rel = load_lar2020(data_dir)
    p = rel.params
    target = stack_nuclei(ar40(r_p_fm, r_n_fm))
    T, dT = recoil_grid(float(t_max(c.E_NU_MAX_DELAYED, np.asarray(target.mass)[0])), n_recoil)
    qf_a = p.qf_a if qf_a is None else qf_a
    qf_b = p.qf_b_per_kevnr if qf_b_per_kevnr is None else qf_b_per_kevnr
    resolution = p.energy_resolution_a if resolution is None else resolution
    response = lar_energy_response(  # NumPy/SciPy: no compilation (see cevns_jax.response)
        T, rel.e_edges, qf_a, qf_b, rel.eff_kevee, rel.eff, resolution, xp=np
    )  # fmt: skip
    t_fine, t_weight = time_weights(rel.t_edges, 0.01)
    backgrounds = LArBackgrounds(
        nominal_3d=np.stack([getattr(rel, b) for b in _BACKGROUNDS]),
        observed_3d=rel.observed,
        cevns_released_3d=rel.cevns,
        systematics_3d=np.stack([getattr(rel, f) for _, f in LAR_SYSTEMATICS.values()]),
        f90_edges=rel.f90_edges,
    )
    mean = p.pot_trace_mean_ns * 1e-3 if pulse_mean_us is None else pulse_mean_us
    width = p.pot_trace_width_ns * 1e-3 if pulse_width_us is None else pulse_width_us
    mass = p.mass_kg if mass_kg is None else mass_kg
    n_nuclei = mass * 1e3 / AR40_MOLAR_MASS_G * c.AVOGADRO
    pot = p.pot if n_pot is None else n_pot
    per_pot = p.nu_per_flavor_per_pot if nu_per_pot is None else nu_per_pot
    return Experiment(
        name="lar2020",
        target=target,
        n_targets=jnp.array([n_nuclei]),
        form_factor=Helm() if form_factor is None else form_factor,
        couplings=radiative_couplings() if couplings is None else couplings,
        flux=SNSFlux(pot, per_pot, p.distance_m, mean, width),
        T=T,
        dT=dT,
        response=response[None],
        shape_names=(),
        t_fine_edges=t_fine,
        t_weight=t_weight,
        e_edges=rel.e_edges,
        t_edges=rel.t_edges,
        observed=rel.observed.sum(axis=1),
        backgrounds=backgrounds,
        e_unit="keVee",
    )
