"""``cevns-jax toys``: coverage of the Wilks 2σ interval and the Feldman–Cousins bound.

Thin wrapper over :func:`cevns_jax.coverage.toy_study`: build the data set, run the toys,
print the summary, optionally write JSON (with provenance) and the figure.
"""

import argparse
import time

from ._common import (
    add_command,
    add_data_dir,
    add_model_data,
    add_outputs,
    add_settings,
    check_outputs,
    info,
    parse_set,
)
from ._output import write_json, wrote_figure

__all__ = ["register", "run"]

_DESCRIPTION = """\
Pseudo-experiments at one mediator mass: is the asymptotic (Wilks, Delta chi2 = 4) 2 sigma
interval right?

Toys are drawn at the true coupling (default: the observed Wilks bound) with the nuisances
at their conditional best fit to the data (Poisson counts per bin, every prior's centre
from its Gaussian). The CsI anti-coincidence (AC) steady-state sample is fixed by default
(its statistics are the steady state's normalisation prior); --fluctuate-ss-sample draws
it per bin too, and with --set csi.steady_state=per_bin (each bin's steady state profiled
against its AC count) it is always drawn (docs/coverage.md). Each toy is profiled at the
true coupling and at its best coupling g >= 0, in batches of one compiled call. Printed:
the coverage P(t < 4) of the Wilks interval with its binomial uncertainty (nominal
0.9545), quantiles of t against chi2_1, toys per second, and the Feldman-Cousins 2 sigma
upper bound from the toys' critical values on a coupling grid next to the Wilks bound.
"""

_EPILOG = """\
examples:
  cevns-jax toys --model B-L --data csi --mass 0.01 --n-toys 2000 --json toys.json
  cevns-jax toys --model L_mu-L_tau --data csi --mass 1 --plot toys.png
  cevns-jax toys --model B-L --data csi --mass 0.01 --set csi.steady_state=per_bin
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register(subparsers) -> None:
    """Add the ``toys`` subcommand."""
    p = add_command(
        subparsers,
        "toys",
        help="toys: Wilks coverage and the Feldman-Cousins bound at one mass",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_model_data(p)
    p.add_argument("--mass", metavar="M_GeV", type=float, required=True,
                   help="mediator mass in GeV, e.g. 0.01")  # fmt: skip
    p.add_argument(
        "--coupling",
        metavar="G",
        type=float,
        help="true coupling of the coverage toys (default: the Wilks bound)",
    )
    p.add_argument("--n-toys", type=_positive_int, default=2000, help="coverage toys (2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument(
        "--fc-toys",
        type=int,
        default=400,
        help="toys per coupling of the Feldman-Cousins grid (400; 0: skip FC)",
    )
    p.add_argument("--fc-points", type=int, default=8, help="couplings of the FC grid (8)")
    p.add_argument(
        "--grid-points",
        type=int,
        default=8,
        help="best-fit search grid, uniform in g^2 (8; more for islands)",
    )
    p.add_argument("--batch", type=_positive_int, default=200, help="toys per compiled call")
    p.add_argument(
        "--fluctuate-ss-sample",
        action="store_true",
        help="also fluctuate the CsI anti-coincidence steady-state sample per bin (the "
        "likelihood rebuilds its steady state from it; B-L at 10 MeV: coverage 0.935 with "
        "the default steady state, 0.86 with csi.steady_state=template, which takes each "
        "AC cell as the expectation; see docs/coverage.md)",
    )
    add_settings(p)
    add_data_dir(p)
    add_outputs(p, "the t distribution against chi2_1 and the FC critical values")
    p.set_defaults(func=run)


def _print(s: dict, model: str, data: str) -> None:
    print(f"{model} on {data} at M = {s['mass_mev'] / 1e3:g} GeV, g_true = {s['g_true']:.4g}: "
          f"{s['n_toys']} toys ({s['toys_per_s']:.0f} toys/s)")  # fmt: skip
    print(f"  coverage of the Wilks 2σ interval P(t < 4) = {s['coverage_wilks']:.4f} ± "
          f"{s['coverage_wilks_err']:.4f} (nominal {s['coverage_nominal']:.4f})")  # fmt: skip
    for q, v in s["t_quantiles"].items():
        print(f"  quantile {q}: t = {v:.3f}  (chi2_1: {s['chi2_1_quantiles'][q]:.3f})")
    print(f"  converged {s['converged_fraction']:.4f}, best g = 0 in "
          f"{s['g_best_zero_fraction']:.3f}, best g at the search edge in "
          f"{s['at_grid_edge_fraction']:.3f}")  # fmt: skip
    q = s["chi2_min_toy_quantiles"]
    print(f"  goodness of fit: observed min chi2 {s['chi2_min_observed']:.1f}, toys "
          f"{q['0.05']:.1f} / {q['0.5']:.1f} / {q['0.95']:.1f} (5/50/95 %), p = "
          f"{s['gof_p_value']:.3f}")  # fmt: skip
    fc = s["fc_upper_bound"]
    print(f"  2σ upper bound: Feldman-Cousins {'-' if fc is None else f'{fc:.4g}'}, Wilks "
          f"{s['wilks_upper_bound']:.4g} (outer {s['wilks_outer_bound']:.4g})")  # fmt: skip


def run(args) -> int:
    """Run ``cevns-jax toys`` on parsed arguments; returns the exit code."""
    from ..charges import get_model
    from ..coverage import toy_study
    from ..errors import ConfigError
    from ..registry import build_likelihood, data_set

    charges = get_model(args.model)
    if not args.mass > 0:
        raise ConfigError(f"--mass must be > 0 (GeV), got {args.mass}. Fix: e.g. --mass 0.01")
    if args.coupling is not None and not args.coupling > 0:
        raise ConfigError(f"--coupling must be > 0, got {args.coupling}")
    json_path, plot_path = check_outputs(args)
    start = time.perf_counter()
    overrides = parse_set(args.set, [args.data])
    lik = build_likelihood(args.data, args.data_dir, settings=overrides)
    info(f"{args.model} on {args.data}: {args.n_toys} toys + FC grid")
    study = toy_study(
        lik, charges, args.mass * 1e3, coupling=args.coupling, n_toys=args.n_toys,
        seed=args.seed, batch=args.batch, grid_points=args.grid_points,
        fc_points=args.fc_points, fc_toys=args.fc_toys,
        templates=args.fluctuate_ss_sample, progress=True,
    )  # fmt: skip
    summary = study.summary()
    elapsed = time.perf_counter() - start
    _print(summary, args.model, args.data)
    info(f"done in {elapsed:.1f} s")
    if json_path is not None:
        from ..provenance import provenance

        config = {"command": "toys", **{k: v for k, v in vars(args).items() if k != "func"}}
        files = [f for e in data_set(args.data) for f in e.data_files]
        write_json(json_path, {
            "model": args.model, "data": args.data, "settings": overrides.as_dict(), **summary,
            "elapsed_s": elapsed,
            "provenance": provenance(config, files, args.data_dir),
        })  # fmt: skip
    if plot_path is not None:
        from ..plotting_stats import plot_toys

        title = f"{args.model} on {args.data}, M = {args.mass:g} GeV"
        plot_toys(plot_path, summary, study.t, title=title)
        wrote_figure(plot_path)
    return 0
