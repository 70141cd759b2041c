"""Figures: prediction vs data projections, SM vs light-mediator spectra, Δχ² of bounds,
(M, g) exclusion regions.

Plotting consumes numpy arrays only and is never imported by the compute modules; the CLI
imports it lazily when ``--plot`` is given. matplotlib is used through the object API
(:class:`matplotlib.figure.Figure` with the Agg canvas), so no global backend or pyplot
state is touched and nothing needs a display. Each ``plot_*`` function writes exactly the
file it is given (format from the suffix, PNG without one) and returns the Figure.

Binned quantities are (n_e, n_t) arrays on energy × time bins; the figures show their
projections on each axis as step histograms. Bins of unequal width are drawn as densities
(events per unit), equal-width bins as events per bin.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SOURCE_LABELS",
    "model_label",
    "plot_bounds",
    "plot_prediction",
    "plot_compare",
    "plot_scan",
    "stack_labels",
]

#: Legend labels of the three neutrino sources, in the package's source order.
SOURCE_LABELS = (r"CEvNS $\nu_e$", r"CEvNS $\nu_\mu$ (prompt)", r"CEvNS $\bar\nu_\mu$")
_SOURCE_COLOURS = ("#4C72B0", "#DD8452", "#55A868")
_OTHER_COLOURS = ("#8C8C8C", "#B07AA1", "#9C755F", "#BAB0AC")
_MODEL_COLOURS = ("#E15759", "#4E79A7", "#59A14F", "#B07AA1", "#F28E2B", "#76B7B2", "#EDC948")
_UNIT_LABEL = {"PE": "PE", "keVee": "keVee", "us": r"$\mu$s"}


def _figure(ncols: int, nrows: int = 1, *, height_ratios=None, size=(11.5, 4.4)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(
        nrows,
        ncols,
        squeeze=False,
        sharex="col",
        gridspec_kw=None if height_ratios is None else {"height_ratios": height_ratios},
    )
    return fig, axes


def _axis(edges: np.ndarray, unit: str, what: str) -> tuple[np.ndarray, str, str]:
    """Per-bin divisor, y label and x label of one projection axis."""
    widths = np.diff(edges)
    u = _UNIT_LABEL.get(unit, unit)
    xlabel = f"{what} [{u}]"
    if np.allclose(widths, widths[0], rtol=1e-9):
        w = float(widths[0])
        w_txt = f"{w:g}" if w != 1 else ""
        return np.ones_like(widths), f"Events / ({w_txt} {u})".replace("( ", "("), xlabel
    return widths, f"Events / {u}", xlabel


def _projections(edges_e, edges_t, e_unit):
    return (
        (
            1,
            np.asarray(edges_e, float),
            *_axis(np.asarray(edges_e, float), e_unit, "Reconstructed energy"),
        ),
        (0, np.asarray(edges_t, float), *_axis(np.asarray(edges_t, float), "us", "Arrival time")),
    )


def _data_points(ax, edges, values, variance, divisor, label):
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.errorbar(
        centres,
        values / divisor,
        yerr=np.sqrt(np.clip(variance, 0, None)) / divisor,
        xerr=0.5 * np.diff(edges),
        fmt="o",
        ms=4,
        color="black",
        ecolor="black",
        elinewidth=1.0,
        capsize=0,
        label=label,
        zorder=5,
    )


def _save(fig, path) -> None:
    """Write the figure to exactly ``path``: the format is the suffix's, PNG without one
    (matplotlib alone would append ".png" and write another file than the one named)."""
    from pathlib import Path

    suffix = Path(path).suffix.lower().lstrip(".")
    supported = fig.canvas.get_supported_filetypes()
    if suffix and suffix not in supported:
        from .errors import ConfigError

        raise ConfigError(
            f"figure {path}: unknown format '.{suffix}'. Fix: use one of "
            + ", ".join(f".{k}" for k in sorted(supported))
        )
    fig.savefig(path, dpi=150, format=suffix or "png")


def plot_prediction(
    path,
    *,
    title: str,
    e_edges: np.ndarray,
    t_edges: np.ndarray,
    e_unit: str,
    stack: Mapping[str, np.ndarray],
    data: np.ndarray,
    data_variance: np.ndarray,
    data_label: str,
    lines: Mapping[str, tuple[np.ndarray, str]] | None = None,
    note: str | None = None,
) -> "Figure":
    """Two panels (energy, time): stacked predictions as filled steps, data with errors.

    Args:
        path: output image file.
        title: figure title.
        e_edges: (n_e + 1,) energy edges in ``e_unit``; t_edges: (n_t + 1,) time edges, us.
        e_unit: "PE" or "keVee".
        stack: label -> (n_e, n_t) counts, stacked bottom to top in the given order. Labels
            in :data:`SOURCE_LABELS` get the source colours.
        data: (n_e, n_t) data (possibly background subtracted); data_variance: its variance.
        data_label: legend label of the data.
        lines: label -> ((n_e, n_t) counts, matplotlib line style) drawn as unfilled step
            lines: solid lines black, others red.
        note: text shown in the first panel (e.g. the totals).
    """
    fig, axes = _figure(2)
    comps = [(k, np.asarray(v, float)) for k, v in stack.items()]
    others = iter(_OTHER_COLOURS)
    colours = [
        _SOURCE_COLOURS[SOURCE_LABELS.index(k)] if k in SOURCE_LABELS else next(others)
        for k, _ in comps
    ]
    for ax, (axis, edges, divisor, ylabel, xlabel) in zip(
        axes[0], _projections(e_edges, t_edges, e_unit), strict=True
    ):
        bottom = np.zeros(len(edges) - 1)
        for (label, counts), colour in zip(comps, colours, strict=True):
            top = bottom + counts.sum(axis=axis) / divisor
            ax.stairs(
                top, edges, baseline=bottom, fill=True, color=colour, alpha=0.85, label=label
            )
            bottom = top
        ax.stairs(bottom, edges, color="#333333", lw=1.0)
        for label, (counts, style) in (lines or {}).items():
            ax.stairs(
                np.asarray(counts, float).sum(axis=axis) / divisor,
                edges,
                color="black" if style in ("-", "solid") else "#C44E52",
                lw=1.8,
                ls=style,
                label=label,
            )
        _data_points(
            ax,
            edges,
            np.asarray(data).sum(axis=axis),
            np.asarray(data_variance).sum(axis=axis),
            divisor,
            data_label,
        )
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.25, lw=0.5)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 1].legend(handles, labels, frameon=False, fontsize=9)
    if note:
        axes[0, 0].text(
            0.97,
            0.96,
            note,
            transform=axes[0, 0].transAxes,
            ha="right",
            va="top",
            multialignment="left",
            fontsize=9,
            family="monospace",
            bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"},
        )
    fig.suptitle(title)
    _save(fig, path)
    return fig


def plot_compare(
    path,
    *,
    title: str,
    e_edges: np.ndarray,
    t_edges: np.ndarray,
    e_unit: str,
    sm: np.ndarray,
    models: Mapping[str, np.ndarray],
    data: np.ndarray | None = None,
    data_variance: np.ndarray | None = None,
    data_label: str = "data − backgrounds",
    log: bool | None = None,
) -> "Figure":
    """SM vs light-mediator CEvNS spectra: energy and time projections, ratios to the SM.

    Args:
        path: output image file.
        title: figure title.
        e_edges, t_edges, e_unit: binning (see :func:`plot_prediction`).
        sm: (n_e, n_t) SM CEvNS counts.
        models: legend label -> (n_e, n_t) CEvNS counts of each model.
        data, data_variance: optional background-subtracted data and its variance.
        data_label: legend label of the data.
        log: logarithmic count and ratio axes; default: when the models differ from the
            SM by more than a factor 3 in total.
    """
    sm = np.asarray(sm, float)
    items = [(k, np.asarray(v, float)) for k, v in models.items()]
    ratios = [v.sum() / sm.sum() for _, v in items]
    if log is None:
        log = bool(ratios) and (max(ratios) > 3.0 or min(ratios) < 1.0 / 3.0)
    fig, axes = _figure(2, 2, height_ratios=(3, 1.3), size=(11.5, 6.2))
    for col, (axis, edges, divisor, ylabel, xlabel) in enumerate(
        _projections(e_edges, t_edges, e_unit)
    ):
        top, bottom = axes[0, col], axes[1, col]
        sm_proj = sm.sum(axis=axis)
        bottom.axhline(1.0, color="black", lw=1.0, ls="--", zorder=1)
        for i, (label, counts) in enumerate(items):
            colour = _MODEL_COLOURS[i % len(_MODEL_COLOURS)]
            proj = counts.sum(axis=axis)
            same = abs(counts.sum() / sm.sum() - 1.0) < 5e-3
            top.stairs(
                proj / divisor,
                edges,
                baseline=None,
                color=colour,
                lw=2.4,
                label=f"{model_label(label)} ({counts.sum():.0f})" + (" ≈ SM" if same else ""),
                zorder=3,
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                bottom.stairs(
                    np.where(sm_proj > 0, proj / sm_proj, np.nan),
                    edges,
                    baseline=None,
                    color=colour,
                    lw=1.6,
                )
        # the SM last, dashed and on top: visible even where a model coincides with it
        top.stairs(
            sm_proj / divisor,
            edges,
            baseline=None,
            color="black",
            lw=1.6,
            ls=(0, (5, 3)),
            label=f"SM ({sm.sum():.0f})",
            zorder=4,
        )
        if data is not None:
            d = np.asarray(data, float).sum(axis=axis)
            v = np.asarray(data_variance, float).sum(axis=axis)
            keep = d > 0 if log else np.ones(d.shape, bool)  # log axes: positive points only
            _data_points(top, edges, np.where(keep, d, np.nan), v, divisor, data_label)
        if log:
            top.set_yscale("log")
            bottom.set_yscale("log")
            # show three and a half decades below the SM peak; lower tails are cut
            top.set_ylim(bottom=3e-4 * np.max(sm_proj / divisor))
        else:
            top.set_ylim(bottom=0.0)
        top.set_ylabel(ylabel)
        bottom.set_ylabel("ratio to SM")
        bottom.set_xlabel(xlabel)
        bottom.set_xlim(edges[0], edges[-1])
        for ax in (top, bottom):
            ax.grid(alpha=0.25, lw=0.5, which="both" if log else "major")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda k: not labels[k].startswith("SM ("))
    handles, labels = [handles[k] for k in order], [labels[k] for k in order]
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=min(len(labels), 6),
        frameon=False,
        fontsize=9.5,
        title="CEvNS events in the analysis region",
        title_fontsize=9.5,
    )
    fig.suptitle(title)
    _save(fig, path)
    return fig


def stack_labels(source_names: Sequence[str]) -> tuple[str, ...]:
    """Legend labels for the package's source names (``cevns_jax.flux.SOURCES``)."""
    mapping = dict(zip(("nu_e", "nu_mu", "nubar_mu"), SOURCE_LABELS, strict=True))
    return tuple(mapping.get(s, s) for s in source_names)


def model_label(name: str) -> str:
    """Legend label of a registered model name: ``"L_mu-L_tau"`` -> ``$L_\\mu-L_\\tau$``."""
    if "_" not in name and "-" not in name:
        return name
    return "$" + name.replace("_mu", r"_\mu").replace("_tau", r"_\tau") + "$"


_BOUND_COLOURS = ("#4E79A7", "#F28E2B")


def _number(x: float) -> str:
    """Three significant digits, in scientific notation below 0.01: ``6.79e-04``, ``0.0387``."""
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e3 else f"{x:.2e}"


def plot_bounds(path, *, title: str, panels: Sequence[Mapping]) -> "Figure":
    """Δχ² against the coupling at the two masses of each regime, with the 2σ bounds.

    One panel per regime (side by side). Overlapping curves of the two masses show that
    the bound has reached its low- or high-mass limit.

    Args:
        path: output image file.
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


def _log10_ticks(axis, lo: float, hi: float) -> None:
    """Decade ticks labelled 10^k (and minor ticks at 2..9) on an axis in log10 units."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    decades = np.arange(np.floor(lo), np.ceil(hi) + 1.0)
    minor = (decades[:, None] + np.log10(np.arange(2, 10))[None, :]).ravel()
    axis.set_major_locator(FixedLocator(decades))
    axis.set_minor_locator(FixedLocator(minor))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{int(round(v))}}}$"))


def plot_scan(
    path,
    *,
    title: str,
    masses_gev: np.ndarray,
    couplings: np.ndarray,
    delta_chi2: np.ndarray,
    threshold: float,
    islands: np.ndarray | None = None,
    g2_band: Mapping | None = None,
    g2_note: str | None = None,
    best: tuple[float, float] | None = None,
    best_label: str | None = None,
    ylabel: str = "coupling $g$",
    level_label: str = r"2$\sigma$",
) -> "Figure":
    """Exclusion region in the (M, g) plane (log-log) with the (g−2)_μ band.

    The region Δχ² > ``threshold`` is filled and outlined by the Δχ² = ``threshold``
    contour lines, drawn on top so that allowed islands inside it stay visible; the
    islands are also shaded in their own colour. Contours are interpolated in
    (log10 M, log10 g), the coordinates in which the grid is regular. Masses whose row
    is all NaN (a scan still running) are hatched grey.

    Args:
        path: output image file.
        title: figure title.
        masses_gev: (n_m,) masses in GeV; couplings: (n_g,) couplings.
        delta_chi2: (n_m, n_g) Δχ² (NaN where not computed).
        threshold: Δχ² of the excluded region (6.18 for two parameters at 2σ).
        islands: optional (n_m, n_g) bool, allowed points disconnected from small g.
        g2_band: optional ``{"mass_gev": (k,), "central": (k,), "bands": {n_sigma:
            (lower (k,), upper (k,))}}`` couplings explaining (g−2)_μ.
        g2_note: legend text instead of the band (e.g. the model has no muon coupling).
        best: optional (M in GeV, g) of a best fit to mark with a star.
        best_label: its legend text (default: its coordinates).
        ylabel: y-axis label.
        level_label: name of the confidence level in the legend.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lm = np.log10(np.asarray(masses_gev, float))
    lg = np.log10(np.asarray(couplings, float))
    delta_chi2 = np.asarray(delta_chi2, float)
    single = lm.size == 1
    if single:  # one mass: draw its column as a strip 0.1 decade wide, not an empty plane
        centre = lm[0]
        lm = np.array([centre - 0.05, centre + 0.05])
        delta_chi2 = np.repeat(delta_chi2, 2, axis=0)
        if islands is not None:
            islands = np.repeat(np.asarray(islands), 2, axis=0)
    z = np.ma.masked_invalid(delta_chi2.T)  # (n_g, n_m) for contour
    fig = Figure(figsize=(7.6, 6.0), layout="constrained")
    ax = fig.subplots()
    excl_colour, edge_colour, island_colour = "#F3A5A5", "#9E1B1B", "#4E79A7"
    handles = [
        Patch(
            fc=excl_colour,
            ec=edge_colour,
            label=f"excluded at {level_label} ($\\Delta\\chi^2 > {threshold:.2f}$, 2 parameters)",
        )
    ]
    top = float(np.max(z)) if z.count() else threshold
    if top > threshold and lm.size > 1:
        ax.contourf(lm, lg, z, levels=[threshold, top + 1.0], colors=[excl_colour], zorder=1)
    if islands is not None and np.any(islands) and lm.size > 1:
        ax.contourf(
            lm,
            lg,
            np.asarray(islands, float).T,
            levels=[0.5, 1.5],
            colors=[island_colour],
            alpha=0.45,
            zorder=2,
        )
        handles.append(
            Patch(
                fc=island_colour,
                alpha=0.45,
                ec=edge_colour,
                label="allowed island (destructive interference)",
            )
        )
    pending = np.all(np.isnan(delta_chi2), axis=1)
    if np.any(pending) and lm.size > 1:
        half = 0.5 * np.diff(lm)
        lo = np.concatenate([[lm[0]], lm[1:] - half])
        hi = np.concatenate([lm[:-1] + half, [lm[-1]]])
        for k in np.nonzero(pending)[0]:
            ax.axvspan(lo[k], hi[k], fc="#F0F0F0", ec="#C8C8C8", lw=0, hatch="//", zorder=0.5)
        handles.append(Patch(fc="#F0F0F0", ec="#C8C8C8", hatch="//", label="not computed yet"))
    if z.count() and lm.size > 1:
        ax.contour(lm, lg, z, levels=[threshold], colors=[edge_colour], linewidths=1.3, zorder=4)
    if g2_band is not None:
        lmm = np.log10(np.asarray(g2_band["mass_gev"], float))
        if single:
            lmm = np.clip(lmm, lm[0], lm[-1])
        # opaque fills: a band drawn with transparency over the excluded region would take a
        # colour that matches neither its legend patch nor the exclusion; the exclusion
        # contour is drawn over the band so the boundary stays visible
        shades = {1.0: "#59A14F", 2.0: "#B8DCA9"}
        for n_sigma, (lo, hi) in sorted(g2_band["bands"].items(), reverse=True):
            colour = shades.get(float(n_sigma), "#DDEFD6")
            with np.errstate(divide="ignore"):
                ax.fill_between(lmm, np.log10(lo), np.log10(hi), color=colour, lw=0, zorder=2.5)
            handles.append(Patch(fc=colour, label=f"$(g-2)_\\mu$ at {n_sigma:g}$\\sigma$"))
        ax.plot(lmm, np.log10(g2_band["central"]), color="#2E6B2A", lw=1.0, ls="--", zorder=2.6)
    elif g2_note:
        handles.append(Patch(fc="none", ec="none", label=g2_note))
    if best is not None:
        ax.plot(
            [np.log10(best[0])],
            [np.log10(best[1])],
            marker="*",
            ms=12,
            color="black",
            ls="none",
            zorder=5,
            clip_on=False,
        )
        label = best_label or f"best fit (M = {best[0]:.3g} GeV, g = {best[1]:.2g})"
        handles.append(Line2D([], [], marker="*", ms=10, color="black", ls="none", label=label))
    x_lo, x_hi = (lm.mean() - 0.5, lm.mean() + 0.5) if single else (lm[0], lm[-1])
    if single:
        handles.append(
            Patch(
                fc="none",
                ec="none",
                label=f"one mass, M = {10 ** lm.mean():.3g} GeV (strip 0.1 decade)",
            )
        )
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(lg[0], lg[-1])
    _log10_ticks(ax.xaxis, x_lo, x_hi)
    _log10_ticks(ax.yaxis, lg[0], lg[-1])
    ax.set_xlabel("mediator mass $M$ [GeV]")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.35, lw=0.5, which="major")
    ax.set_axisbelow(False)
    ax.legend(handles=handles, loc="lower right", fontsize=8.5, framealpha=0.92)
    ax.set_title(title, fontsize=11)
    _save(fig, path)
    return fig
