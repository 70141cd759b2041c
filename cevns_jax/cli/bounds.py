"""``cevns-jax bounds``: 2σ upper bounds on one light mediator from one data set.

Thin wrapper over :func:`cevns_jax.table.bound_row` (:func:`cevns_jax.bounds.regime_bound`):
validate the model, build the experiments the data set needs, compute the bound of each
regime at its two masses, print it next to arXiv:2202.11002 Table II, optionally write
JSON (with provenance and the χ² curves) and the Δχ²(g) figure.
"""

import argparse
import time

import numpy as np

from ._common import (
    EXPERIMENTS,
    add_data_dir,
    add_json,
    add_plot,
    build_experiment,
    check_output,
    format_table,
    info,
    write_json,
    wrote_figure,
)

__all__ = ["register", "run", "build_data_experiments", "bound_config"]

_DESCRIPTION = """\
2 sigma (95.45 % C.L., Delta chi2 = 4, one parameter) upper bounds on the coupling of one
light mediator from COHERENT data, as in arXiv:2202.11002 Table II.

At fixed mediator mass M the chi2 is profiled over every nuisance at each coupling g, and
the bound is where Delta chi2 = chi2(g) - min_g chi2 crosses 4.
  low-mass regime (M far below the momentum transfer): bound on g;
    {low}
  high-mass regime (M far above it): bound on g/M in GeV^-1;
    {high}
The relative change between the two masses is printed ("converged" when below {tol:g}).

With destructive interference (e.g. universal or L_mu-L_tau at high mass) a disconnected
island of allowed couplings can exist at larger g, where the weak charge of one flavour
flips sign. Both readings are printed: "connected" is the upper edge of the allowed
region containing g = 0, "outer" the upper edge of the outermost allowed coupling.

--plot FILE draws Delta chi2 against g (low) or g/M (high) at both masses of each regime
(overlapping curves show convergence), the Delta chi2 = 4 line, the bounds and the
published value. --json FILE writes the numbers, the chi2 curves and the run's provenance.
"""

_EPILOG = """\
examples:
  cevns-jax bounds --model B-L --data lar
  cevns-jax bounds --model universal --data csi+lar --regime high --plot universal.png
  cevns-jax bounds --model scalar --data csi --json scalar_csi.json
"""


def register(subparsers) -> None:
    """Add the ``bounds`` subcommand."""
    from ..table import CONVERGENCE_TOL, DATASETS, regime_text

    p = subparsers.add_parser(
        "bounds",
        help="2σ upper bound on one light mediator's coupling (low and high mass)",
        description=_DESCRIPTION.format(low=regime_text("low"), high=regime_text("high"),
                                        tol=CONVERGENCE_TOL),
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
        choices=DATASETS,
        required=True,
        help="data set: csi (CsI[Na] 2021), lar (CENNS-10 LAr 2020) or csi+lar (both, "
        "chi2 summed with independent nuisances)",
    )
    p.add_argument(
        "--regime",
        choices=("low", "high", "both"),
        default="both",
        help="low: bound on g at low mass; high: bound on g/M (GeV^-1) at high mass; "
        "both (default)",
    )
    add_data_dir(p)
    add_json(p)
    add_plot(p, "the Delta chi2 curves at both masses of each regime, with the bounds")
    p.set_defaults(func=run)


def build_data_experiments(datasets, data_dir) -> dict:
    """Build each experiment the data sets need, once: dict kind -> Experiment."""
    from ..table import DATASET_KINDS, KIND_EXPERIMENT

    kinds = dict.fromkeys(k for d in datasets for k in DATASET_KINDS[d])
    return {k: build_experiment(KIND_EXPERIMENT[k], data_dir) for k in kinds}


def data_files(kinds) -> list[str]:
    """Registry names of the release files the experiments of ``kinds`` read."""
    from ..table import KIND_EXPERIMENT

    return [f for k in kinds for f in EXPERIMENTS[KIND_EXPERIMENT[k]].data_files]


def bound_config() -> dict:
    """The bound definition, for the provenance block."""
    import dataclasses

    from ..bounds import BATCH, BOUND_OPTIONS, DELTA_CHI2_1D, REGIME_MASSES_MEV
    from ..published import BOUNDS_REFERENCE
    from ..table import CONVERGENCE_TOL

    opts = {f.name: getattr(BOUND_OPTIONS, f.name) for f in dataclasses.fields(BOUND_OPTIONS)}
    return {
        "delta_chi2": DELTA_CHI2_1D,
        "confidence": "2σ (95.45 % C.L.), one parameter, nuisances profiled",
        "regime_masses_mev": {k: list(v) for k, v in REGIME_MASSES_MEV.items()},
        "convergence_tol": CONVERGENCE_TOL,
        "profile_options": {k: np.asarray(v).tolist() if not isinstance(v, str) else v
                            for k, v in opts.items()},
        "batch": BATCH,
        "published_reference": BOUNDS_REFERENCE,
    }


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3e}"


def _print(model: str, data: str, rows) -> None:
    from ..published import BOUNDS_REFERENCE
    from ..table import DATASET_TITLES, REGIME_UNITS, mass_text

    print(f"{model} on {DATASET_TITLES[data]} ({data}): 2σ upper bounds (Δχ² = 4, nuisances "
          "profiled)\n")
    headers = ["regime", "bound on", "M", "connected", "outer", "island", "check M",
               "change", "convergence", "published", "ratio (conn, outer)"]
    table = []
    for r in rows:
        ratio = "-"
        if r["published"] is not None:
            ratio = f"{r['ratio']:.3f}"
            if r["island"]:
                ratio += f", {r['ratio_outer']:.3f}"
        conv = "converged" if r["converged"] else "NOT converged"
        table.append([
            r["regime"], REGIME_UNITS[r["regime"]], mass_text(r["mass_gev"]), _fmt(r["value"]),
            _fmt(r["value_outer"]), "yes" if r["island"] else "no", mass_text(r["check_mass_gev"]),
            f"{r['convergence']:+.1e}", conv, _fmt(r["published"]), ratio,
        ])  # fmt: skip
    print(format_table(headers, table, left=2))
    print()
    for r in rows:
        d = r["details"][0]
        line = (f"{r['regime']}: best fit g = {d['g_best']:.3g}, Δχ²(g = 0) = "
                f"{d['delta_chi2_sm']:.2f}, minimiser converged: "
                f"{'yes' if r['all_converged'] else 'NO'}")
        if r["closer"] is not None:
            line += f"; closer to the published value: {r['closer']} reading"
        print(line)
    if any(r["published"] is not None for r in rows):
        print(f"published: {BOUNDS_REFERENCE}")


def _plot(path, model, data, rows) -> None:
    from .. import plotting
    from ..table import DATASET_TITLES, mass_text

    panels = []
    for r in rows:
        curves = []
        for k, d in enumerate(r["details"]):
            scale = 1.0 if r["regime"] == "low" else 1e3 / d["mass_mev"]  # g -> g/M[GeV]
            curves.append({
                "label": f"M = {mass_text(d['mass_mev'] * 1e-3)}",
                "x": 10.0 ** np.asarray(d["log10_g"]) * scale,
                "delta_chi2": np.asarray(d["chi2"]) - d["chi2_min"],
                "delta_chi2_zero": d["delta_chi2_sm"],
                "main": k == 0,
            })  # fmt: skip
        panels.append({
            "regime": r["regime"], "curves": curves, "value": r["value"],
            "value_outer": r["value_outer"] if r["island"] else None,
            "published": r["published"], "convergence": r["convergence"],
        })  # fmt: skip
    plotting.plot_bounds(
        path, title=f"{plotting.model_label(model)} on {DATASET_TITLES[data]}: 2σ bounds "
        "(Δχ² = 4)", panels=panels,
    )


def run(args) -> int:
    """Run ``cevns-jax bounds`` on parsed arguments; returns the exit code."""
    from ..charges import get_model
    from ..table import DATASET_KINDS, bound_row

    get_model(args.model)  # unknown model: ConfigError (exit 2) before any data are read
    json_path = check_output(args.json, "--json")
    plot_path = check_output(args.plot, "--plot", figure=True)
    regimes = ("low", "high") if args.regime == "both" else (args.regime,)

    start = time.perf_counter()
    experiments = build_data_experiments([args.data], args.data_dir)
    rows = []
    for regime in regimes:
        info(f"{args.model} on {args.data}, {regime}-mass regime: profiling χ²(g) at two masses")
        rows.append(bound_row(args.model, args.data, regime, experiments, details=True))
    elapsed = time.perf_counter() - start
    _print(args.model, args.data, rows)
    info(f"done in {elapsed:.1f} s")

    if json_path is not None:
        from ..provenance import provenance

        config = {"command": "bounds", "model": args.model, "data": args.data,
                  "regime": args.regime, **bound_config()}
        payload = {
            "model": args.model,
            "data": args.data,
            "bounds": rows,
            "provenance": provenance(config, data_files(DATASET_KINDS[args.data]),
                                     args.data_dir),
            "elapsed_s": elapsed,
        }
        write_json(json_path, payload)
    if plot_path is not None:
        _plot(plot_path, args.model, args.data, rows)
        wrote_figure(plot_path)
    return 0
