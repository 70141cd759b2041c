"""Figure of the 2σ bounds: Δχ² against the coupling at the two masses of each regime.

:func:`plot_bounds` draws numpy arrays; :func:`plot_bound_rows` assembles its panels from
the rows of :func:`cevns_jax.table.bound_rows` (with ``details=True``). Conventions:
:mod:`cevns_jax.plotting`.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .plotting import _figure, _save, model_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_bound_rows", "plot_bounds"]

_BOUND_COLOURS = ("#4E79A7", "#F28E2B")


def _number(x: float) -> str:
    """Three significant digits, in scientific notation below 0.01: ``6.79e-04``, ``0.0387``."""
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e3 else f"{x:.2e}"


def plot_bounds(path, *, title: str, panels: Sequence[Mapping]) -> "Figure":
    """Δχ² against the coupling at the two masses of each regime, with the 2σ bounds.

    One panel per regime (side by side). Overlapping curves of the two masses show that
    the bound has reached its low- or high-mass limit.

    Args:
        path: output image file, or ``None``.
        title: figure title.
        panels: one mapping per regime with
            ``regime``: ``"low"`` (x = g) or ``"high"`` (x = g/M in GeV^-1);
            ``curves``: list of mappings with ``label``, ``x`` (n,), ``delta_chi2`` (n,),
            ``delta_chi2_zero`` (Δχ² at g = 0) and ``main`` (the mass that gives the bound;
            others are drawn dashed);
            ``value``: the bound (edge of the region containing g = 0);
            ``value_outer``: the outer edge when an island is allowed, else ``None``;
            ``published``: the published bound or ``None``;
            ``convergence``: relative change of the bound between the two masses.
    """
    fig, axes = _figure(len(panels), size=(5.6 * len(panels) + 0.6, 4.6))
    threshold = 4.0
    for ax, panel in zip(axes[0], panels, strict=True):
        marks = [panel["value"]] + [
            v for v in (panel.get("value_outer"), panel.get("published")) if v is not None
        ]
        lo, hi = min(marks) / 30.0, max(marks) * 5.0
        for i, curve in enumerate(panel["curves"]):
            x, d = np.asarray(curve["x"], float), np.asarray(curve["delta_chi2"], float)
            main = curve.get("main", i == 0)
            ax.plot(
                x,
                d,
                color=_BOUND_COLOURS[i % 2],
                lw=2.4 if main else 1.6,
                ls="-" if main else (0, (4, 2.5)),
                zorder=3 if main else 4,
                label=f"{curve['label']}" + (" (bound)" if main else " (check)"),
            )
        ax.axhline(
            threshold, color="#555555", lw=1.0, ls="--", label=r"$\Delta\chi^2 = 4$ (2$\sigma$)"
        )
        island = panel.get("value_outer") is not None
        ax.axvline(
            panel["value"],
            color="#C44E52",
            lw=1.4,
            label=f"bound {_number(panel['value'])}" + (" (connected)" if island else ""),
        )
        if island:
            ax.axvline(
                panel["value_outer"],
                color="#C44E52",
                lw=1.4,
                ls="-.",
                label=f"outer edge {_number(panel['value_outer'])} (island)",
            )
        if panel.get("published") is not None:
            ax.axvline(
                panel["published"],
                color="black",
                lw=1.2,
                ls=":",
                label=f"published {_number(panel['published'])}",
            )
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        zero = max(c["delta_chi2_zero"] for c in panel["curves"])
        ax.set_ylim(-0.3, max(12.0, zero + 4.0))
        low = panel["regime"] == "low"
        ax.set_xlabel(r"coupling $g$" if low else r"$g / M$ [GeV$^{-1}$]")
        ax.set_ylabel(r"$\Delta\chi^2$ (nuisances profiled)")
        mains = [c for c in panel["curves"] if c.get("main")] or panel["curves"][:1]
        note = (
            f"{'low' if low else 'high'}-mass regime\n"
            rf"$\Delta\chi^2(g=0)$ = {mains[0]['delta_chi2_zero']:.2f}"
            f"\nchange between masses: {panel['convergence']:+.1e}"
        )
        ax.text(
            0.03,
            0.96,
            note,
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"},
        )
        ax.legend(frameon=True, framealpha=0.9, fontsize=8.5, loc="center left")
        ax.grid(alpha=0.25, lw=0.5, which="both")
    fig.suptitle(title)
    _save(fig, path)
    return fig


def plot_bound_rows(path, rows: Sequence[Mapping], *, model: str, data: str) -> "Figure":
    """:func:`plot_bounds` of one model's bounds, one panel per regime.

    Args:
        path: output image file, or ``None``.
        rows: rows of :func:`cevns_jax.table.bound_rows` with ``details`` (the χ² curve at
            each of the regime's masses, the bound's mass first).
        model: registered model name; data: data set name (both in the title).
    """
    from .registry import data_set_title
    from .table import mass_text

    panels = []
    for r in rows:
        curves = []
        for k, d in enumerate(r["details"]):
            scale = 1.0 if r["regime"] == "low" else 1e3 / d["mass_mev"]  # g -> g/M[GeV]
            curves.append({
                "label": f"M = {mass_text(d['mass_mev'] * 1e-3)}",
                "x": 10.0 ** np.asarray(d["log10_g"]) * scale,
                "delta_chi2": np.asarray(d["chi2"]) - d["chi2_min"],
                "delta_chi2_zero": d["delta_chi2_sm"],
                "main": k == 0,
            })  # fmt: skip
        panels.append({
            "regime": r["regime"], "curves": curves, "value": r["value"],
            "value_outer": r["value_outer"] if r["island"] else None,
            "published": r["published"], "convergence": r["convergence"],
        })  # fmt: skip
    return plot_bounds(
        path,
        title=f"{model_label(model)} on {data_set_title(data)}: 2σ bounds (Δχ² = 4)",
        panels=panels,
    )
