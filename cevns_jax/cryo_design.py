"""The design of a future cryogenic CsI detector: every number a differentiable array leaf.

:class:`CryoDesign` holds every assumption of a Cryo-CsI projection (docs/cryo_csi.md lists
each with its source): target mass, threshold, run plan (years at each SNS beam power),
proton energy, beam-on hours per year, the ν-per-proton yield formula, baseline, flux
normalisation uncertainty, light yield, quenching, photo-statistics smearing, the
efficiency step at the threshold and the backgrounds (steady state, beam-related neutrons,
threshold noise). Because every field is a float array, a figure of merit built from it can
be differentiated with respect to any of them (:mod:`cevns_jax.design`).

Presets: :func:`cryo_csi_1` (10 kg, 3 years at 2 MW) and :func:`cryo_csi_2` (700 kg, 3 years
at 2.8 MW). :func:`with_values` changes fields by name (the CLI's ``--set name=value``).
"""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._types import float_array
from .errors import ConfigError

__all__ = [
    "BACKGROUND_SOURCES",
    "CryoDesign",
    "JOULE_PER_GEV",
    "as_dict",
    "beam_energy_gwh",
    "beam_hours",
    "cryo_csi_1",
    "cryo_csi_2",
    "nu_per_pot",
    "protons_on_target",
    "with_values",
]

JOULE_PER_GEV = 1.602176634e-10

#: How the CsI 2021 background rates below were obtained (reproduced in tests/test_cryo_csi.py
#: from the release files): steady state = anti-coincidence events in 20-60 PE, t < 6 us
#: (926), per keVee at 13.35 PE/keVee, divided by the mean energy efficiency there (0.979),
#: per 14.6 kg and per 11,000 beam-on hours; BRN = the released BRN counts in PE < 60 (18.45
#: before the time efficiency), divided by their mean energy efficiency (x1.433), per 4.494
#: keVee, 14.6 kg and 13.99 GWh.
BACKGROUND_SOURCES = {
    "csi2021_beam_hours": 11000.0,
    "csi2021_beam_gwh": 13.99,
    "csi2021_mass_kg": 14.6,
    "csi2021_light_yield": 13.35,
}


class CryoDesign(eqx.Module):
    """A Cryo-CsI design (all fields float arrays, differentiable).

    Attributes:
        mass_kg: CsI target mass (kg).
        threshold_kevnr: nuclear-recoil threshold (keVnr): centre of the efficiency step.
        threshold_width_pe: width of the logistic efficiency step (PE).
        years: (2,) years of running at each beam power.
        power_mw: (2,) SNS beam powers (MW) of those years.
        proton_energy_gev: SNS proton kinetic energy (GeV).
        beam_hours_per_year: beam-on hours per year.
        yield_slope_per_gev, yield_offset: ν per flavour per proton = slope E_p + offset.
        distance_m: source-detector baseline (m).
        flux_norm_unc: relative 1σ uncertainty of the flux normalisation.
        light_yield: photoelectrons per keVee.
        photostat_factor: Gamma shape per keVee in units of the light yield (1 = pure
            Poisson photo-statistics).
        qf_low_mix: 0 = CsI[Na] 2021 quenching, 1 = the low variant (linear mixing).
        qf_low_reduction: low variant: relative reduction of the linear quenching term.
        ss_rate: steady-state background, counts / (kg keVee beam-on hour), flat in keVee.
        brn_rate: beam-related neutrons, counts / (kg keVee GWh) at 19.3 m, flat in keVee,
            scaling as 1/L².
        background_scale: multiplies the steady-state and BRN rates (background level).
        noise_rate_hz: rate density of noise pulses (SiPM dark counts and their pile-up)
            at 0 PE, Hz per PE, for ``noise_mass_kg``; exponential in PE, scaling with
            (mass/noise_mass_kg)^(2/3) (photosensor area).
        noise_scale_pe: e-folding of the noise spectrum (PE).
        noise_mass_kg: reference mass of the noise rate (kg).
        veto_window_us: an event is rejected if a noise pulse above threshold falls in
            this window before it (accidental coincidence, like the CsI 2021 pretrace cut).
        noise_mimic_fraction: fraction of noise pulses inside the analysis window that
            pass the event cuts (the noise background).
        spill_rate_hz: SNS pulse rate (one 6 μs analysis window per pulse).
    """

    mass_kg: Array = eqx.field(converter=float_array)
    threshold_kevnr: Array = eqx.field(converter=float_array, default=1.4)
    threshold_width_pe: Array = eqx.field(converter=float_array, default=1.0)
    years: Array = eqx.field(converter=float_array, default=(3.0, 0.0))
    power_mw: Array = eqx.field(converter=float_array, default=(2.0, 2.8))
    proton_energy_gev: Array = eqx.field(converter=float_array, default=1.3)
    beam_hours_per_year: Array = eqx.field(converter=float_array, default=5000.0)
    yield_slope_per_gev: Array = eqx.field(converter=float_array, default=0.14)
    yield_offset: Array = eqx.field(converter=float_array, default=-0.05)
    distance_m: Array = eqx.field(converter=float_array, default=19.3)
    flux_norm_unc: Array = eqx.field(converter=float_array, default=0.047)
    light_yield: Array = eqx.field(converter=float_array, default=35.2)
    photostat_factor: Array = eqx.field(converter=float_array, default=9.56 / 13.35)
    qf_low_mix: Array = eqx.field(converter=float_array, default=0.0)
    qf_low_reduction: Array = eqx.field(converter=float_array, default=0.2)
    ss_rate: Array = eqx.field(converter=float_array, default=1.96e-3)
    brn_rate: Array = eqx.field(converter=float_array, default=0.0288)
    background_scale: Array = eqx.field(converter=float_array, default=1.0)
    noise_rate_hz: Array = eqx.field(converter=float_array, default=1.09e5)
    noise_scale_pe: Array = eqx.field(converter=float_array, default=0.8)
    noise_mass_kg: Array = eqx.field(converter=float_array, default=10.0)
    veto_window_us: Array = eqx.field(converter=float_array, default=10.0)
    noise_mimic_fraction: Array = eqx.field(converter=float_array, default=2e-7)
    spill_rate_hz: Array = eqx.field(converter=float_array, default=60.0)


def cryo_csi_1() -> CryoDesign:
    """Cryo-CsI-I: 10 kg, 1.4 keVnr, 3 years at 2 MW (2025-2028); flux known to 4.7 %
    (2 years of the D₂O detector)."""
    return CryoDesign(mass_kg=10.0, years=(3.0, 0.0), flux_norm_unc=0.047)


def cryo_csi_2() -> CryoDesign:
    """Cryo-CsI-II: 700 kg, 1.4 keVnr, 3 years at 2.8 MW (from 2030); flux known to 2 %
    (5 years of the D₂O detector); read out in modules whose noise rate (and accidental
    veto) is that of Cryo-CsI-I (``noise_mass_kg`` = 700)."""
    return CryoDesign(mass_kg=700.0, years=(0.0, 3.0), flux_norm_unc=0.02, noise_mass_kg=700.0)


def beam_hours(d: CryoDesign) -> Array:
    """() total beam-on hours of the run."""
    return jnp.sum(d.years) * d.beam_hours_per_year


def beam_energy_gwh(d: CryoDesign) -> Array:
    """() beam energy on target (GWh): Σ years × hours/year × power."""
    return jnp.sum(d.years * d.power_mw) * d.beam_hours_per_year * 1e-3


def protons_on_target(d: CryoDesign) -> Array:
    """() protons on target: beam energy / proton energy (2 MW at 1.3 GeV: 9.6e15 p/s)."""
    joules = beam_energy_gwh(d) * 1e9 * 3600.0
    return joules / (d.proton_energy_gev * JOULE_PER_GEV)


def nu_per_pot(d: CryoDesign) -> Array:
    """() neutrinos of each flavour per proton: 0.14 E_p[GeV] − 0.05 by default (0.132 at
    1.3 GeV; the π⁺/p yield between 0.8 and 1.5 GeV)."""
    return d.yield_slope_per_gev * d.proton_energy_gev + d.yield_offset


def as_dict(d: CryoDesign) -> dict:
    """``field -> float or list`` (JSON-ready), plus the derived exposure numbers."""
    out = {f.name: np.asarray(getattr(d, f.name)).tolist() for f in dataclasses.fields(d)}
    out["derived"] = {
        "protons_on_target": float(protons_on_target(d)),
        "nu_per_pot": float(nu_per_pot(d)),
        "beam_energy_gwh": float(beam_energy_gwh(d)),
        "beam_hours": float(beam_hours(d)),
        "exposure_kg_yr": float(d.mass_kg * jnp.sum(d.years)),
    }
    return out


def with_values(d: CryoDesign, values: dict) -> CryoDesign:
    """The design with fields replaced by name; ``years``/``power_mw`` take two numbers
    (``"1,2"`` or a sequence); ``years_2mw``/``years_2p8mw`` set one of them.

    Raises:
        ConfigError: unknown field or a value that is not a number of the right shape.
    """
    names = [f.name for f in dataclasses.fields(d)]
    alias = {"years_2mw": ("years", 0), "years_2p8mw": ("years", 1)}
    for key, raw in values.items():
        field, index = alias.get(key, (key, None))
        if field not in names:
            raise ConfigError(
                f"unknown design parameter {key!r}. Fix: use one of "
                f"{', '.join(names + list(alias))}"
            )
        try:
            parts = raw.split(",") if isinstance(raw, str) else np.atleast_1d(raw)
            value = np.asarray([float(p) for p in parts])
        except (TypeError, ValueError):
            raise ConfigError(f"design parameter {key}={raw!r}: not a number") from None
        old = np.asarray(getattr(d, field), dtype=float)
        if index is not None and value.size == 1:
            value = old.copy().reshape(-1)
            value[index] = float(parts[0])
        if value.size != old.size or not np.all(np.isfinite(value)):
            raise ConfigError(f"design parameter {key}={raw!r}: needs {old.size} finite number(s)")
        value = value.reshape(old.shape)
        d = eqx.tree_at(lambda x, f=field: getattr(x, f), d, jnp.asarray(value, dtype=float))
    return d
