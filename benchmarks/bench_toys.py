"""Benchmark: pseudo-experiments per second and NUTS effective samples per second.

Tasks (model B-L at M = 10 MeV, true coupling = the observed Wilks bound):

(a) toys/s of :func:`cevns_jax.toys.draw_toys` + :func:`cevns_jax.toy_fits.fit_toys` for csi,
    lar and csi+lar at batch sizes ``--batches`` (each batch size one compilation, reported
    apart; steady state: best of ``--repeat`` batches, wall and CPU time), the default
    search (8-point grid in g², 3 parabolic steps, 30 damped-Newton steps for CsI);
(b) NUTS (:func:`cevns_jax.sample.mediator_model`, log10 M and log10 g sampled, chains
    vectorised) on csi and lar: wall time, bulk ESS of log10 g and log10 M (ArviZ) per
    second of sampling (compilation included, as a user sees it), divergences, r̂.

Times are wall [CPU]; on a shared machine the wall time grows with the load (recorded).

Run:  python benchmarks/bench_toys.py --data-dir ../shared/data/coherent [--json out.json]
      [--quick]
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from cevns_jax.bounds import coupling_bound  # noqa: E402
from cevns_jax.charges import get_model  # noqa: E402
from cevns_jax.coverage import TOY_SOLVER_STEPS, _more_steps, search_grid  # noqa: E402
from cevns_jax.engine import as_joint  # noqa: E402
from cevns_jax.posterior import diagnostics, to_inference_data  # noqa: E402
from cevns_jax.provenance import code_version, cpu_name, package_versions  # noqa: E402
from cevns_jax.registry import build_likelihood  # noqa: E402
from cevns_jax.sample import mediator_model, run_nuts  # noqa: E402
from cevns_jax.toy_fits import fit_toys  # noqa: E402
from cevns_jax.toys import draw_toys, signal_coefficients, truth_nuisances  # noqa: E402

MODEL, MASS_MEV = "B-L", 10.0
FULL = {"data": ("csi", "lar", "csi+lar"), "batches": (100, 200, 400), "repeat": 3,
        "nuts": (4, 500, 500)}  # fmt: skip
QUICK = {"data": ("csi", "lar"), "batches": (100,), "repeat": 2, "nuts": (2, 100, 100)}


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def bench_toys(lik, batches, repeat) -> dict:
    charges = get_model(MODEL)
    bound = coupling_bound(charges, MASS_MEV, lik)
    parts = tuple(_more_steps(p, TOY_SOLVER_STEPS) for p in as_joint(lik).parts)
    coeffs = tuple(signal_coefficients(p, charges, MASS_MEV) for p in parts)
    g = jnp.asarray(bound.g_connected)
    nus = truth_nuisances(parts, coeffs, g)
    grid = search_grid(bound, 8)
    out = {}
    for n in batches:

        def one(k, n=n):
            toys = draw_toys(jax.random.key(k), parts, coeffs, g, nus, n)
            return jax.block_until_ready(fit_toys(parts, coeffs, toys, g, grid).t)

        first = _timed(lambda: one(0))
        runs = [_timed(lambda k=k: one(k)) for k in range(1, repeat + 1)]
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        out[n] = {"compile_s": first[0] - wall, "batch_s": [wall, cpu], "toys_per_s": n / wall,
                  "toys_per_cpu_s": n / cpu}  # fmt: skip
    return out


def bench_nuts(lik, data, chains, warmup, draws) -> dict:
    parts = as_joint(lik).parts
    liks = {k: p for k, p in zip(data.split("+"), parts, strict=True)}
    model = mediator_model(log10_g=(-6.0, -3.0), log10_mass_mev=(0.0, 2.0))
    wall, cpu, res = _timed(
        lambda: run_nuts(model, jax.random.key(0), warmup, draws, chains, "vectorized",
                         model_args=(liks, get_model(MODEL)), target_accept_prob=0.95)
    )  # fmt: skip
    diag = diagnostics(to_inference_data(res, liks), ["log10_g", "log10_mass_mev"])
    return {
        "wall_s": wall, "cpu_s": cpu, "chains": chains, "warmup": warmup, "draws": draws,
        "divergences": diag["divergences"], "num_steps": res.diagnostics["num_steps"],
        **{f"{k}_{m}": v[m] for k, v in diag["parameters"].items() for m in ("ess_bulk", "r_hat")},
        "ess_bulk_per_s": {k: v["ess_bulk"] / wall for k, v in diag["parameters"].items()},
    }  # fmt: skip


def environment() -> dict:
    dev = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": jax.default_backend(), "device": str(dev), "device_kind": dev.device_kind,
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "x64": bool(jax.config.jax_enable_x64),
        "versions": package_versions(("cevns_jax", "jax", "jaxlib", "equinox", "numpyro",
                                      "arviz")),
        "code": code_version(), "platform": platform.platform(),
        "python": platform.python_version(),
    }  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="COHERENT data directory (default $CEVNS_JAX_DATA)")
    p.add_argument("--json", metavar="FILE", help="write the results and environment to FILE")
    p.add_argument("--quick", action="store_true", help="csi and lar, one batch size, short NUTS")
    args = p.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    data_dir = args.data_dir or os.environ.get("CEVNS_JAX_DATA")
    env = environment()
    res = {"toys": {}, "nuts": {}}
    for data in cfg["data"]:
        lik = build_likelihood(data, data_dir)
        res["toys"][data] = bench_toys(lik, cfg["batches"], cfg["repeat"])
        for n, r in res["toys"][data].items():
            print(
                f"toys {data:8s} batch {n:4d}: {r['toys_per_s']:7.1f} toys/s "
                f"({r['toys_per_cpu_s']:.1f} per CPU s), compile {r['compile_s']:.1f} s"
            )
        if data != "csi+lar":
            r = res["nuts"][data] = bench_nuts(lik, data, *cfg["nuts"])
            print(
                f"NUTS {data:8s}: {r['wall_s']:.0f} s, ESS/s "
                + ", ".join(f"{k} {v:.2f}" for k, v in r["ess_bulk_per_s"].items())
                + f", r_hat log10_g {r['log10_g_r_hat']:.3f}, {r['divergences']} divergences"
            )
    env["load_average_end"] = os.getloadavg()
    if args.json:
        payload = {"environment": env, "settings": {"model": MODEL, "mass_mev": MASS_MEV,
                   "quick": args.quick, **cfg}, "results": res}  # fmt: skip
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
