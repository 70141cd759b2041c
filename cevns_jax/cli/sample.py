"""``cevns-jax sample``: the (M, g) posterior of one light mediator with NUTS, as ArviZ data.

Thin wrapper over :func:`cevns_jax.sample.mediator_model` / :func:`~cevns_jax.sample.run_nuts`
(chains vectorised on one device) and :mod:`cevns_jax.posterior`: print the diagnostics,
write the InferenceData to netCDF (``--out``), optionally the credible region against the
profile-likelihood contour (``--plot``).
"""

import time

import numpy as np

from ._common import (
    add_command,
    add_data_dir,
    add_model_data,
    add_outputs,
    check_output,
    check_outputs,
    info,
)
from ._output import write_json, wrote_figure

__all__ = ["register", "run"]

_DESCRIPTION = """\
Posterior of (M, g) of one light mediator, every nuisance marginalised, with numpyro NUTS
(chains vectorised on one device). Priors: log10 g and log10 M uniform on the given ranges,
nuisances from their Gaussian priors. Printed and stored: r_hat, bulk and tail effective
sample sizes and divergences (ArviZ). --out F.nc writes the ArviZ InferenceData (posterior,
sample_stats, log_likelihood, observed_data) to netCDF: arviz.from_netcdf("F.nc").
--plot F draws the 95.45 % highest-density credible region against the profile-likelihood
2 sigma contour (Delta chi2 = 6.18, two parameters) on the same axes.
"""

_EPILOG = """\
examples:
  cevns-jax sample --model B-L --data csi+lar --out post.nc --plot post.png
  cevns-jax sample --model B-L --data csi --mass-range 0.001 0.1 --chains 2 --samples 300
"""


def register(subparsers) -> None:
    """Add the ``sample`` subcommand."""
    p = add_command(
        subparsers,
        "sample",
        help="NUTS posterior of (M, g), saved as ArviZ netCDF",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_model_data(p)
    p.add_argument("--mass-range", nargs=2, type=float, metavar=("LO", "HI"),
                   default=(1e-3, 1e-1), help="mediator mass prior range in GeV, log-uniform "
                   "(default 0.001 0.1)")  # fmt: skip
    p.add_argument(
        "--log10-g-range",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        default=(-6.0, -3.0),
        help="log10 g prior range (default -6 -3)",
    )
    p.add_argument("--chains", type=int, default=4, help="chains (4), vectorised")
    p.add_argument("--warmup", type=int, default=500, help="warm-up draws per chain (500)")
    p.add_argument("--samples", type=int, default=500, help="kept draws per chain (500)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--target-accept", type=float, default=0.95, help="NUTS target (0.95)")
    p.add_argument("--out", metavar="F.nc", help="write the ArviZ InferenceData (netCDF)")
    add_data_dir(p)
    add_outputs(p, "the 2D credible region against the profile-likelihood 2 sigma contour")
    p.set_defaults(func=run)


def _check(args):
    from ..errors import ConfigError

    lo, hi = args.mass_range
    if not 0 < lo < hi:
        raise ConfigError(f"--mass-range needs 0 < LO < HI (GeV), got {lo} {hi}")
    if not args.log10_g_range[0] < args.log10_g_range[1]:
        raise ConfigError(f"--log10-g-range needs LO < HI, got {args.log10_g_range}")
    if args.chains < 1 or args.samples < 1 or args.warmup < 0:
        raise ConfigError("--chains and --samples must be >= 1, --warmup >= 0")


def _print(diag: dict, wall: float) -> None:
    print(f"NUTS: {diag['num_chains']} chains x {diag['num_draws']} draws, "
          f"{diag['divergences']} divergences, acceptance {diag['accept_prob']:.2f}, "
          f"{diag['num_steps']:.0f} leapfrog steps per draw, {wall:.0f} s")  # fmt: skip
    print(f"  {'parameter':16s} {'mean':>9s} {'sd':>8s} {'r_hat':>6s} {'ess_bulk':>9s} "
          f"{'ess_tail':>9s}")  # fmt: skip
    for name, d in diag["parameters"].items():
        print(f"  {name:16s} {d['mean']:9.4f} {d['sd']:8.4f} {d['r_hat']:6.3f} "
              f"{d['ess_bulk']:9.0f} {d['ess_tail']:9.0f}")  # fmt: skip


def run(args) -> int:
    """Run ``cevns-jax sample`` on parsed arguments; returns the exit code."""
    import jax

    from ..charges import get_model
    from ..engine import as_joint
    from ..posterior import diagnostics, save_netcdf, to_inference_data
    from ..provenance import provenance
    from ..registry import build_likelihood, data_set
    from ..sample import mediator_model, run_nuts

    charges = get_model(args.model)
    _check(args)
    out_path = check_output(args.out, "--out")
    json_path, plot_path = check_outputs(args)
    lik = build_likelihood(args.data, args.data_dir)
    entries = data_set(args.data)
    liks = {e.key: p for e, p in zip(entries, as_joint(lik).parts, strict=True)}
    model = mediator_model(
        log10_g=tuple(args.log10_g_range),
        log10_mass_mev=tuple(np.log10(np.asarray(args.mass_range) * 1e3)),
    )
    info(f"{args.model} on {args.data}: NUTS, {args.chains} chains x "
         f"({args.warmup} + {args.samples}) draws")  # fmt: skip
    start = time.perf_counter()
    res = run_nuts(
        model, jax.random.key(args.seed), args.warmup, args.samples, args.chains,
        "vectorized", model_args=(liks, charges), target_accept_prob=args.target_accept,
    )  # fmt: skip
    wall = time.perf_counter() - start
    idata = to_inference_data(res, liks)
    diag = diagnostics(idata)
    nuts = res.diagnostics
    diag.update(wall_s=wall, accept_prob=nuts["accept_prob"], num_steps=nuts["num_steps"])
    diag["ess_bulk_per_s"] = {k: v["ess_bulk"] / wall for k, v in diag["parameters"].items()}
    _print(diag, wall)
    config = {"command": "sample", **{k: v for k, v in vars(args).items() if k != "func"}}
    prov = provenance(config, [f for e in entries for f in e.data_files], args.data_dir)
    if out_path is not None:
        save_netcdf(idata, out_path, attrs={"diagnostics": diag, "provenance": prov})
        info(f"wrote {out_path}")
    if json_path is not None:
        write_json(json_path, {"model": args.model, "data": args.data, "diagnostics": diag,
                               "provenance": prov})  # fmt: skip
    if plot_path is not None:
        from ..plotting_stats import plot_posterior_vs_profile

        plot_posterior_vs_profile(
            plot_path, idata, lik, charges, mass_range_gev=tuple(args.mass_range),
            log10_g_range=tuple(args.log10_g_range), title=f"{args.model} on {args.data}",
        )  # fmt: skip
        wrote_figure(plot_path)
    return 0
