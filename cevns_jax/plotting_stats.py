"""Figures of the statistics beyond Wilks: toy distributions and FC critical values, and the
Bayesian credible region against the profile-likelihood contour.

Same conventions as :mod:`cevns_jax.plotting`: numpy inputs, the object API, each function
writes exactly the file it is given and returns the Figure; :func:`plot_posterior_vs_profile`
takes the sampler's InferenceData and computes the profile-likelihood grid it is drawn
against.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .plotting import _figure, _save

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_credible_vs_profile", "plot_posterior_vs_profile", "plot_toys"]


def plot_toys(path, summary: Mapping, t: np.ndarray, *, title: str) -> "Figure":
    """Left: the toys' t(g_true) against χ²₁; right: FC critical values and t_obs(g).

    Args:
        path: output file.
        summary: :meth:`cevns_jax.coverage.ToyStudy.summary`.
        t: (n_toys,) the test statistic of the coverage toys.
        title: figure title.
    """
    from scipy import stats as sps

    fig, axes = _figure(2)
    ax = axes[0, 0]
    top = max(12.0, float(np.quantile(t, 0.99)))
    bins = np.linspace(0.0, top, 49)
    ax.hist(np.clip(t, 0, top), bins=bins, density=True, histtype="step", color="black",
            label=f"toys (n = {t.size})")  # fmt: skip
    x = np.linspace(bins[1] / 4, top, 400)
    ax.plot(x, sps.chi2.pdf(x, 1), color="#E15759", label=r"$\chi^2_1$")
    ax.axvline(4.0, color="grey", ls="--", lw=1)
    cov, err = summary["coverage_wilks"], summary["coverage_wilks_err"]
    ax.set(yscale="log", xlabel=r"$t = \Delta\chi^2(g_\mathrm{true})$", ylabel="density",
           title=f"P(t < 4) = {cov:.3f} ± {err:.3f} (Wilks: 0.954)")  # fmt: skip
    ax.legend(frameon=False)
    ax = axes[0, 1]
    gs = np.asarray(summary["fc_couplings"])
    ax.plot(gs, summary["fc_critical_values"], "o-", color="#4E79A7", label="FC critical value")
    ax.plot(gs, summary["fc_t_observed"], "s-", color="black", label=r"$t_\mathrm{obs}(g)$")
    ax.axhline(4.0, color="grey", ls="--", lw=1, label="Wilks, 4")
    ax.axvline(summary["wilks_upper_bound"], color="grey", ls=":", lw=1)
    if summary["fc_upper_bound"] is not None:
        ax.axvline(summary["fc_upper_bound"], color="#4E79A7", ls=":", lw=1)
    ax.set(xscale="log", xlabel="g", ylabel=r"$\Delta\chi^2$",
           title=f"FC bound {_text(summary['fc_upper_bound'])}, "
           f"Wilks {_text(summary['wilks_upper_bound'])}")  # fmt: skip
    ax.legend(frameon=False)
    fig.suptitle(title)
    _save(fig, path)
    return fig


def _text(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def plot_credible_vs_profile(
    path,
    *,
    log10_mass_mev: np.ndarray,
    log10_g: np.ndarray,
    scan_log10_mass: np.ndarray,
    scan_log10_g: np.ndarray,
    delta_chi2: np.ndarray,
    threshold: float,
    level: float,
    title: str,
) -> "Figure":
    """The posterior's highest-density credible region against the profile-likelihood
    contour, in (log10 M, log10 g). The region is the smallest set of cells of a smoothed
    2D histogram of the draws holding ``level`` of them.

    Args:
        path: output file.
        log10_mass_mev, log10_g: (n,) posterior draws.
        scan_log10_mass, scan_log10_g: (n_M,), (n_g,) axes of a profiled scan.
        delta_chi2: (n_M, n_g) Δχ² of the scan.
        threshold: Δχ² of the contour (e.g. 6.18 for 2σ with two parameters).
        level: credibility of the region (e.g. 0.9545).
        title: figure title.
    """
    fig, axes = _figure(1, size=(6.4, 5.0))
    ax = axes[0, 0]
    from scipy.ndimage import gaussian_filter

    # histogram smoothed over ~one bin, bins scaled to the number of draws
    n_bins = int(np.clip(np.sqrt(np.size(log10_g) / 10.0), 8, 40))
    hist, xe, ye = np.histogram2d(log10_mass_mev, log10_g, bins=n_bins, density=True)
    hist = gaussian_filter(hist, 1.0)
    flat = np.sort(hist.ravel())[::-1]
    cum = np.cumsum(flat) / flat.sum()
    cut = flat[min(np.searchsorted(cum, level), flat.size - 1)]
    xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
    ax.contourf(xc, yc, hist.T, levels=[cut, hist.max() * 1.01], colors=["#F28E2B"], alpha=0.45)
    ax.contour(xc, yc, hist.T, levels=[cut], colors=["#F28E2B"], linewidths=1.5)
    ax.contour(scan_log10_mass, scan_log10_g, np.asarray(delta_chi2).T, levels=[threshold],
               colors=["#4E79A7"], linewidths=1.8)  # fmt: skip
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax.legend(
        [Patch(color="#F28E2B", alpha=0.45), Line2D([], [], color="#4E79A7")],
        [f"{100 * level:.2f} % credible region (NUTS)",
         f"profile likelihood, Δχ² = {threshold:.2f}"],
        frameon=False, loc="lower right",
    )  # fmt: skip
    ax.set(xlabel=r"$\log_{10}(M / \mathrm{MeV})$", ylabel=r"$\log_{10} g$", title=title)
    _save(fig, path)
    return fig


def plot_posterior_vs_profile(
    path,
    idata,
    lik,
    charges,
    *,
    mass_range_gev: tuple[float, float],
    log10_g_range: tuple[float, float],
    title: str,
) -> "Figure":
    """:func:`plot_credible_vs_profile` of a NUTS posterior of (M, g) against the 2σ contour
    (two parameters) of the profiled χ² on a 30 × 60 grid over the prior ranges.

    Args:
        path: output file, or ``None``.
        idata: ArviZ InferenceData with ``log10_mass_mev`` and ``log10_g`` draws.
        lik: the likelihood sampled (joint or one experiment); charges: the model's.
        mass_range_gev: (lo, hi) mass prior range in GeV; log10_g_range: (lo, hi).
        title: figure title.
    """
    from .engine import profile_rows
    from .scan import CL_2SIGMA, DELTA_CHI2_2D

    lm = np.linspace(*np.log10(np.asarray(mass_range_gev) * 1e3), 30)
    lg = np.linspace(*log10_g_range, 60)
    chi2, _ = profile_rows(lik, charges, 10.0**lm, 10.0**lg)
    post = idata.posterior
    return plot_credible_vs_profile(
        path,
        log10_mass_mev=np.asarray(post["log10_mass_mev"]).ravel(),
        log10_g=np.asarray(post["log10_g"]).ravel(),
        scan_log10_mass=lm, scan_log10_g=lg, delta_chi2=chi2 - chi2.min(),
        threshold=DELTA_CHI2_2D, level=CL_2SIGMA, title=title,
    )  # fmt: skip
