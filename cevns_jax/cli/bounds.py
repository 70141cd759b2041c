"""``cevns-jax bounds``: 2σ upper bounds on one light mediator from one data set.

Thin wrapper over :func:`cevns_jax.table.bound_rows` (:func:`cevns_jax.bounds.regime_bounds`):
validate the model, build the experiments the data set needs, compute the bound of each
regime at its two masses, print it next to arXiv:2202.11002 Table II, optionally write
JSON (with provenance and the χ² curves) and the Δχ²(g) figure.
"""

import time

from ._common import (
    add_command,
    add_data_dir,
    add_model_data,
    add_outputs,
    add_settings,
    build_experiment,
    check_outputs,
    info,
    parse_set,
)
from ._output import format_table, write_json, wrote_figure

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
    from ..table import CONVERGENCE_TOL, regime_text

    p = add_command(
        subparsers,
        "bounds",
        help="2σ upper bound on one light mediator's coupling (low and high mass)",
        description=_DESCRIPTION.format(
            low=regime_text("low"), high=regime_text("high"), tol=CONVERGENCE_TOL
        ),
        epilog=_EPILOG,
    )
    add_model_data(
        p,
        model_help="light-mediator model, e.g. B-L, universal, L_mu-L_tau, scalar "
        "(list: cevns-jax models)",
        data_help="data set: csi (CsI[Na] 2021), lar (CENNS-10 LAr 2020) or csi+lar (both, "
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
    add_settings(p)
    add_outputs(p, "the Delta chi2 curves at both masses of each regime, with the bounds")
    p.set_defaults(func=run)


def _entries(datasets) -> dict:
    """Experiment key -> registry entry of every experiment the data sets need, once."""
    from ..registry import data_set

    return {e.key: e for d in datasets for e in data_set(d)}


def build_data_experiments(datasets, data_dir, overrides=None) -> dict:
    """Build each experiment the data sets need, once: dict experiment key -> Experiment
    (with the experiment-level named settings of ``overrides``)."""
    return {
        k: build_experiment(e.name, data_dir, overrides) for k, e in _entries(datasets).items()
    }


def likelihood_settings(datasets, overrides) -> dict:
    """Experiment key -> likelihood settings with the named settings of ``overrides``."""
    return {k: overrides.likelihood_settings(e) for k, e in _entries(datasets).items()}


def data_files(datasets) -> list[str]:
    """Registry names of the release files the experiments of ``datasets`` read."""
    return [f for e in _entries(datasets).values() for f in e.data_files]


def bound_config() -> dict:
    """The bound definition, for the provenance block."""
    import dataclasses

    from ..bounds import DELTA_CHI2_1D, REGIME_MASSES_MEV
    from ..engine import BLOCK_COUPLINGS, BLOCK_ROWS
    from ..profile import DampedNewton, ExactQuadratic
    from ..published import BOUNDS_REFERENCE
    from ..table import CONVERGENCE_TOL

    def fields(module):
        return {f.name: getattr(module, f.name) for f in dataclasses.fields(module)}

    return {
        "delta_chi2": DELTA_CHI2_1D,
        "confidence": "2σ (95.45 % C.L.), one parameter, nuisances profiled",
        "regime_masses_mev": {k: list(v) for k, v in REGIME_MASSES_MEV.items()},
        "convergence_tol": CONVERGENCE_TOL,
        "profilers": {
            "csi": {"DampedNewton": fields(DampedNewton())},
            "lar": {"ExactQuadratic": fields(ExactQuadratic())},
        },
        "engine_block": [BLOCK_ROWS, BLOCK_COUPLINGS],
        "published_reference": BOUNDS_REFERENCE,
    }


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3e}"


def _print(model: str, data: str, rows) -> None:
    from ..published import BOUNDS_REFERENCE
    from ..registry import data_set_title
    from ..table import REGIME_UNITS, mass_text

    print(
        f"{model} on {data_set_title(data)} ({data}): 2σ upper bounds (Δχ² = 4, nuisances "
        "profiled)\n"
    )
    headers = [
        "regime",
        "bound on",
        "M",
        "connected",
        "outer",
        "island",
        "check M",
        "change",
        "convergence",
        "published",
        "ratio (conn, outer)",
    ]
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
        line = (
            f"{r['regime']}: best fit g = {d['g_best']:.3g}, Δχ²(g = 0) = "
            f"{d['delta_chi2_sm']:.2f}, minimiser converged: "
            f"{'yes' if r['all_converged'] else 'NO'}"
        )
        if r["closer"] is not None:
            line += f"; closer to the published value: {r['closer']} reading"
        print(line)
    if any(r["published"] is not None for r in rows):
        print(f"published: {BOUNDS_REFERENCE}")


def run(args) -> int:
    """Run ``cevns-jax bounds`` on parsed arguments; returns the exit code."""
    from ..charges import get_model
    from ..registry import build_likelihood
    from ..table import bound_rows

    get_model(args.model)  # unknown model: ConfigError (exit 2) before any data are read
    json_path, plot_path = check_outputs(args)
    regimes = ("low", "high") if args.regime == "both" else (args.regime,)
    overrides = parse_set(args.set, [args.data])

    start = time.perf_counter()
    experiments = build_data_experiments([args.data], args.data_dir, overrides)
    lik = build_likelihood(
        args.data, experiments=experiments, settings=likelihood_settings([args.data], overrides)
    )
    info(f"{args.model} on {args.data}: profiling χ²(g) at two masses per regime")
    rows = bound_rows(lik, args.data, [(args.model, r) for r in regimes], details=True)
    elapsed = time.perf_counter() - start
    _print(args.model, args.data, rows)
    info(f"done in {elapsed:.1f} s")

    if json_path is not None:
        from ..provenance import provenance

        config = {
            "command": "bounds",
            "model": args.model,
            "data": args.data,
            "regime": args.regime,
            "settings": overrides.as_dict(),
            **bound_config(),
        }
        payload = {
            "model": args.model,
            "data": args.data,
            "bounds": rows,
            "provenance": provenance(config, data_files([args.data]), args.data_dir),
            "elapsed_s": elapsed,
        }
        write_json(json_path, payload)
    if plot_path is not None:
        from ..plotting_bounds import plot_bound_rows

        plot_bound_rows(plot_path, rows, model=args.model, data=args.data)
        wrote_figure(plot_path)
    return 0
