"""``cevns-jax scan``: the 2σ exclusion regions of light mediators in the (M, g) plane.

Thin wrapper over :func:`cevns_jax.scan.scan_models`: validate the options, build the
experiments, scan the profiled χ² of one or several models on a log-spaced (M, g) grid in
chunks (each written as its own file, resumed when rerun) here or on a Dask cluster
(:data:`EXECUTORS`), print a summary per model, optionally write CSV, JSON (with
provenance) and the exclusion figure with the (g−2)_μ band, one of each per model.
"""

import time
from pathlib import Path

import numpy as np

from ..executors import DaskExecutor, LocalExecutor
from ._common import (
    add_command,
    add_data_dir,
    add_model_data,
    add_outputs,
    add_settings,
    check_output,
    info,
    parse_set,
)
from ._output import write_json, wrote_figure
from ._scan_report import print_scan_report, run_summary

__all__ = ["EXECUTORS", "register", "run", "default_out"]

_MAX_POINTS = 2000  # per grid axis

_DESCRIPTION = """\
Scan the profiled chi2 of one or several light mediators on a (mass, coupling) grid and
draw the 2 sigma exclusion region (95.45 % C.L. for two parameters: Delta chi2 > 6.18 above
the grid minimum; nuisances profiled at every point).

The grid is log-spaced in both M (--mass-range, GeV) and g (--g-range). The default g range
depends on the model: 1e-6..1 for models coupling to quarks (and the scalar), bounded at
g ~ 3e-5 (1 MeV) to ~4e-2 (10 GeV); 1e-5..10 for leptophilic models (L_e-L_mu, L_e-L_tau,
L_mu-L_tau), which reach nuclei only through the lepton loop and are bounded at g ~ 2e-3
to ~1. Both reach well below and above the bounds of the default mass range.

--model takes one model, a comma-separated list (B-L,universal,scalar) or "all"; the models
are evaluated together, in the same compiled calls, and each gets its own outputs: with
several models, --out, --csv, --json and --plot must contain {model}, replaced by each
model's name (default --out scan_{model}_<data>.npz).

The grid is cut into chunks (--chunk-masses x --chunk-couplings points, for all the
models), independent tasks; each finished chunk is written atomically as its own file in
the directory next to --out (scan_B-L_lar.npz -> scan_B-L_lar.chunks/), and the .npz is
assembled from them at the end (or on Ctrl-C). Rerunning the same command resumes: chunks
on disk are kept, only the missing ones computed, however the last run ended. A file or
chunk directory holding a different scan (grid, model, data, likelihood settings) is
refused: choose another --out or delete it (and its chunk directory).

--executor local (default) runs the chunks in this process on all local devices;
--executor dask runs them on a dask.distributed cluster: a local one of --workers N
processes (default: one per CPU core; one XLA thread each), or an existing one at
--scheduler ADDRESS (e.g. started on SLURM with dask-jobqueue; the output directory must
be on a file system every worker sees). Workers share a JAX compilation cache
(--compile-cache), so a configuration is compiled once, not per worker or chunk.

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
  cevns-jax scan --model all --data lar --executor dask --workers 2 --plot 'fig_{model}.png'
  cevns-jax scan --model B-L,scalar --data csi --executor dask --scheduler tcp://node1:8786
"""

#: --executor choices -> executor classes (the one place that maps the names).
EXECUTORS = {"local": LocalExecutor, "dask": DaskExecutor}


def register(subparsers) -> None:
    """Add the ``scan`` subcommand."""
    p = add_command(
        subparsers,
        "scan",
        help="2σ exclusion regions of light mediators on an (M, g) grid (chunked, resumable, "
        "local or on a Dask cluster)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_model_data(
        p,
        model_help="light-mediator model(s): a name (B-L, universal, L_mu-L_tau, scalar, ...; "
        "list: cevns-jax models), a comma-separated list, or all",
        data_help="data set: csi (CsI[Na] 2021), lar (CENNS-10 LAr 2020) or csi+lar "
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
        help="grid file, assembled from the chunk files (in FILE.chunks/, written as each "
        "chunk finishes) and resumed from when they exist (default scan_{model}_<data>.npz; "
        "with several models the name must contain {model})",
    )
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the grid in long format (mass_gev, g, chi2, delta_chi2, "
        "converged) with a commented provenance header",
    )
    p.add_argument(
        "--executor",
        choices=tuple(EXECUTORS),
        default="local",
        help="where the chunks run: local (this process, default) or dask",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="--executor dask: worker processes of a local cluster (default: CPU cores)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="--executor dask: address of a running scheduler (tcp://host:8786) or its "
        "scheduler file (.json), instead of a local cluster",
    )
    p.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="JAX persistent compilation cache directory (default for --executor dask: "
        "$CEVNS_JAX_CACHE/jax-compilation or the user cache; local: JAX's own setting)",
    )
    p.add_argument(
        "--chunk-masses",
        type=int,
        default=16,
        metavar="N",
        help="masses per chunk (default 16)",
    )
    p.add_argument(
        "--chunk-couplings",
        type=int,
        default=25,
        metavar="N",
        help="couplings per chunk (default 25)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_data_dir(p)
    add_settings(p)
    add_outputs(p, "the (M, g) exclusion figure with the (g-2)_mu band")
    p.set_defaults(func=run)


def default_out(model: str, data: str) -> str:
    """Default grid file name: ``scan_<model>_<data>.npz``."""
    return f"scan_{model}_{data}.npz"


def _models(option: str) -> dict:
    """--model: name -> charges (a name, a comma-separated list or ``all``)."""
    from ..charges import get_model, model_names
    from ..errors import ConfigError

    names = model_names() if option.strip() == "all" else [n.strip() for n in option.split(",")]
    if len(set(names)) != len(names) or "" in names:
        raise ConfigError(f"--model {option}: empty or repeated names. Fix: e.g. B-L,universal")
    return {name: get_model(name) for name in names}


def _paths(template: str | None, names, option: str, *, figure: bool = False) -> dict | None:
    """Output path of each model: ``{model}`` in ``template`` replaced by its name."""
    from ..errors import ConfigError

    if template is None:
        return None
    if len(names) > 1 and "{model}" not in template:
        raise ConfigError(
            f"{option} {template}: several models need {{model}} in the file name (one file "
            f"per model). Fix: e.g. {option} 'scan_{{model}}{Path(template).suffix}'"
        )
    return {n: check_output(template.replace("{model}", n), option, figure=figure) for n in names}


def _executor(args):
    """The executor of --executor, --workers, --scheduler, --compile-cache."""
    cls = EXECUTORS[args.executor]
    return cls.from_options(args.workers, args.scheduler, args.compile_cache)


def _validate(args):
    """Check the options before any data are read.

    Returns:
        (models: name -> charges, masses_mev, couplings: name -> (n_g,)).
    """
    from .. import constants as c
    from ..errors import ConfigError
    from ..scan import default_coupling_range

    models = _models(args.model)
    if args.n_mass < 1 or args.n_g < 2:
        raise ConfigError(f"--n-mass must be >= 1 and --n-g >= 2, got {args.n_mass}, {args.n_g}")
    if args.n_mass > _MAX_POINTS or args.n_g > _MAX_POINTS:
        raise ConfigError(
            f"--n-mass {args.n_mass} / --n-g {args.n_g}: at most {_MAX_POINTS} each (a "
            f"{_MAX_POINTS} x {_MAX_POINTS} grid already takes days). Fix: use fewer points "
            "or a narrower --mass-range/--g-range"
        )
    if args.chunk_masses < 1 or args.chunk_couplings < 1:
        raise ConfigError(
            f"--chunk-masses {args.chunk_masses} / --chunk-couplings {args.chunk_couplings}: "
            "both must be >= 1"
        )
    ranges = {n: default_coupling_range(ch) for n, ch in models.items()}
    ranges = ranges if args.g_range is None else dict.fromkeys(models, tuple(args.g_range))
    for option, (lo, hi) in [("--mass-range", args.mass_range)] + [
        ("--g-range", r) for r in ranges.values()
    ]:
        if not (0.0 < lo and np.isfinite(lo) and np.isfinite(hi)):
            raise ConfigError(f"{option} {lo:g} {hi:g}: both ends must be positive and finite")
        if not lo < hi:
            raise ConfigError(f"{option} {lo:g} {hi:g}: the first value must be the smaller")
    masses = np.geomspace(*args.mass_range, args.n_mass) * c.MEV_PER_GEV
    return models, masses, {n: np.geomspace(*r, args.n_g) for n, r in ranges.items()}


def _check_existing(out_path, model, data, masses_mev, couplings) -> None:
    """Fail on an output file of another scan before the experiments are built (the grid,
    model and data; the full check follows in :func:`cevns_jax.scan.scan_models`)."""
    from ..scan_files import resume

    if out_path.exists():
        asked = {"model": model, "data": data}
        old = resume(out_path, masses_mev, couplings, asked, keys=tuple(asked))
        info(f"resuming {out_path}: {int(old.done.sum())}/{old.done.size} rows done")


def run(args) -> int:
    """Run ``cevns-jax scan`` on parsed arguments; returns the exit code."""
    models, masses_mev, couplings = _validate(args)
    names = list(models)
    executor = _executor(args)
    out_paths = _paths(args.out or default_out("{model}", args.data), names, "--out")
    csv_paths = _paths(args.csv, names, "--csv")
    json_paths = _paths(args.json, names, "--json")
    plot_paths = _paths(args.plot, names, "--plot", figure=True)

    from ..provenance import provenance
    from ..scan import DELTA_CHI2_2D, load_scan, scan_models
    from .bounds import build_data_experiments, data_files, likelihood_settings

    files = data_files([args.data])
    config = {
        "command": "scan",
        "model": args.model,
        "models": names,
        "data": args.data,
        "mass_range_gev": list(args.mass_range),
        "n_mass": args.n_mass,
        "g_range": {n: [float(g[0]), float(g[-1])] for n, g in couplings.items()},
        "n_g": args.n_g,
        "out": {n: str(p) for n, p in out_paths.items()},
        "executor": executor.description,
        "chunk": [args.chunk_masses, args.chunk_couplings],
        "delta_chi2_threshold": DELTA_CHI2_2D,
    }
    for n in names:
        _check_existing(out_paths[n], n, args.data, masses_mev, couplings[n])
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
    info(f"running the chunks on {executor.description}")
    start = time.perf_counter()
    try:
        with executor:
            scan = scan_models(
                models,
                lik,
                masses_mev,
                couplings,
                out_paths,
                executor=executor,
                chunk_masses=args.chunk_masses,
                chunk_couplings=args.chunk_couplings,
                progress=not args.no_progress,
                provenance=prov,
            )
    except KeyboardInterrupt:
        for n, path in out_paths.items():
            done = int(load_scan(path).done.sum()) if path.exists() else 0
            info(f"interrupted: {n}: {done}/{masses_mev.size} rows saved in {path}")
        info("the finished chunks are on disk; rerun the same command to resume")
        return 130
    wall = time.perf_counter() - start
    from ..registry import data_set

    title = " + ".join(e.title for e in data_set(args.data))
    n_rows_all = sum(int(r.done.sum()) - scan.rows_before[n] for n, r in scan.results.items())
    for n in names:
        res, out_path = scan.results[n], out_paths[n]
        info(f"grid saved in {out_path}")
        summary = run_summary(res, wall, int(res.done.sum()) - scan.rows_before[n])
        summary.update(
            models_in_run=len(names),
            rows_computed_all_models=n_rows_all,
            executor=executor.description,
            tasks={
                "total": scan.n_tasks,
                "computed": len(scan.reports),
                "resumed": scan.n_resumed,
            },
        )
        print_scan_report(title, n, args.data, res, summary, out_path)
        if csv_paths is not None:
            res.to_csv(csv_paths[n])
            info(f"wrote {csv_paths[n]}")
        if json_paths is not None:
            edge = res.connected_edge()
            write_json(
                json_paths[n],
                {
                    "model": n,
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
        if plot_paths is not None:
            from ..plotting_scan import plot_scan_result

            plot_scan_result(plot_paths[n], res, n, data_title=title)
            wrote_figure(plot_paths[n])
    return 0
