"""Benchmark: chunked scans of many models, locally and on Dask LocalClusters.

The whole scan (default: 100 masses × 100 couplings × all 11 registered models on LAr,
chunks of 16 masses × 25 couplings × all models, every chunk one batched engine call) is
run with :class:`cevns_jax.executors.LocalExecutor` and with
:class:`~cevns_jax.executors.DaskExecutor` LocalClusters of 1 and 2 worker processes (one
XLA thread each), each into a fresh output directory. Reported per executor:

* ``start_s``: starting the cluster and its workers (0 locally);
* ``first_chunk_s``: the first chunk, alone, in the client's wall time: it includes the
  compilation (locally, and on the first Dask cluster) or loading it from the persistent
  compilation cache that the first Dask cluster filled (``--cold``: a new cache for every
  cluster, so each compiles);
* ``chunks_per_s`` over the other chunks (steady state) and the whole scan's wall time;
* per chunk (steady state, means): ``compute_s`` (the engine call on the worker),
  ``write_s`` (writing the chunk files there) and ``overhead_s`` = the client's wall time
  per chunk × workers − compute − write: scheduling, serialisation of the task and of the
  report, the client's bookkeeping and idle workers;
* ``assemble_s``: the whole scan minus the chunks (planning, assembling and writing the
  ``.npz`` outputs);
* ``max_abs_diff_chi2``: the largest |χ²| difference to the local scan.

Times are wall times; on a shared machine they grow with the load (the load averages at
the start and the end are in the JSON).

``--quick``: 30 × 30 × 3 models (B-L, universal, scalar), chunks of 8 × 10; ``--grid N``:
N × N points (all models unless ``--quick``).

Run:  python benchmarks/bench_dask.py --data-dir ../shared/data/coherent [--json out.json]
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from cevns_jax.charges import get_model, model_names  # noqa: E402
from cevns_jax.executors import DaskExecutor, LocalExecutor  # noqa: E402
from cevns_jax.provenance import code_version, cpu_name, package_versions  # noqa: E402
from cevns_jax.registry import build_likelihood  # noqa: E402
from cevns_jax.scan import scan_models  # noqa: E402

FULL = {"n_mass": 100, "n_g": 100, "models": None, "chunk": (16, 25)}
QUICK = {"n_mass": 30, "n_g": 30, "models": ["B-L", "universal", "scalar"], "chunk": (8, 10)}
MASS_RANGE_MEV = (1.0, 1e4)
G_RANGE = (1e-6, 1.0)


def run_one(executor, lik, models, masses, gs, chunk, out_dir: Path) -> dict:
    """One whole scan into ``out_dir``; timings split as in the module docstring."""
    outs = {m: out_dir / f"{m}.npz" for m in models}
    start = time.perf_counter()
    if isinstance(executor, DaskExecutor):
        executor.connect().wait_for_workers(executor.workers)
    started = time.perf_counter()
    arrivals = []

    class Clock:  # records when each report reaches the client
        def __init__(self, inner):
            self.inner = inner

        def run(self, fn, shared, tasks):
            for report in self.inner.run(fn, shared, tasks):
                arrivals.append(time.perf_counter())
                yield report

    run = scan_models(models, lik, masses, gs, outs, executor=Clock(executor),
                      chunk_masses=chunk[0], chunk_couplings=chunk[1], progress=False)  # fmt: skip
    end = time.perf_counter()
    steady = run.reports[1:]
    n_workers = getattr(executor, "workers", 1) or 1
    steady_wall = arrivals[-1] - arrivals[0]
    per_chunk_wall = steady_wall / max(len(steady), 1)
    compute = float(np.mean([r.compute_s for r in steady])) if steady else float("nan")
    write = float(np.mean([r.write_s for r in steady])) if steady else float("nan")
    chunk_s = sum(r.compute_s + r.write_s for r in run.reports) / n_workers
    return {
        "executor": executor.description,
        "workers": n_workers,
        "chunks": len(run.reports),
        "points": len(models) * masses.size * gs.size,
        "start_s": started - start,
        "first_chunk_s": arrivals[0] - started,
        "first_chunk_compute_s": run.reports[0].compute_s,
        "steady_wall_s": steady_wall,
        "chunks_per_s": len(steady) / steady_wall if steady_wall > 0 else float("nan"),
        "scan_wall_s": end - started,
        "per_chunk": {
            "wall_x_workers_s": per_chunk_wall * n_workers,
            "compute_s": compute,
            "write_s": write,
            "overhead_s": per_chunk_wall * n_workers - compute - write,
        },
        "assemble_s": max(end - started - chunk_s, 0.0),
        "results": {m: r.chi2 for m, r in run.results.items()},
    }


def environment() -> dict:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": jax.default_backend(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": package_versions(("cevns_jax", "jax", "jaxlib", "dask", "distributed")),
        "code": code_version(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def report(results: list[dict]) -> None:
    head = (f"{'executor':<44} {'start':>6} {'first':>6} {'chunk/s':>8} {'scan':>7} "
            f"{'compute':>8} {'write':>7} {'overhead':>9} {'max|dchi2|':>10}")  # fmt: skip
    print(head + "\n" + "-" * len(head))
    for r in results:
        c = r["per_chunk"]
        print(
            f"{r['executor']:<44} {r['start_s']:6.1f} {r['first_chunk_s']:6.1f} "
            f"{r['chunks_per_s']:8.2f} {r['scan_wall_s']:7.1f} {c['compute_s']:8.3f} "
            f"{c['write_s']:7.4f} {c['overhead_s']:9.3f} {r['max_abs_diff_chi2']:10.1e}"
        )
    print("\n(seconds; compute, write and overhead per chunk in the steady state)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="COHERENT data directory (default $CEVNS_JAX_DATA)")
    p.add_argument("--data", default="lar", help="data set (default lar)")
    p.add_argument("--json", metavar="FILE", help="write the results and environment to FILE")
    p.add_argument("--quick", action="store_true", help="30 x 30 x 3 models, chunks 8 x 10")
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                   help="Dask LocalCluster sizes (default 1 2)")  # fmt: skip
    p.add_argument("--grid", type=int, metavar="N",
                   help="N masses x N couplings (a shorter run)")  # fmt: skip
    p.add_argument("--cold", action="store_true",
                   help="a new compilation cache for every executor")  # fmt: skip
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.grid is not None:
        cfg["n_mass"] = cfg["n_g"] = args.grid
    names = cfg["models"] or model_names()
    models = {m: get_model(m) for m in names}
    masses = np.geomspace(*MASS_RANGE_MEV, cfg["n_mass"])
    gs = np.geomspace(*G_RANGE, cfg["n_g"])
    data_dir = args.data_dir or os.environ.get("CEVNS_JAX_DATA")
    env = environment()
    lik = build_likelihood(args.data, data_dir)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        executors = [LocalExecutor()] + [
            DaskExecutor(workers=n, compile_cache=Path(tmp) / f"cache{n}" if args.cold else cache)
            for n in args.workers
        ]
        for k, executor in enumerate(executors):
            out = Path(tmp) / f"run{k}"
            out.mkdir()
            with executor:
                results.append(run_one(executor, lik, models, masses, gs, cfg["chunk"], out))
            print(f"done: {executor.description}", file=sys.stderr, flush=True)
    ref = results[0].pop("results")
    for r in results[1:]:
        chi2 = r.pop("results")
        r["max_abs_diff_chi2"] = max(float(np.max(np.abs(chi2[m] - ref[m]))) for m in ref)
    results[0]["max_abs_diff_chi2"] = 0.0
    env["load_average_end"] = os.getloadavg()
    print(f"{args.data}: {cfg['n_mass']} x {cfg['n_g']} grid x {len(names)} models, chunks "
          f"{cfg['chunk'][0]} x {cfg['chunk'][1]} x all models\n")  # fmt: skip
    report(results)
    if args.json:
        settings = {**cfg, "models": names, "data": args.data, "mass_range_mev": MASS_RANGE_MEV,
                    "g_range": G_RANGE, "quick": args.quick, "cold": args.cold}  # fmt: skip
        payload = {"environment": env, "settings": settings, "results": results}
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
