"""Figure of the CEvNS spectra of the SM and of light mediators, with ratios to the SM.

:func:`plot_compare` draws numpy arrays; :func:`plot_compare_models` assembles it from a
likelihood, the predicted counts and the nominal backgrounds. Conventions:
:mod:`cevns_jax.plotting`.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .plotting import _binning, _data_points, _figure, _projections, _save, mass_label, model_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_compare", "plot_compare_models"]

_MODEL_COLOURS = ("#E15759", "#4E79A7", "#59A14F", "#B07AA1", "#F28E2B", "#76B7B2", "#EDC948")


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
        path: output image file, or ``None``.
        title: figure title.
        e_edges, t_edges, e_unit: binning (see
            :func:`~cevns_jax.plotting_prediction.plot_prediction`).
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


def plot_compare_models(
    path,
    lik,
    *,
    title: str,
    sm: np.ndarray,
    models: Mapping[str, np.ndarray],
    mass_gev: float,
    coupling: float,
    backgrounds: Mapping[str, np.ndarray],
) -> "Figure":
    """:func:`plot_compare` of predicted counts, with the data minus every nominal
    background (the steady state ``"ss"`` and the others) and the likelihood's variance.

    Args:
        path: output image file, or ``None``.
        lik: the data set's likelihood (observed data, variance, binning).
        title: the data set's title.
        sm: (n_sources, n_e, n_t) SM CEvNS counts.
        models: model name -> (n_sources, n_e, n_t) CEvNS counts at ``mass_gev``
            (GeV) and ``coupling`` (shown in the title).
        backgrounds: name -> (n_e, n_t) nominal background expectations.
    """
    exp = lik.experiment
    rest = sum(v for k, v in backgrounds.items() if k != "ss")
    return plot_compare(
        path,
        title=f"{title}: CEvNS for the SM and light mediators "
        f"(M = {mass_label(mass_gev)}, g = {coupling:g})",
        **_binning(exp),
        sm=sm.sum(axis=0),
        models={n: c.sum(axis=0) for n, c in models.items()},
        data=np.asarray(exp.observed) - backgrounds["ss"] - rest,
        data_variance=np.asarray(lik.subtracted_variance()),
        data_label="data − nominal backgrounds",
    )
