"""``cevns-jax scan``: the 2σ exclusion region of one light mediator in the (M, g) plane.

Thin wrapper over :func:`cevns_jax.scan.scan_grid`: validate the options, build the
experiments, scan the profiled χ² on a log-spaced (M, g) grid in batched blocks of rows
(saved after every block, resumed when rerun), print a summary, optionally write CSV,
JSON (with provenance) and the exclusion figure with the (g−2)_μ band.
"""

import argparse
import time

import numpy as np

from ._common import (
    add_data_dir,
    add_json,
    add_plot,
    add_settings,
    check_output,
    format_table,
    info,
    parse_set,
    write_json,
    wrote_figure,
)

__all__ = ["register", "run", "default_out"]

_N_BAND = 400  # masses of the (g-2)_mu band curve
_MAX_POINTS = 2000  # per grid axis

_DESCRIPTION = """\
Scan the profiled chi2 of one light mediator on a (mass, coupling) grid and draw the
2 sigma exclusion region (95.45 % C.L. for two parameters: Delta chi2 > 6.18 above the grid
minimum; nuisances profiled at every point).

The grid is log-spaced in both M (--mass-range, GeV) and g (--g-range). The default g range
depends on the model: 1e-6..1 for models coupling to quarks (and the scalar), bounded at
g ~ 3e-5 (1 MeV) to ~4e-2 (10 GeV); 1e-5..10 for leptophilic models (L_e-L_mu, L_e-L_tau,
L_mu-L_tau), which reach nuclei only through the lepton loop and are bounded at g ~ 2e-3
to ~1. Both reach well below and above the bounds of the default mass range.

The chi2 is computed one mass row at a time; after each row the grid is saved atomically to
--out (default scan_<model>_<data>.npz). Rerunning the same command resumes: finished rows
are kept, missing ones computed. A file holding a different scan (grid, model, data,
likelihood settings) is refused: choose another --out or delete it.

Vector models with destructive interference (e.g. universal, B_y+L_mu+L_tau, L_mu-L_tau
at high mass) can have allowed islands at larger g, where the weak charge of one flavour
flips sign; the summary counts them and the figure shades them. Islands are narrow
(~0.1 decade in g, grid step 0.06 decade by default) and break into pieces where their
minimum is close to the threshold; a larger --n-g or a narrower --g-range resolves them.

--plot FILE draws the (M, g) plane: the excluded region filled, the Delta chi2 = 6.18
contour drawn over it (enclosed allowed islands stay visible and are shaded), and the
(g-2)_mu band at 1 and 2 sigma for the model's muon coupling. --csv FILE writes the grid
in long format (mass_gev, g, chi2, delta_chi2, converged); --json FILE the summary, the
upper edge (per mass) of the allowed region containing small g (null where the whole
column is allowed or the smallest g excluded) and the run's provenance.
"""

_EPILOG = """\
examples:
  cevns-jax scan --model B-L --data csi+lar --plot bl.png
  cevns-jax scan --model universal --data lar --n-mass 50 --n-g 80 --csv universal.csv
  cevns-jax scan --model L_mu-L_tau --data csi --g-range 1e-4 3 --out lmt.npz --plot lmt.png
"""


def register(subparsers) -> None:
    """Add the ``scan`` subcommand."""
    from ..registry import DATASETS

    p = subparsers.add_parser(
        "scan",
        help="2σ exclusion region of one light mediator on an (M, g) grid (resumable)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        required=True,
        help="light-mediator model, e.g. B-L, universal, L_mu-L_tau, scalar "
        "(list: cevns-jax models)",
    )
    p.add_argument(
        "--data",
        choices=tuple(DATASETS),
        required=True,
        help="data set: csi (CsI[Na] 2021), lar (CENNS-10 LAr 2020) or csi+lar "
        "(chi2 summed, independent nuisances)",
    )
    p.add_argument(
        "--n-mass",
        type=int,
        default=100,
        metavar="N",
        help="number of masses, log-spaced (default 100)",
    )
    p.add_argument(
        "--n-g",
        type=int,
        default=100,
        metavar="N",
        help="number of couplings, log-spaced (default 100)",
    )
    p.add_argument(
        "--mass-range",
        type=float,
        nargs=2,
        default=(1e-3, 10.0),
        metavar=("M_MIN", "M_MAX"),
        help="mass range in GeV (default 1e-3 10)",
    )
    p.add_argument(
        "--g-range",
        type=float,
        nargs=2,
        metavar=("G_MIN", "G_MAX"),
        help="coupling range (default: 1e-6 1 for models coupling to quarks and "
        "the scalar, 1e-5 10 for leptophilic models)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.npz",
        help="grid file, written after every mass row and resumed from when it "
        "exists (default scan_<model>_<data>.npz)",
    )
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the grid in long format (mass_gev, g, chi2, delta_chi2, "
        "converged) with a commented provenance header",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_data_dir(p)
    add_settings(p)
    add_json(p)
    add_plot(p, "the (M, g) exclusion figure with the (g-2)_mu band")
    p.set_defaults(func=run)


def default_out(model: str, data: str) -> str:
    """Default grid file name: ``scan_<model>_<data>.npz``."""
    return f"scan_{model}_{data}.npz"


def _validate(args):
    """Check the options before any data are read; returns (charges, masses_mev, couplings)."""
    from .. import constants as c
    from ..charges import get_model
    from ..errors import ConfigError
    from ..scan import default_coupling_range

    charges = get_model(args.model)
    if args.n_mass < 1 or args.n_g < 2:
        raise ConfigError(f"--n-mass must be >= 1 and --n-g >= 2, got {args.n_mass}, {args.n_g}")
    if args.n_mass > _MAX_POINTS or args.n_g > _MAX_POINTS:
        raise ConfigError(
            f"--n-mass {args.n_mass} / --n-g {args.n_g}: at most {_MAX_POINTS} each (a "
            f"{_MAX_POINTS} x {_MAX_POINTS} grid already takes days). Fix: use fewer points "
            "or a narrower --mass-range/--g-range"
        )
    m_lo, m_hi = args.mass_range
    g_lo, g_hi = default_coupling_range(charges) if args.g_range is None else args.g_range
    for option, lo, hi in (("--mass-range", m_lo, m_hi), ("--g-range", g_lo, g_hi)):
        if not (0.0 < lo and np.isfinite(lo) and np.isfinite(hi)):
            raise ConfigError(f"{option} {lo:g} {hi:g}: both ends must be positive and finite")
        if not lo < hi:
            raise ConfigError(f"{option} {lo:g} {hi:g}: the first value must be the smaller")
    masses = np.geomspace(m_lo, m_hi, args.n_mass)
    return charges, masses * c.MEV_PER_GEV, np.geomspace(g_lo, g_hi, args.n_g)


def _g2(charges, masses_gev):
    """(g−2)_μ band dict for :func:`plotting.plot_scan`, or None without muon coupling."""
    from .. import constants as c
    from ..g2 import g2_band

    mm = np.geomspace(masses_gev[0], masses_gev[-1], _N_BAND)
    band = g2_band(mm * c.MEV_PER_GEV, charges)
    central = np.asarray(band.central)
    if not np.all(np.isfinite(central)):
        return None
    lower, upper = np.asarray(band.lower), np.asarray(band.upper)
    bands = {float(n): (lower[:, k], upper[:, k]) for k, n in enumerate(np.asarray(band.n_sigma))}
    return {"mass_gev": mm, "central": central, "bands": bands}


def _summary(res, wall_s: float, n_computed: int) -> dict:
    import scipy.ndimage

    from ..scan import CL_2SIGMA, DELTA_CHI2_2D

    chi2_min, m_best, g_best = res.best()
    d = res.delta_chi2()
    excluded = res.excluded()
    islands = res.islands()
    _, n_islands = scipy.ndimage.label(islands)
    relevant = (d < 2.0 * DELTA_CHI2_2D) & res.done[:, None]
    island_masses = res.masses_gev[np.any(islands, axis=1)]
    return {
        "chi2_min": chi2_min,
        "best_mass_gev": m_best,
        "best_coupling": g_best,
        "delta_chi2_smallest_g": {
            "min": float(np.nanmin(d[:, 0])),
            "max": float(np.nanmax(d[:, 0])),
        },
        "confidence_level": CL_2SIGMA,
        "delta_chi2_threshold": DELTA_CHI2_2D,
        "fraction_excluded": float(excluded[res.done].mean()),
        "n_islands": int(n_islands),
        "island_points": int(islands.sum()),
        "island_mass_range_gev": [float(island_masses[0]), float(island_masses[-1])]
        if island_masses.size
        else None,
        "unconverged_near_boundary": int(np.sum(relevant & ~res.converged)),
        "points_near_boundary": int(relevant.sum()),
        "top_row_allowed": bool(np.any(~excluded[res.done, -1])),
        "rows_computed": n_computed,
        "rows_resumed": int(res.done.sum()) - n_computed,
        "wall_time_s": wall_s,
    }


def _print(title, model, data, res, s, out_path) -> None:
    print(
        f"{model} on {title} ({data}): profiled chi2 scan, 2σ exclusion for two parameters "
        f"(Δχ² > {s['delta_chi2_threshold']:.2f})\n"
    )
    m, g = res.masses_gev, res.couplings
    per_row = ""
    if s["rows_computed"]:
        per_row = f" ({s['wall_time_s'] / s['rows_computed']:.2f} s per row)"
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
        ["wall time", f"{s['wall_time_s']:.1f} s{per_row}"],
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


def run(args) -> int:
    """Run ``cevns-jax scan`` on parsed arguments; returns the exit code."""
    from ..errors import ConfigError

    charges, masses_mev, couplings = _validate(args)
    out_path = check_output(args.out or default_out(args.model, args.data), "--out")
    csv_path = check_output(args.csv, "--csv")
    json_path = check_output(args.json, "--json")
    plot_path = check_output(args.plot, "--plot", figure=True)

    from ..provenance import provenance
    from ..scan import DELTA_CHI2_2D, load_scan, scan_grid
    from .bounds import build_data_experiments, data_files, likelihood_settings

    files = data_files([args.data])
    config = {
        "command": "scan",
        "model": args.model,
        "data": args.data,
        "mass_range_gev": list(args.mass_range),
        "n_mass": args.n_mass,
        "g_range": [float(couplings[0]), float(couplings[-1])],
        "n_g": args.n_g,
        "out": str(out_path),
        "delta_chi2_threshold": DELTA_CHI2_2D,
    }
    n_before = 0
    if out_path.exists():  # fail on a mismatching file before building the experiments
        old = load_scan(out_path)
        same = old.masses_mev.shape == masses_mev.shape and old.couplings.shape == couplings.shape
        same = same and np.allclose(old.masses_mev, masses_mev, rtol=1e-12, atol=0)
        same = same and np.allclose(old.couplings, couplings, rtol=1e-12, atol=0)
        same = same and old.metadata.get("model") == args.model
        same = same and old.metadata.get("data") == args.data
        if not same:
            raise ConfigError(
                f"--out {out_path} holds a different scan (model {old.metadata.get('model')}, "
                f"data {old.metadata.get('data')}, {old.masses_mev.size} x {old.couplings.size} "
                "grid or other ranges). Choose another --out or delete the file to start afresh"
            )
        n_before = int(old.done.sum())
        info(f"resuming {out_path}: {n_before}/{old.done.size} rows done")
    from ..registry import build_likelihood

    # named physics settings (--set): experiment-level ones build the experiments,
    # likelihood-level ones go into the settings (cevns_jax.settings)
    overrides = parse_set(args.set, [args.data])
    config["settings"] = overrides.as_dict()
    experiments = build_data_experiments([args.data], args.data_dir, overrides)
    lik = build_likelihood(
        args.data, experiments=experiments, settings=likelihood_settings([args.data], overrides)
    )
    prov = provenance(config, files, args.data_dir)
    start = time.perf_counter()
    try:
        res = scan_grid(
            charges,
            lik,
            masses_mev,
            couplings,
            out_path=out_path,
            progress=not args.no_progress,
            model=args.model,
            provenance=prov,
        )
    except KeyboardInterrupt:
        done = int(load_scan(out_path).done.sum()) if out_path.exists() else 0
        info(
            f"interrupted: {done}/{masses_mev.size} rows saved in {out_path}; rerun the same "
            "command to resume"
        )
        return 130
    wall = time.perf_counter() - start
    info(f"grid saved in {out_path}")
    summary = _summary(res, wall, int(res.done.sum()) - n_before)
    from ..registry import data_set

    title = " + ".join(e.title for e in data_set(args.data))
    _print(title, args.model, args.data, res, summary, out_path)

    if csv_path is not None:
        res.to_csv(csv_path)
        info(f"wrote {csv_path}")
    if json_path is not None:
        edge = res.connected_edge()
        write_json(
            json_path,
            {
                "model": args.model,
                "data": args.data,
                "summary": summary,
                "grid_file": str(out_path),
                "masses_gev": res.masses_gev,
                "couplings": res.couplings,
                "connected_edge_g": [None if not np.isfinite(e) else float(e) for e in edge],
                "charges": res.metadata["charges"],
                "provenance": prov,
            },
        )
    if plot_path is not None:
        _plot(plot_path, args, charges, res, summary, title)
        wrote_figure(plot_path)
    return 0


def _plot(path, args, charges, res, summary, title) -> None:
    from .. import plotting
    from ..charges import MODELS
    from ..scan import DELTA_CHI2_2D

    band = _g2(charges, res.masses_gev)
    # mark the best fit only where it is not at the smallest coupling (the SM limit)
    best = best_label = None
    if summary["best_coupling"] > res.couplings[0]:
        best = (summary["best_mass_gev"], summary["best_coupling"])
        i = int(np.argmin(np.abs(res.masses_gev - best[0])))
        d0 = float(res.delta_chi2()[i, 0])
        best_label = (
            f"best fit (M = {best[0]:.3g} GeV, g = {best[1]:.2g}; "
            f"$\\Delta\\chi^2$ of $g \\to 0$: {d0:.2f})"
        )
    scalar = MODELS[args.model].kind == "scalar"
    plotting.plot_scan(
        path,
        title=f"{plotting.model_label(args.model)} mediator — {title}: 2σ exclusion",
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
