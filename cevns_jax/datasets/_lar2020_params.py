"""Scalar parameters of the LAr 2020 release (``LArParametersAnlA.yaml``)."""

import dataclasses
import os

import yaml

from ._text import data_error

__all__ = ["LArParameters", "read_lar_parameters"]


@dataclasses.dataclass(frozen=True)
class LArParameters:
    """Scalar parameters of CENNS-10 analysis A, as plain floats (hashable, static).

    Uncertainties (``*_unc``) are 1 sigma; the YAML calls those of exposure,
    distance and POT-trace width negligible, so they have none here.

    Attributes:
        pot: Protons on target (1.38e23, i.e. 6.12 GWhr).
        distance_m: Detector distance from the target [m] (27.5).
        mass_kg, mass_kg_unc: Fiducial argon mass [kg] (24.4 +- 0.61).
        nu_per_flavor_per_pot, nu_per_flavor_per_pot_unc: Decay-at-rest neutrinos
            per proton per flavour (0.09 +- 0.009).
        qf_a, qf_a_unc: Quenching factor offset of ``QF = a + b T[keVnr]`` (0.246).
        qf_b_per_kevnr, qf_b_unc_per_kevnr: Quenching factor slope [1/keVnr] (7.8e-4).
        energy_resolution_a: ``sigma/E = a / sqrt(E[keVee])``, a in keVee^(1/2) (0.58).
        pot_trace_mean_ns, pot_trace_mean_unc_ns: Mean of the Gaussian POT trace [ns]
            (440 +- 200).
        pot_trace_width_ns: Width of the Gaussian POT trace [ns] (150).
        predicted_*: Pre-fit predicted event counts (with ``*_unc``) of the
            ``cevns`` (128), ``brn_prompt`` (497), ``brn_delayed`` (33) and ``ss``
            (3154) components.
        bestfit_*: Best-fit event counts (with ``*_unc``) of the same components
            (159, 553, 10, 3131). The CEvNS uncertainty is the file's
            ``uncertainty_stat`` (43), described there as stat + syst.
    """

    pot: float
    distance_m: float
    mass_kg: float
    mass_kg_unc: float
    nu_per_flavor_per_pot: float
    nu_per_flavor_per_pot_unc: float
    qf_a: float
    qf_a_unc: float
    qf_b_per_kevnr: float
    qf_b_unc_per_kevnr: float
    energy_resolution_a: float
    pot_trace_mean_ns: float
    pot_trace_mean_unc_ns: float
    pot_trace_width_ns: float
    predicted_cevns: float
    predicted_cevns_unc: float
    predicted_brn_prompt: float
    predicted_brn_prompt_unc: float
    predicted_brn_delayed: float
    predicted_brn_delayed_unc: float
    predicted_ss: float
    predicted_ss_unc: float
    bestfit_cevns: float
    bestfit_cevns_unc: float
    bestfit_brn_prompt: float
    bestfit_brn_prompt_unc: float
    bestfit_brn_delayed: float
    bestfit_brn_delayed_unc: float
    bestfit_ss: float
    bestfit_ss_unc: float


# YAML keys of the normalisations, by component name used in LArParameters.
_NORMALISATIONS = {
    "cevns": "cevns{}Normalization",
    "brn_prompt": "promptBeamRelatedNeutron{}Normalization",
    "brn_delayed": "delayedBeamRelatedNeutron{}Normalization",
    "ss": "ssBackground{}Normalization",
}


def read_lar_parameters(path: str | os.PathLike) -> LArParameters:
    """Parse ``LArParametersAnlA.yaml``.

    Args:
        path: The YAML file.

    Returns:
        The parameters as floats, units checked against the file's ``units`` fields
        for exposure, distance and mass.

    Raises:
        DataError: unreadable YAML, missing key, non-numeric value, unexpected unit.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            doc = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise data_error(path, f"is not readable YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise data_error(path, "does not hold a YAML mapping of parameters")

    def node(key: str, parameter: str | None = None) -> dict:
        item = doc.get(key)
        if parameter is not None and isinstance(item, dict):
            matches = [p for p in item.get("parameters") or () if p.get("name") == parameter]
            item = matches[0] if len(matches) == 1 else None
        if not isinstance(item, dict):
            where = key if parameter is None else f"{key}.parameters[name={parameter}]"
            raise data_error(path, f"has no entry {where!r}")
        return item

    def number(key: str, parameter: str | None = None, field: str = "value") -> float:
        value = node(key, parameter).get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise data_error(path, f"entry {key!r} field {field!r} is not a number: {value!r}")
        return float(value)

    for key, unit in (
        ("beamExposure", "E22 POT"),
        ("distanceToTarget", "m"),
        ("fiducialMass", "kg"),
    ):
        found = node(key).get("units")
        if found != unit:
            raise data_error(path, f"entry {key!r} has units {found!r}, expected {unit!r}")
    counts = {}
    for stage, label in (("predicted", "Prediction"), ("bestfit", "Bestfit")):
        for component, template in _NORMALISATIONS.items():
            key = template.format(label)
            # The release names this one error 'uncertainty_stat' (it is stat + syst).
            field = "uncertainty_stat" if key == "cevnsBestfitNormalization" else "uncertainty"
            counts[f"{stage}_{component}"] = number(key)
            counts[f"{stage}_{component}_unc"] = number(key, field=field)
    return LArParameters(
        pot=number("beamExposure") * 1e22,
        distance_m=number("distanceToTarget"),
        mass_kg=number("fiducialMass"),
        mass_kg_unc=number("fiducialMass", field="uncertainty"),
        nu_per_flavor_per_pot=number("neutrinosPerProton"),
        nu_per_flavor_per_pot_unc=number("neutrinosPerProton", field="uncertainty"),
        qf_a=number("larQF", "a"),
        qf_a_unc=number("larQF", "a", "uncertainty"),
        qf_b_per_kevnr=number("larQF", "b"),
        qf_b_unc_per_kevnr=number("larQF", "b", "uncertainty"),
        energy_resolution_a=number("energyResolution", "a"),
        pot_trace_mean_ns=number("snsPOTTraceTiming", "a"),
        pot_trace_mean_unc_ns=number("snsPOTTraceTiming", "a", "uncertainty"),
        pot_trace_width_ns=number("snsPOTTraceTiming", "b"),
        **counts,
    )
