"""``cevns-jax design``: gradient-based optimisation of a future detector's design.

Thin wrapper over :mod:`cevns_jax.design`: the figure of merit (expected Δχ² excluding
L_μ−L_τ at M = 20 MeV on the (g−2)_μ band), its envelope-theorem gradient checked against
central finite differences at the initial design, an optax run on threshold and mass at
fixed mass × years, JSON and the figure (path and FoM against each optimised parameter).
"""

from ._common import add_command, add_outputs, check_outputs, info
from ._output import format_table, write_json, wrote_figure
from .project import FUTURE_DETECTORS, add_set, parse_set

__all__ = ["register", "run"]

_DESCRIPTION = """\
Optimise a future detector's design by gradient descent through the profiled Asimov
likelihood (docs/cryo_csi.md). Figure of merit: the expected Delta chi2 excluding
L_mu-L_tau at M = 20 MeV with g at the centre of the (g-2)_mu band (larger is better).
Its gradient (envelope theorem through the profile) is checked against central finite
differences at the initial design for threshold, mass, light yield, background level,
baseline and the years at each beam power; then optax Adam moves the threshold and the
mass at a fixed exposure budget mass x years (the years follow as budget/mass).
"""

_EPILOG = """\
examples:
  cevns-jax design --detector cryo-csi-1 --steps 25 --json d.json --plot d.png
  cevns-jax design --detector cryo-csi-2 --set noise_rate_hz=1e5 --steps 10
"""


def register(subparsers) -> None:
    """Add the ``design`` subcommand."""
    p = add_command(
        subparsers,
        "design",
        help="optimise a future detector's design by gradients (threshold, mass)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    p.add_argument("--detector", choices=FUTURE_DETECTORS, default="cryo-csi-1",
                   help="initial design (default cryo-csi-1)")  # fmt: skip
    p.add_argument("--steps", type=int, default=25, metavar="N", help="optax steps (25)")
    p.add_argument("--learning-rate", type=float, default=0.15, metavar="LR",
                   help="Adam learning rate on the unbounded parameters (0.15)")  # fmt: skip
    p.add_argument("--scan-points", type=int, default=9, metavar="N",
                   help="points of each FoM-vs-parameter curve of the figure (9)")  # fmt: skip
    add_set(p)
    add_outputs(p, "the optimisation figure")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..design import gradient_check, optimise
    from ..errors import ConfigError
    from ..provenance import provenance

    if args.steps < 0:
        raise ConfigError(f"--steps {args.steps}: must be >= 0")
    json_path, plot_path = check_outputs(args)
    values = parse_set(args.set)
    from ..projection import asimov_likelihood

    initial = asimov_likelihood(args.detector, values).experiment.backgrounds.design
    info("gradient check (autodiff through the profile vs central finite differences)")
    check = gradient_check(initial)
    info(f"optimising for {args.steps} steps")
    res = optimise(initial, args.steps, args.learning_rate, progress=True)
    rows = [[k, f"{v['value']:g}", f"{v['autodiff']:.6g}", f"{v['finite_difference']:.6g}",
             f"{v['rel_error']:.1e}"] for k, v in check["parameters"].items()]  # fmt: skip
    print(f"{args.detector}: FoM = expected Δχ² excluding L_mu-L_tau (M = 20 MeV, (g-2)_mu)")
    print(f"initial FoM {res['initial']['figure_of_merit']:.4f}\n")
    print(format_table(["parameter", "value", "dFoM/dp autodiff", "central FD", "rel err"], rows))
    print(f"\nmax relative error {check['max_rel_error']:.2e}")
    last = res["history"][-1]
    print(
        f"final FoM {res['final']['figure_of_merit']:.4f} at threshold "
        f"{last['threshold_kevnr']:.3f} keVnr, mass {last['mass_kg']:.2f} kg, years "
        f"{', '.join(f'{y:.3f}' for y in last['years'])} (budget "
        f"{res['constraint']['budget_kg_yr']:g} kg yr)"
    )
    if json_path is not None:
        payload = {k: res[k] for k in ("initial", "final", "history", "constraint", "best_step")}
        payload["gradient_check"] = check
        payload["detector"] = args.detector
        config = {"command": "design", "detector": args.detector, "steps": args.steps,
                  "learning_rate": args.learning_rate, "set": values}  # fmt: skip
        payload["provenance"] = provenance(config, (), None)
        write_json(json_path, payload)
    if plot_path is not None:
        from ..cryo_plots import plot_design_result

        info("FoM along each optimised parameter for the figure")
        plot_design_result(
            plot_path, res, initial, n_points=args.scan_points,
            title=f"{args.detector}: design optimisation (optax Adam)",
        )  # fmt: skip
        wrote_figure(plot_path)
    return 0
