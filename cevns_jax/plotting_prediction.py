"""Figures of a prediction or an SM fit against the data: energy and time projections.

:func:`plot_prediction` draws numpy arrays; :func:`plot_sm_fit` and
:func:`plot_prediction_vs_data` assemble its stack, lines and note from an SM fit
(:class:`~cevns_jax.fit.SMFit`) or a likelihood and predicted counts. Conventions:
:mod:`cevns_jax.plotting`.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .plotting import (
    _binning,
    _data_points,
    _figure,
    _projections,
    _save,
    mass_label,
    model_label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SOURCE_LABELS",
    "plot_prediction",
    "plot_prediction_vs_data",
    "plot_sm_fit",
    "stack_labels",
]

#: Legend labels of the three neutrino sources, in the package's source order.
SOURCE_LABELS = (r"CEvNS $\nu_e$", r"CEvNS $\nu_\mu$ (prompt)", r"CEvNS $\bar\nu_\mu$")
_SOURCE_COLOURS = ("#4C72B0", "#DD8452", "#55A868")
_OTHER_COLOURS = ("#8C8C8C", "#B07AA1", "#9C755F", "#BAB0AC")


def stack_labels(source_names: Sequence[str]) -> tuple[str, ...]:
    """Legend labels for the package's source names (``cevns_jax.flux.SOURCES``)."""
    mapping = dict(zip(("nu_e", "nu_mu", "nubar_mu"), SOURCE_LABELS, strict=True))
    return tuple(mapping.get(s, s) for s in source_names)


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
        path: output image file, or ``None``.
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


def plot_sm_fit(path, fit, *, title: str) -> "Figure":
    """Data minus the fitted steady state against the stacked best-fit components.

    Args:
        path: output image file, or ``None``.
        fit: an :class:`~cevns_jax.fit.SMFit`; its likelihood gives the SM CEvNS
            prediction (dashed line, with the fitted neutron backgrounds) and the errors.
        title: the data set's title (the figure title adds ": SM fit").
    """
    lik = fit.likelihood
    comps = fit.fitted_components
    labels = lik.component_labels
    stack = {labels[k]: v for k, v in comps.items() if k not in ("cevns", "ss")}
    neutrons = sum(stack.values())
    stack[f"CEvNS best fit ({fit.cevns_fitted:.0f})"] = comps["cevns"]
    sm = np.asarray(lik.components(lik.nominal(), fit.signal)["cevns"])
    bkg_label = " + ".join(labels[k] for k in comps if k not in ("cevns", "ss"))
    lines = {f"SM CEvNS ({fit.cevns_predicted:.0f}) + fitted {bkg_label}": (sm + neutrons, "--")}
    # a per-bin profiled steady state is not a component (CsI steady_state=per_bin)
    ss = comps.get("ss")
    if ss is None:
        ss = np.asarray(lik.steady_state(fit.best_fit.nuisances, fit.signal))
    note = (
        f"{'CEvNS':<8}{fit.cevns_fitted:7.1f} ± {fit.cevns_fitted_err:.1f}\n"
        f"{'signif.':<8}{fit.significance_sigma:7.2f} σ\n"
        f"{'χ²/ndof':<8}{fit.chi2_min:7.1f} / {fit.ndof}"
    )
    return plot_prediction(
        path, title=f"{title}: SM fit", **_binning(lik.experiment), stack=stack,
        data=np.asarray(lik.experiment.observed) - ss,
        data_variance=np.asarray(lik.subtracted_variance()),
        data_label="data − fitted steady state", lines=lines, note=note,
    )  # fmt: skip


def plot_prediction_vs_data(
    path,
    lik,
    *,
    title: str,
    sm: np.ndarray,
    backgrounds: Mapping[str, np.ndarray],
    released: np.ndarray | None = None,
    model: tuple[str, float, float] | None = None,
    model_counts: np.ndarray | None = None,
    fit=None,
) -> "Figure":
    """A prediction (CEvNS stacked by source over the neutron backgrounds) against the data
    minus the steady state; the labels and the note say which backgrounds were used.

    Args:
        path: output image file, or ``None``.
        lik: the data set's likelihood (observed data, variance, component labels).
        title: the data set's title.
        sm: (n_sources, n_e, n_t) SM CEvNS counts.
        backgrounds: name -> (n_e, n_t) nominal background expectations (with ``"ss"``,
            the steady state); used when ``fit`` is ``None``.
        released: optional (n_e, n_t) released COHERENT CEvNS template (dashed line).
        model: optional (name, mass in GeV, coupling) of a light mediator, whose
            ``model_counts`` (n_sources, n_e, n_t) are then stacked instead of the SM
            (the SM is drawn as a line).
        fit: optional :class:`~cevns_jax.fit.SMFit` whose best-fit backgrounds are
            subtracted and stacked instead of the nominal ones.
    """
    from .flux import SOURCES

    exp = lik.experiment
    counts = sm if model is None else model_counts
    which = "nominal" if fit is None else "fitted"
    bkg = backgrounds
    if fit is not None:  # every fitted component but CEvNS
        bkg = {k: np.asarray(v) for k, v in fit.fitted_components.items() if k != "cevns"}
    data = np.asarray(exp.observed) - bkg["ss"]
    var = np.asarray(lik.subtracted_variance())
    stack = {f"{lik.component_labels[k]} ({which})": v for k, v in bkg.items() if k != "ss"}
    neutron_names = " + ".join(lik.component_labels[k] for k in bkg if k != "ss")
    for label, c in zip(stack_labels(SOURCES), counts, strict=True):
        stack[label] = c
    neutrons = sum((v for k, v in bkg.items() if k != "ss"), 0.0)
    lines = {}
    what = "SM"
    if model is not None:
        what = f"{model_label(model[0])} (M = {mass_label(model[1])}, g = {model[2]:g})"
        lines[f"SM prediction + {neutron_names}"] = (sm.sum(axis=0) + neutrons, "-")
    if released is not None:
        lines[f"COHERENT CEvNS template ({released.sum():.0f})"] = (released, "--")
    note_rows = [("CEvNS predicted", f"{counts.sum():8.1f}")]
    if fit is not None:
        note_rows.append(("CEvNS SM fit", f"{fit.cevns_fitted:8.1f} ± {fit.cevns_fitted_err:.1f}"))
    note_rows.append((f"{neutron_names} {which}", f"{np.sum(neutrons):8.1f}"))
    signal = data.sum() - np.sum(neutrons)
    note_rows.append((f"data − {which} bkg", f"{signal:8.1f} ± {np.sqrt(var.sum()):.1f}"))
    width = max(len(k) for k, _ in note_rows)
    subtitle = (
        "backgrounds from the SM fit of the data"
        if fit is not None
        else "nominal (unfitted) backgrounds"
    )
    return plot_prediction(
        path,
        title=f"{title}: {what} prediction vs data ({subtitle})",
        **_binning(exp),
        stack=stack,
        data=data,
        data_variance=var,
        data_label=f"data − {which} steady state",
        lines=lines,
        note="\n".join(f"{k:<{width}} {v}" for k, v in note_rows),
    )
