"""Figure of the exclusion region in the (M, g) plane with the (g−2)_μ band.

:func:`plot_scan` draws numpy arrays; :func:`plot_scan_result` assembles it from a
:class:`~cevns_jax.scan_result.ScanResult`: the band of the model's muon coupling, the
best fit and the axis label of the model's kind. Conventions: :mod:`cevns_jax.plotting`.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .plotting import _save, model_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["g2_band_curves", "plot_scan", "plot_scan_result"]

_N_BAND = 400  # masses of the (g-2)_mu band curve


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
        path: output image file, or ``None``.
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


def g2_band_curves(charges, masses_gev: np.ndarray, n_masses: int = _N_BAND) -> dict | None:
    """The (g−2)_μ band of :func:`plot_scan` on ``n_masses`` log-spaced masses spanning
    ``masses_gev`` (GeV), or ``None`` when the model does not couple to the muon.

    Returns:
        ``{"mass_gev": (n_masses,), "central": (n_masses,), "bands": {n_sigma: (lower,
        upper)}}``
        (numpy; 1σ and 2σ bands).
    """
    from . import constants as c
    from .g2 import g2_band

    mm = np.geomspace(masses_gev[0], masses_gev[-1], n_masses)
    band = g2_band(mm * c.MEV_PER_GEV, charges)
    central = np.asarray(band.central)
    if not np.all(np.isfinite(central)):
        return None
    lower, upper = np.asarray(band.lower), np.asarray(band.upper)
    bands = {float(n): (lower[:, k], upper[:, k]) for k, n in enumerate(np.asarray(band.n_sigma))}
    return {"mass_gev": mm, "central": central, "bands": bands}


def plot_scan_result(path, res, model: str, *, data_title: str) -> "Figure":
    """:func:`plot_scan` of one model's scan: the 2σ region (two parameters), its islands,
    the (g−2)_μ band (or a note without muon coupling) and the best fit, marked only where
    it is not at the smallest coupling (the SM limit).

    Args:
        path: output image file, or ``None``.
        res: the model's :class:`~cevns_jax.scan_result.ScanResult`.
        model: registered model name (charges, kind, title).
        data_title: title of the data set(s) scanned.
    """
    from .charges import MODELS, get_model
    from .scan import DELTA_CHI2_2D

    band = g2_band_curves(get_model(model), res.masses_gev)
    best = best_label = None
    _, m_best, g_best = res.best()
    if g_best > res.couplings[0]:
        best = (m_best, g_best)
        i = int(np.argmin(np.abs(res.masses_gev - best[0])))
        d0 = float(res.delta_chi2()[i, 0])
        best_label = (
            f"best fit (M = {best[0]:.3g} GeV, g = {best[1]:.2g}; "
            f"$\\Delta\\chi^2$ of $g \\to 0$: {d0:.2f})"
        )
    scalar = MODELS[model].kind == "scalar"
    return plot_scan(
        path,
        title=f"{model_label(model)} mediator — {data_title}: 2σ exclusion",
        masses_gev=res.masses_gev,
        couplings=res.couplings,
        delta_chi2=res.delta_chi2(),
        threshold=DELTA_CHI2_2D,
        islands=res.islands(),
        g2_band=band,
        g2_note=None if band is not None else "$(g-2)_\\mu$: no muon coupling",
        best=best,
        best_label=best_label,
        ylabel=r"effective coupling $\tilde g$" if scalar else "coupling $g$",
    )
