"""``cevns-jax project``: expected (Asimov) sensitivity of a future detector to one model.

Thin wrapper over :mod:`cevns_jax.projection`: build the detector's Asimov likelihood (with
``--set`` design changes), compute the expected 2σ bounds in both regimes and the 2σ
exclusion edge on a mass grid, the fraction of the (g−2)_μ band that Cryo-CsI-II excludes,
print, write JSON and the (M, g) figure against today's CsI+LAr exclusion.
"""

import numpy as np

from ..registry import EXPERIMENTS
from ._common import add_command, add_data_dir, add_model, add_outputs, check_outputs, info
from ._output import format_table, write_json, wrote_figure

__all__ = ["register", "run", "parse_set", "FUTURE_DETECTORS"]

#: Registered experiments without data: the detectors a projection can be made for.
FUTURE_DETECTORS = tuple(n for n, e in EXPERIMENTS.items() if e.published is None)

_DESCRIPTION = """\
Expected 2 sigma sensitivity of a future detector (Asimov data = SM expectation, every
nuisance profiled; docs/cryo_csi.md) to one light-mediator model: the expected bounds at
low mass (on g) and high mass (on g/M in GeV^-1), and the expected exclusion edge g(M).

--plot FILE draws the (M, g) plane with today's observed CsI+LAr 2 sigma exclusion, the
expected Cryo-CsI-I and Cryo-CsI-II exclusions and the 2 sigma (g-2)_mu band; for models
coupling to muons the fraction of the band between 1 and 300 MeV that Cryo-CsI-II
excludes is printed, written and shown. --set changes the design of --detector only (the
other detector of the figure keeps its defaults).
"""

_EPILOG = """\
examples:
  cevns-jax project --detector cryo-csi-1 --model L_mu-L_tau --json p.json --plot p.png
  cevns-jax project --detector cryo-csi-2 --model B-L --set threshold_kevnr=1.0
"""


def parse_set(items) -> dict:
    """``["name=value", ...]`` -> dict (ConfigError for an item without ``=``)."""
    from ..errors import ConfigError

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected name=value, e.g. --set mass_kg=20")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def add_set(p) -> None:
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="change a design parameter (repeatable), e.g. --set threshold_kevnr=1.0, "
        "--set years=0,5, --set light_yield=43; names: docs/cryo_csi.md",
    )


def register(subparsers) -> None:
    """Add the ``project`` subcommand."""
    p = add_command(
        subparsers,
        "project",
        help="expected (Asimov) bounds of a future detector (Cryo-CsI) on one model",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    p.add_argument("--detector", choices=FUTURE_DETECTORS, required=True, help="future detector")
    add_model(p, "model (cevns-jax models)")
    p.add_argument(
        "--masses",
        type=int,
        default=13,
        metavar="N",
        help="log-spaced masses 1 MeV-10 GeV of the exclusion curves (default 13)",
    )
    add_set(p)
    add_outputs(p, "the (M, g) exclusion figure")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..charges import get_model
    from ..cryo_design import as_dict
    from ..errors import ConfigError
    from ..projection import (
        G2_MASS_RANGE_MEV,
        asimov_likelihood,
        exclusion_curve,
        expected_bounds,
        g2_band_excluded_fraction,
    )
    from ..provenance import provenance

    ch = get_model(args.model)  # ConfigError for unknown names, before any work
    if args.masses < 3:
        raise ConfigError(f"--masses {args.masses}: need at least 3")
    json_path, plot_path = check_outputs(args)
    values = parse_set(args.set)
    lik = asimov_likelihood(args.detector, values)
    info(f"expected bounds of {args.model} for {args.detector}")
    bounds = expected_bounds(lik, args.model)
    masses = np.geomspace(1.0, 1e4, args.masses)
    curves = {args.detector: exclusion_curve(lik, args.model, masses)}
    from ..g2 import delta_a_mu

    couples_mu = float(delta_a_mu(10.0, 1.0, ch)) > 0.0
    fraction = None
    if couples_mu or plot_path is not None:
        for other in FUTURE_DETECTORS:
            if other not in curves:
                info(f"exclusion curve for {other}")
                curves[other] = exclusion_curve(asimov_likelihood(other), args.model, masses)
    if couples_mu:
        fraction = {
            "detector": "cryo-csi-2",
            "mass_range_mev": list(G2_MASS_RANGE_MEV),
            "n_sigma": 2,
            "value": g2_band_excluded_fraction(
                args.model, masses, curves["cryo-csi-2"]["g_connected"]
            ),
            "this_detector": g2_band_excluded_fraction(
                args.model, masses, curves[args.detector]["g_connected"]
            ),
            "definition": "area in (log M, log g) of the 2 sigma band above the expected "
            "2 sigma exclusion edge, over the band's area",
        }
    rows = [[b["regime"], f"{b['value']:.4g}", "g" if b["regime"] == "low" else "g/M [1/GeV]",
             f"{b['convergence']:+.1e}", str(b["all_converged"])] for b in bounds]  # fmt: skip
    print(f"{args.detector}: expected 2σ bounds on {args.model} (Asimov, profiled)\n")
    print(format_table(["regime", "bound", "on", "convergence", "converged"], rows))
    if fraction is not None:
        print(
            f"\nCryo-CsI-II excludes {100 * fraction['value']:.1f} % of the 2σ (g-2)_mu band "
            f"between {G2_MASS_RANGE_MEV[0]:g} and {G2_MASS_RANGE_MEV[1]:g} MeV "
            f"({args.detector}: {100 * fraction['this_detector']:.1f} %)"
        )
    if json_path is not None:
        payload = {
            "detector": args.detector,
            "model": args.model,
            "expected_bounds": bounds,
            "design": as_dict(lik.experiment.backgrounds.design),
            "exclusion": curves[args.detector],
            "g2_band_fraction_excluded": fraction,
        }
        config = {"command": "project", "detector": args.detector, "model": args.model,
                  "set": values, "masses": args.masses}  # fmt: skip
        from ..registry import data_set

        read = sum((e.data_files for e in data_set("csi+lar")), ()) if plot_path else ()
        payload["provenance"] = provenance(config, read, args.data_dir)
        write_json(json_path, payload)
    if plot_path is not None:
        from ..cryo_plots import plot_projection_vs_today
        from ..registry import build_likelihood

        info("today's observed CsI+LAr exclusion curve (profiled fits of the data)")
        today = build_likelihood("csi+lar", args.data_dir)
        observed = exclusion_curve(today, args.model, masses)
        plot_projection_vs_today(
            plot_path, args.model, masses, curves, observed, g2=couples_mu, fraction=fraction
        )
        wrote_figure(plot_path)
    return 0
