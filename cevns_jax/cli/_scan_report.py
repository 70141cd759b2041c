"""The text report of ``cevns-jax scan``: the grid summary and the allowed edge per decade."""

import numpy as np

from ._common import info
from ._output import format_table

__all__ = ["print_scan_report", "run_summary"]


def run_summary(res, wall_s: float, n_computed: int) -> dict:
    """The grid's summary (:meth:`cevns_jax.scan_result.ScanResult.summary`) with this
    run's rows computed and resumed and its wall time (s)."""
    return {
        **res.summary(),
        "rows_computed": n_computed,
        "rows_resumed": int(res.done.sum()) - n_computed,
        "wall_time_s": wall_s,
    }


def print_scan_report(title, model, data, res, s, out_path) -> None:
    """Print the scan's summary ``s`` (:func:`run_summary` plus the run's chunks) and the
    upper edge of the allowed region at one mass per decade."""
    print(
        f"{model} on {title} ({data}): profiled chi2 scan, 2σ exclusion for two parameters "
        f"(Δχ² > {s['delta_chi2_threshold']:.2f})\n"
    )
    m, g = res.masses_gev, res.couplings
    per_row = ""
    if s["rows_computed"]:
        per_row = f" ({s['wall_time_s'] / s['rows_computed_all_models']:.2f} s per row)"
    rows = [
        [
            "grid",
            f"{m.size} masses {m[0]:g}..{m[-1]:g} GeV x {g.size} couplings "
            f"{g[0]:.3g}..{g[-1]:.3g} (log-spaced)",
        ],
        [
            "grid minimum",
            f"χ² = {s['chi2_min']:.3f} at M = {s['best_mass_gev']:.4g} GeV, "
            f"g = {s['best_coupling']:.4g}",
        ],
        [
            "Δχ² at the smallest g",
            f"{s['delta_chi2_smallest_g']['min']:.3f} to "
            f"{s['delta_chi2_smallest_g']['max']:.3f} (over the masses)",
        ],
        ["excluded at 2σ", f"{100 * s['fraction_excluded']:.1f} % of the grid"],
        [
            "allowed islands",
            "none"
            if not s["n_islands"]
            else f"{s['n_islands']} region(s), {s['island_points']} points, M = "
            f"{s['island_mass_range_gev'][0]:.3g}..{s['island_mass_range_gev'][1]:.3g} GeV",
        ],
        [
            "not converged near the boundary",
            f"{s['unconverged_near_boundary']} of {s['points_near_boundary']} (Δχ² < 12.4)",
        ],
        ["rows", f"{s['rows_computed']} computed, {s['rows_resumed']} resumed from {out_path}"],
        [
            "chunks",
            f"{s['tasks']['computed']} of {s['tasks']['total']} computed on {s['executor']}"
            + (f" ({s['models_in_run']} models per chunk)" if s["models_in_run"] > 1 else ""),
        ],
        [
            "wall time",
            f"{s['wall_time_s']:.1f} s{per_row}"
            + (" for all models" if s["models_in_run"] > 1 else ""),
        ],
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    edge, islands = res.connected_edge(), res.islands()
    pick = sorted(
        {
            int(np.argmin(np.abs(np.log10(m) - x)))
            for x in np.arange(np.ceil(np.log10(m[0])), np.log10(m[-1]) + 1e-9)
        }
    )
    if pick:
        print("\nupper edge of the allowed region containing small g (log interpolation):\n")
        table = [
            [
                f"{m[i]:.4g}",
                "-" if not np.isfinite(edge[i]) else f"{edge[i]:.3e}",
                "-" if not np.isfinite(edge[i]) else f"{edge[i] / m[i]:.3e}",
                "yes" if islands[i].any() else "no",
            ]
            for i in pick
        ]
        print(format_table(["M [GeV]", "g", "g/M [1/GeV]", "island"], table, left=0))
    if s["top_row_allowed"]:
        info("warning: some masses are allowed at the largest coupling; extend --g-range")
