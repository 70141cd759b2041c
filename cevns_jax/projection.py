"""Asimov sensitivities of future detectors: expected bounds, exclusion curves, (g−2)_μ reach.

A projection is the ordinary bound machinery (:mod:`cevns_jax.bounds`, the grid engine) run
on a likelihood whose data are the Asimov data set (the SM expectation; a Cryo-CsI
experiment's ``observed``, :mod:`cevns_jax.cryo_csi`), with every nuisance profiled. The
expected 2σ bound at mass M is where the profiled Δχ²(g) = χ²(g) − χ²(SM) crosses 4;
χ²(SM) = 0 by construction.

* :func:`expected_bounds`: the low- and high-mass regime values of one model
  (:func:`cevns_jax.bounds.regime_bounds`: g at low mass, g/M in GeV⁻¹ at high mass);
  :func:`expected_bounds_table`: of every registered model at once;
* :func:`exclusion_curve`: the 2σ upper edge g(M) on a mass grid (the excluded region is
  above it; ``g_outer`` differs where an allowed island exists);
* :func:`g2_band_excluded_fraction`: the fraction of the 2σ (g−2)_μ band (:func:`g2_band`),
  measured as area in the (log M, log g) plane between two masses, that lies above an
  exclusion curve (interpolated linearly in log M, log g).
"""

import numpy as np

from .bounds import coupling_bounds, regime_bounds
from .charges import get_model
from .errors import ConfigError
from .g2 import g2_band
from .registry import entry

__all__ = [
    "G2_MASS_RANGE_MEV",
    "asimov_likelihood",
    "exclusion_curve",
    "expected_bounds",
    "expected_bounds_table",
    "g2_band_excluded_fraction",
]

#: Mass range (MeV) over which the (g−2)_μ band coverage is quantified.
G2_MASS_RANGE_MEV = (1.0, 300.0)


def asimov_likelihood(detector: str, values: dict | None = None, **options):
    """The registered likelihood of a future detector, its design changed by ``values``
    (``name -> value``, as ``--set name=value``).

    Raises:
        ConfigError: unknown detector, an experiment with real data (not a projection),
            or a bad design value.
    """
    spec = entry(detector)
    if spec.published is not None or spec.data_files:
        raise ConfigError(
            f"{detector} is an experiment with data, not a future detector. Fix: project a "
            "detector without data, e.g. cryo-csi-1 or cryo-csi-2"
        )
    exp = spec.builder(None, set=dict(values or {}), **options)
    return spec.likelihood(exp)


def expected_bounds(lik, model: str) -> list[dict]:
    """Expected 2σ bounds of ``model`` in both regimes: ``[{"regime", "value",
    "value_outer", "island", "mass_gev", "convergence", "all_converged"}, ...]``."""
    return expected_bounds_table(lik, [model])[model]


def expected_bounds_table(lik, models=None) -> dict[str, list[dict]]:
    """:func:`expected_bounds` of many models (default: every registered one), all curves
    refined together in batched engine calls."""
    from .charges import model_names

    models = list(model_names() if models is None else models)
    charges = [get_model(m) for m in models for _ in range(2)]
    results = regime_bounds(lik, charges, ["low", "high"] * len(models))
    keep = ("value", "value_outer", "island", "mass_gev", "convergence", "all_converged")
    out = {}
    for i, m in enumerate(models):
        pair = results[2 * i : 2 * i + 2]
        out[m] = [
            {"regime": r, **{k: res[k] for k in keep}}
            for r, res in zip(("low", "high"), pair, strict=True)
        ]
    return out


def exclusion_curve(lik, model: str, masses_mev) -> dict:
    """The 2σ exclusion edge of ``model`` at each mass: ``{"mass_mev", "g_connected",
    "g_outer", "all_converged"}`` (arrays over the masses)."""
    masses = np.asarray(masses_mev, dtype=float)
    ch = get_model(model)
    bounds = coupling_bounds(lik, [ch] * masses.size, masses)
    return {
        "mass_mev": masses,
        "g_connected": np.array([b.g_connected for b in bounds]),
        "g_outer": np.array([b.g_outer for b in bounds]),
        "all_converged": bool(all(b.all_converged for b in bounds)),
    }


def g2_band_excluded_fraction(
    model: str,
    masses_mev,
    g_bound,
    mass_range_mev: tuple[float, float] = G2_MASS_RANGE_MEV,
    n_sigma: float = 2.0,
    n_points: int = 600,
) -> float:
    """Fraction of the n_sigma (g−2)_μ band between two masses lying above a bound curve.

    The band at each mass is [g_lo(M), g_hi(M)]; the excluded part is [max(g_lo, g_b),
    g_hi] (empty if g_b > g_hi); the fraction is ∫ d log M of the excluded length in log g
    over ∫ d log M of the band length in log g, on ``n_points`` log-spaced masses.

    Args:
        model: registered model (must couple to the muon).
        masses_mev, g_bound: the exclusion curve (masses ascending, covering the range).
        mass_range_mev: masses between which the band is measured.
        n_sigma: band width (1 or 2).

    Raises:
        ConfigError: the curve does not cover the range, or the model has no (g−2)_μ band.
    """
    m = np.asarray(masses_mev, dtype=float)
    lo, hi = mass_range_mev
    if m[0] > lo * (1 + 1e-9) or m[-1] < hi * (1 - 1e-9):
        raise ConfigError(
            f"the exclusion curve covers {m[0]:g}-{m[-1]:g} MeV, not {lo:g}-{hi:g} MeV. Fix: "
            "extend the mass grid"
        )
    grid = np.geomspace(lo, hi, n_points)
    band = g2_band(grid, get_model(model), n_sigma=(n_sigma,))
    g_lo, g_hi = np.asarray(band.lower)[:, 0], np.asarray(band.upper)[:, 0]
    if not np.all(np.isfinite(g_hi)):
        raise ConfigError(f"model {model!r} does not couple to the muon: no (g−2)_μ band")
    log_b = np.interp(np.log(grid), np.log(m), np.log10(np.asarray(g_bound, dtype=float)))
    top, bottom = np.log10(g_hi), np.log10(np.maximum(g_lo, 1e-300))
    excluded = np.clip(top - np.maximum(bottom, log_b), 0.0, None)
    return float(np.trapezoid(excluded, np.log(grid)) / np.trapezoid(top - bottom, np.log(grid)))
