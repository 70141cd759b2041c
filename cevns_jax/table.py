"""The light-mediator bound table of arXiv:2202.11002 (Table II): model × data set × regime.

One row per (model, data set, regime) from :func:`cevns_jax.bounds.regime_bounds`, next to the
published number where the paper has one (:data:`cevns_jax.published.PUBLISHED_BOUNDS`).
Every registered model goes through the same code path; none is special-cased. All rows of
one data set are computed together: every refinement stage of every bound is one batched
call of the grid engine.

Data sets are the registry's (:data:`cevns_jax.registry.DATASETS`): ``"csi"`` (CsI[Na] 2021),
``"lar"`` (CENNS-10 LAr 2020) and ``"csi+lar"`` (the sum of the two χ², independent
nuisances). Experiments are passed as a dict keyed by experiment key (``"csi"``, ``"lar"``),
built once and shared by every row.

Row keys (the ``"bounds"`` entries of ``cevns-jax table --json``):

* ``model``, ``data``, ``regime``, ``unit``: what the row is (``unit``: ``"g"`` at low
  mass, ``"g/M [GeV^-1]"`` at high mass);
* ``value``: upper edge of the 2σ region connected to g = 0; ``value_outer``: the outer
  edge (≠ ``value`` when an interference ``island`` is allowed);
* ``mass_gev``, ``check_mass_gev``: the two masses of the regime; ``convergence``: the
  relative change of ``value`` between them and ``converged`` = |change| < 1e-2;
  ``all_converged``: whether every relevant profile converged;
* ``published`` (or ``None``), ``ratio`` = value/published and ``ratio_outer`` =
  value_outer/published (or ``None``), ``closer``: ``"connected"`` or ``"outer"``,
  whichever reading is closer to the published number in log distance (``None`` without
  one);
* ``elapsed_s``: the row's share of its data set's wall time (rows of a data set are
  computed together).
"""

import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .bounds import DELTA_CHI2_1D, REGIME_MASSES_MEV, regime_bounds
from .charges import get_model, model_names
from .errors import ConfigError
from .published import PUBLISHED_DATASETS, published_bound
from .registry import DATASETS, build_likelihood, data_set, data_set_title

__all__ = [
    "CONVERGENCE_TOL",
    "REGIMES",
    "REGIME_UNITS",
    "ROW_KEYS",
    "bound_rows",
    "bound_table",
    "check_models",
    "markdown_table",
    "mass_text",
    "regime_text",
]

REGIMES = ("low", "high")
REGIME_UNITS = {"low": "g", "high": "g/M [GeV^-1]"}
#: A regime bound counts as converged when it changes by less than this between its masses.
CONVERGENCE_TOL = 1e-2
#: Keys of every row of :func:`bound_table`.
ROW_KEYS = (
    "model", "data", "regime", "unit", "value", "value_outer", "island", "mass_gev",
    "check_mass_gev", "convergence", "converged", "all_converged", "published", "ratio",
    "ratio_outer", "closer", "elapsed_s",
)  # fmt: skip


def check_models(models: Iterable[str] | None) -> list[str]:
    """Registered model names (all if ``None``), de-duplicated, in the given order.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    names = model_names() if models is None else list(dict.fromkeys(models))
    if not names:
        raise ConfigError("no models given; choose from " + ", ".join(model_names()))
    for name in names:
        get_model(name)  # raises ConfigError naming the valid models
    return names


def _check_choice(values: Iterable[str], valid: Sequence[str], what: str) -> list[str]:
    values = list(dict.fromkeys(values))
    bad = [v for v in values if v not in valid]
    if bad or not values:
        raise ConfigError(
            f"unknown {what} {bad[0] if bad else '(none)'!r}; choose from " + ", ".join(valid)
        )
    return values


def _compare(value: float, outer: float, published: float | None) -> dict:
    if published is None:
        return {"published": None, "ratio": None, "ratio_outer": None, "closer": None}
    ratio, ratio_outer = value / published, outer / published
    closer = "outer" if abs(np.log(ratio_outer)) < abs(np.log(ratio)) else "connected"
    return {"published": published, "ratio": ratio, "ratio_outer": ratio_outer, "closer": closer}


def bound_rows(
    lik, data: str, entries: Sequence[tuple[str, str]], *, details: bool = False
) -> list[dict]:
    """Rows for (model, regime) pairs of one data set, computed together.

    Args:
        lik: the data set's (joint) likelihood.
        data: the data-set name recorded in the rows (``"csi"``, ``"lar"``, ``"csi+lar"``).
        entries: (model name, regime) pairs.
        details: also return ``"details"``: the two masses' :class:`~cevns_jax.bounds.Bound`
            fields with their χ² curves.

    Returns:
        list of dicts with the keys :data:`ROW_KEYS` (see the module docstring).
    """
    for _, regime in entries:
        _check_choice([regime], REGIMES, "regime")
    start = time.perf_counter()
    res = regime_bounds(lik, [get_model(m) for m, _ in entries], [r for _, r in entries])
    share = (time.perf_counter() - start) / max(len(entries), 1)
    rows = []
    for (model, regime), r in zip(entries, res, strict=True):
        row = {
            "model": model,
            "data": data,
            "regime": regime,
            "unit": REGIME_UNITS[regime],
            "value": float(r["value"]),
            "value_outer": float(r["value_outer"]),
            "island": bool(r["island"]),
            "mass_gev": float(r["mass_gev"]),
            "check_mass_gev": float(r["check_mass_gev"]),
            "convergence": float(r["convergence"]),
            "converged": bool(abs(r["convergence"]) < CONVERGENCE_TOL),
            "all_converged": bool(r["all_converged"]),
        }
        row.update(
            _compare(row["value"], row["value_outer"], published_bound(model, data, regime))
        )
        row["elapsed_s"] = share
        if details:
            row["details"] = r["details"]
        rows.append(row)
    return rows


def bound_table(
    experiments: Mapping,
    models: Iterable[str] | None = None,
    datasets: Sequence[str] = tuple(DATASETS),
    regimes: Sequence[str] = REGIMES,
    progress: bool = True,
    settings: Mapping | None = None,
) -> list[dict]:
    """The bound of every model × data set × regime, with the published values.

    Args:
        experiments: dict experiment key (``"csi"``/``"lar"``) -> Experiment, built once
            by the caller and shared by every row; must hold every experiment the data sets
            need.
        models: registered names (default: every registered model, registry order).
        datasets: subset of the registry's data sets.
        regimes: subset of :data:`REGIMES`.
        progress: show a tqdm progress bar over data sets (stderr).
        settings: optional likelihood settings keyed by experiment key.

    Returns:
        list of rows (dicts with the keys :data:`ROW_KEYS`), model-major, then data set,
        then regime.

    Raises:
        ConfigError: unknown model, data set or regime, or a missing experiment (checked
            before anything is computed).
    """
    models = check_models(models)
    datasets = _check_choice(datasets, tuple(DATASETS), "data set")
    regimes = _check_choice(regimes, REGIMES, "regime")
    for data in datasets:
        missing = [e.key for e in data_set(data) if e.key not in experiments]
        if missing:
            raise ConfigError(
                f"data set {data!r} needs the experiments {missing} (a dict keyed by "
                f"{', '.join(e.key for e in data_set(data))})"
            )
    from tqdm.auto import tqdm

    entries = [(m, r) for m in models for r in regimes]
    by_data = {}
    for data in tqdm(datasets, disable=not progress, unit="data set", dynamic_ncols=True):
        lik = build_likelihood(data, experiments=experiments, settings=settings)
        by_data[data] = bound_rows(lik, data, entries)
    order = {(m, d, r): k for k, (m, d, r) in
             enumerate((m, d, r) for m in models for d in datasets for r in regimes)}  # fmt: skip
    rows = [row for data in datasets for row in by_data[data]]
    return sorted(rows, key=lambda row: order[(row["model"], row["data"], row["regime"])])


def regime_text(regime: str) -> str:
    """The masses of a regime, e.g. ``"M = 10 keV, checked at 100 keV"``."""
    main, check = (m * 1e-3 for m in REGIME_MASSES_MEV[regime])
    return f"M = {mass_text(main)}, checked at {mass_text(check)}"


def mass_text(mass_gev: float) -> str:
    """A mass in the handiest unit: ``1e-05`` -> ``"10 keV"``, ``10.0`` -> ``"10 GeV"``."""
    for unit, scale in (("GeV", 1.0), ("MeV", 1e-3), ("keV", 1e-6)):
        if mass_gev >= scale or unit == "keV":
            return f"{mass_gev / scale:g} {unit}"
    raise AssertionError  # unreachable


def _sci(x: float) -> str:
    return f"{x:.2e}"


def markdown_table(rows: Sequence[Mapping], *, title: str | None = None) -> str:
    """The rows as Markdown: one table per regime like the paper's Table II.

    Rows are models (in the order they appear), columns Ar / CsI / CsI+Ar (those present).
    Each cell is ``value``, then ``(outer)`` when an island is allowed, then
    ``[published; ratio]`` where the paper has a number (with an island, the ratios of both
    readings: connected, outer); a ``†`` marks a bound not converged between the regime's
    two masses (|change| ≥ 1e-2) or with an unconverged profile.
    """
    present = list(dict.fromkeys(r["data"] for r in rows))
    paper = [d for d in PUBLISHED_DATASETS if d in present]  # the paper's column order first
    order = paper + [d for d in present if d not in paper]
    models = list(dict.fromkeys(r["model"] for r in rows))
    lines = [f"# {title}", ""] if title else []
    for regime in REGIMES:
        cells = {(r["model"], r["data"]): r for r in rows if r["regime"] == regime}
        if not cells:
            continue
        pairs = sorted({(r["mass_gev"], r["check_mass_gev"]) for r in cells.values()})
        mass_txt = "; ".join(f"M = {mass_text(m)}, checked at {mass_text(k)}" for m, k in pairs)
        what = "coupling g (g~ for the scalar)" if regime == "low" else "g/M in GeV^-1"
        lines += [f"## {regime}-mass regime: 2σ upper bound on {what} ({mass_txt})", ""]
        lines.append("| model | " + " | ".join(data_set_title(d) for d in order) + " |")
        lines.append("|---|" + "---|" * len(order))
        for model in models:
            out = []
            for d in order:
                r = cells.get((model, d))
                if r is None:
                    out.append("–")
                    continue
                text = _sci(r["value"])
                if r["island"]:
                    text += f" ({_sci(r['value_outer'])})"
                if r["published"] is not None:
                    ratio = f"{r['ratio']:.2f}"
                    if r["island"]:
                        ratio += f", {r['ratio_outer']:.2f}"
                    text += f" [{_sci(r['published'])}; {ratio}]"
                if not (r["converged"] and r["all_converged"]):
                    text += " †"
                out.append(text)
            lines.append(f"| {model} | " + " | ".join(out) + " |")
        lines.append("")
    lines += [
        "Cells: bound (connected to g = 0) (outer edge, when an interference island is "
        "allowed at 2σ) [published, arXiv:2202.11002 Table II; ratio ours/published, for "
        "the connected and outer readings]. † not converged.",
        f"2σ: Δχ² = {DELTA_CHI2_1D:g} (one parameter), nuisances profiled; † also when the "
        f"bound changes by ≥ {CONVERGENCE_TOL:g} (relative) between the regime's two masses.",
        "",
    ]
    return "\n".join(lines)
