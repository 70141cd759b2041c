"""Figure conventions and the helpers every figure module shares.

The figures live in one module per job: :mod:`cevns_jax.plotting_prediction` (prediction
or SM fit vs data projections), :mod:`cevns_jax.plotting_compare` (SM vs light-mediator
spectra), :mod:`cevns_jax.plotting_bounds` (Δχ² of the bounds),
:mod:`cevns_jax.plotting_scan` ((M, g) exclusion regions), :mod:`cevns_jax.plotting_stats`
(toys, posterior) and :mod:`cevns_jax.cryo_plots` (future detectors). They are never
imported by the compute modules; the CLI imports them lazily when ``--plot`` is given.

Conventions: matplotlib is used through the object API
(:class:`matplotlib.figure.Figure` with the Agg canvas), so no global backend or pyplot
state is touched and nothing needs a display. Each ``plot_*`` function takes the output
path first, writes exactly that file (format from the suffix, PNG without one; nothing
with ``None``) and returns the Figure. The array-level functions consume numpy arrays;
the result-level ones (``plot_sm_fit``, ``plot_scan_result``, ...) take the package's
result objects and assemble the labels and notes the CLI shows.

Binned quantities are (n_e, n_t) arrays on energy × time bins; the figures show their
projections on each axis as step histograms. Bins of unequal width are drawn as densities
(events per unit), equal-width bins as events per bin.
"""

import numpy as np

__all__ = ["mass_label", "model_label"]

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
    """(summed axis, edges, divisor, y label, x label) of the energy and time panels."""
    return (
        (
            1,
            np.asarray(edges_e, float),
            *_axis(np.asarray(edges_e, float), e_unit, "Reconstructed energy"),
        ),
        (0, np.asarray(edges_t, float), *_axis(np.asarray(edges_t, float), "us", "Arrival time")),
    )


def _binning(exp) -> dict:
    """The ``e_edges``, ``t_edges`` and ``e_unit`` arguments of an experiment."""
    return {
        "e_edges": np.asarray(exp.e_edges),
        "t_edges": np.asarray(exp.t_edges),
        "e_unit": exp.e_unit,
    }


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
    """Write the figure to exactly ``path`` (nothing when it is ``None``): the format is
    the suffix's, PNG without one (matplotlib alone would append ".png" and write another
    file than the one named)."""
    if path is None:
        return
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


def model_label(name: str) -> str:
    """Legend label of a registered model name: ``"L_mu-L_tau"`` -> ``$L_\\mu-L_\\tau$``."""
    if "_" not in name and "-" not in name:
        return name
    return "$" + name.replace("_mu", r"_\mu").replace("_tau", r"_\tau") + "$"


def mass_label(mass_gev: float) -> str:
    """A mediator mass in MeV below 1 GeV, else in GeV: ``0.01`` -> ``"10 MeV"``."""
    return f"{mass_gev * 1e3:g} MeV" if mass_gev < 1.0 else f"{mass_gev:g} GeV"
