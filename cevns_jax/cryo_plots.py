"""Figures of the future-detector projections and of the design optimisation.

Numpy in, :class:`matplotlib.figure.Figure` out (object API, Agg canvas), like
:mod:`cevns_jax.plotting`, whose figure and file helpers these reuse: :func:`plot_projection`
and :func:`plot_design`; :func:`plot_projection_vs_today` and :func:`plot_design_result`
assemble them from exclusion curves and from an optimisation result. ``path=None`` returns
the figure without writing it (notebooks).
"""

from collections.abc import Mapping

import numpy as np

from .plotting import _figure, _save, model_label

__all__ = ["plot_design", "plot_design_result", "plot_projection", "plot_projection_vs_today"]

_STYLES = {
    "observed": dict(color="#4C72B0", alpha=0.30),
    "cryo-csi-1": dict(color="#DD8452", alpha=0.22),
    "cryo-csi-2": dict(color="#55A868", alpha=0.22),
}


def plot_projection(path, *, model: str, curves: Mapping, band=None, note: str = ""):
    """(M, g) plane: excluded regions above each curve and the (g−2)_μ band.

    Args:
        path: output file or ``None``.
        model: registered model name (title).
        curves: label -> ``(kind, masses_mev, g)``; kind ``"observed"``, ``"cryo-csi-1"``
            or ``"cryo-csi-2"`` picks the colour (observed: filled, expected: hatched edge).
        band: ``(masses_mev, g_lower, g_upper)`` of the 2σ (g−2)_μ band, or ``None``.
        note: text in the lower right corner (e.g. the band fraction excluded).
    """
    fig, axes = _figure(1, size=(7.0, 5.2))
    ax = axes[0, 0]
    top = 1.0
    for label, (kind, m, g) in curves.items():
        style = _STYLES.get(kind, dict(color="#8C8C8C", alpha=0.2))
        ax.fill_between(m, g, top, color=style["color"], alpha=style["alpha"], lw=0)
        ls = "-" if kind == "observed" else "--"
        ax.plot(m, g, ls, color=style["color"], lw=2, label=label)
    if band is not None:
        m, lo, hi = band
        ax.fill_between(m, lo, hi, color="#E15759", alpha=0.45, lw=0,
                        label=r"$(g-2)_\mu$ $2\sigma$")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mediator mass M [MeV]")
    ax.set_ylabel("coupling g")
    ax.set_ylim(top=top)
    ax.set_title(f"{model_label(model)}: 2σ exclusions (expected: Asimov, profiled)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    if note:
        ax.text(0.98, 0.03, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                bbox=dict(boxstyle="round", fc="white", alpha=0.85))  # fmt: skip
    _save(fig, path)
    return fig


def plot_design(path, *, history, scans: Mapping, title: str):
    """Optimisation path and FoM against each optimised parameter.

    Args:
        path: output file or ``None``.
        history: list of dicts with ``step``, ``figure_of_merit`` and the parameters.
        scans: parameter -> ``(values, fom, label)``: FoM along the parameter through the
            final design (the other parameters at their final values).
        title: figure title.
    """
    from matplotlib.ticker import NullFormatter

    n = 1 + len(scans)
    fig, axes = _figure(n, size=(4.2 * n, 4.0))
    steps = [h["step"] for h in history]
    fom = np.array([h["figure_of_merit"] for h in history])
    ax = axes[0, 0]
    ax.plot(steps, fom, "o-", ms=3, color="#4C72B0")
    ax.set_xlabel("optax step")
    ax.set_ylabel(r"FoM: expected $\Delta\chi^2$")
    ax.set_title("optimisation path")
    for ax, (name, (values, scan, label)) in zip(axes[0, 1:], scans.items(), strict=True):
        path_x = np.array([h[name] for h in history])
        ax.plot(values, scan, "-", color="#8C8C8C", label="FoM through the final design")
        sc = ax.scatter(path_x, fom, c=steps, cmap="viridis", s=14, zorder=3, label="path")
        ax.plot(path_x[0], fom[0], "s", color="#E15759", ms=8, label="initial", zorder=4)
        ax.plot(path_x[-1], fom[-1], "*", color="#F28E2B", ms=13, label="final", zorder=4)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    fig.colorbar(sc, ax=axes[0, -1], label="step")
    fig.suptitle(title)
    _save(fig, path)
    return fig


def plot_projection_vs_today(
    path, model: str, masses_mev: np.ndarray, curves: Mapping, observed: Mapping, *,
    g2: bool, fraction: Mapping | None = None,
):  # fmt: skip
    """:func:`plot_projection` of the expected exclusion edges of future detectors against
    today's observed one.

    Args:
        path: output file or ``None``.
        model: registered model name.
        masses_mev: (n,) masses of the curves in MeV.
        curves: detector name -> :func:`cevns_jax.projection.exclusion_curve` result.
        observed: the same for today's CsI+LAr data.
        g2: draw the 2σ (g−2)_μ band (the model couples to the muon).
        fraction: optional ``{"value": ...}`` fraction of the band Cryo-CsI-II excludes.
    """
    from .charges import get_model
    from .g2 import g2_band
    from .registry import entry

    shown = {"CsI+LAr observed (today)": ("observed", masses_mev, observed["g_connected"])}
    for name, c in curves.items():
        shown[f"{entry(name).short_title} expected"] = (name, masses_mev, c["g_connected"])
    band = None
    if g2:
        dense = np.geomspace(masses_mev[0], masses_mev[-1], 300)
        b = g2_band(dense, get_model(model), n_sigma=(2.0,))
        band = (dense, np.asarray(b.lower)[:, 0], np.asarray(b.upper)[:, 0])
    note = ""
    if fraction is not None:
        note = (f"Cryo-CsI-II excludes {100 * fraction['value']:.0f} % of the 2σ band\n"
                f"between 1 and 300 MeV (area in log M, log g)")  # fmt: skip
    return plot_projection(path, model=model, curves=shown, band=band, note=note)


def plot_design_result(path, res: Mapping, initial, *, n_points: int, title: str):
    """:func:`plot_design` of an optimisation: the FoM along the threshold and the mass
    (at the fixed exposure budget) through the final design, ``n_points`` each.

    Args:
        path: output file or ``None``.
        res: the result of :func:`cevns_jax.design.optimise`.
        initial: the initial design (the mass axis is relative to its mass).
        n_points: points of each FoM curve.
        title: figure title.
    """
    from .design import BOUNDS, scan_parameter

    final = res["final_design_object"]
    lo, hi = BOUNDS["threshold_kevnr"]
    thr = np.geomspace(lo, hi, n_points)
    mass = float(initial.mass_kg) * np.geomspace(*BOUNDS["mass_factor"], n_points)
    budget = res["constraint"]["budget_kg_yr"]
    scans = {
        "threshold_kevnr": (thr, scan_parameter(final, "threshold_kevnr", thr),
                            "threshold [keVnr]"),
        "mass_kg": (mass, scan_parameter(final, "mass_kg", mass),
                    f"mass [kg] (years = {budget:g} kg yr / mass)"),
    }  # fmt: skip
    return plot_design(path, history=res["history"], scans=scans, title=title)
