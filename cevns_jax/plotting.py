"""Figures: prediction vs data projections, and SM vs light-mediator spectra.

Plotting consumes numpy arrays only and is never imported by the compute modules; the CLI
imports it lazily when ``--plot`` is given. matplotlib is used through the object API
(:class:`matplotlib.figure.Figure` with the Agg canvas), so no global backend or pyplot
state is touched and nothing needs a display.

Binned quantities are (n_e, n_t) arrays on energy × time bins; the figures show their
projections on each axis as step histograms. Bins of unequal width are drawn as densities
(events per unit), equal-width bins as events per bin.
"""

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["SOURCE_LABELS", "model_label", "plot_prediction", "plot_compare", "stack_labels"]

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
        nrows, ncols, squeeze=False, sharex="col",
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
        (1, np.asarray(edges_e, float), *_axis(np.asarray(edges_e, float), e_unit,
                                                "Reconstructed energy")),
        (0, np.asarray(edges_t, float), *_axis(np.asarray(edges_t, float), "us",
                                                "Arrival time")),
    )


def _data_points(ax, edges, values, variance, divisor, label):
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.errorbar(
        centres, values / divisor, yerr=np.sqrt(np.clip(variance, 0, None)) / divisor,
        xerr=0.5 * np.diff(edges), fmt="o", ms=4, color="black", ecolor="black",
        elinewidth=1.0, capsize=0, label=label, zorder=5,
    )


def _save(fig, path) -> None:
    fig.savefig(path, dpi=150)


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
) -> None:
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
            ax.stairs(top, edges, baseline=bottom, fill=True, color=colour, alpha=0.85,
                      label=label)
            bottom = top
        ax.stairs(bottom, edges, color="#333333", lw=1.0)
        for label, (counts, style) in (lines or {}).items():
            ax.stairs(np.asarray(counts, float).sum(axis=axis) / divisor, edges,
                      color="black" if style in ("-", "solid") else "#C44E52", lw=1.8,
                      ls=style, label=label)
        _data_points(ax, edges, np.asarray(data).sum(axis=axis),
                     np.asarray(data_variance).sum(axis=axis), divisor, data_label)
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.25, lw=0.5)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 1].legend(handles, labels, frameon=False, fontsize=9)
    if note:
        axes[0, 0].text(0.97, 0.96, note, transform=axes[0, 0].transAxes, ha="right",
                        va="top", multialignment="left", fontsize=9, family="monospace",
                        bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"})
    fig.suptitle(title)
    _save(fig, path)


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
) -> None:
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
        top.stairs(sm_proj / divisor, edges, baseline=None, color="black", lw=2.2,
                   label=f"SM ({sm.sum():.0f})")
        bottom.axhline(1.0, color="black", lw=1.0, ls="--", zorder=1)
        for i, (label, counts) in enumerate(items):
            colour = _MODEL_COLOURS[i % len(_MODEL_COLOURS)]
            proj = counts.sum(axis=axis)
            top.stairs(proj / divisor, edges, baseline=None, color=colour, lw=1.6,
                       label=f"{model_label(label)} ({counts.sum():.0f})")
            with np.errstate(divide="ignore", invalid="ignore"):
                bottom.stairs(np.where(sm_proj > 0, proj / sm_proj, np.nan), edges,
                              baseline=None, color=colour, lw=1.6)
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
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6),
               frameon=False, fontsize=9.5, title="CEvNS events in the analysis region",
               title_fontsize=9.5)
    fig.suptitle(title)
    _save(fig, path)


def stack_labels(source_names: Sequence[str]) -> tuple[str, ...]:
    """Legend labels for the package's source names (``cevns_jax.flux.SOURCES``)."""
    mapping = dict(zip(("nu_e", "nu_mu", "nubar_mu"), SOURCE_LABELS, strict=True))
    return tuple(mapping.get(s, s) for s in source_names)


def model_label(name: str) -> str:
    """Legend label of a registered model name: ``"L_mu-L_tau"`` -> ``$L_\\mu-L_\\tau$``."""
    if "_" not in name and "-" not in name:
        return name
    return "$" + name.replace("_mu", r"_\mu").replace("_tau", r"_\tau") + "$"
