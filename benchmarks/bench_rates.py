"""Benchmark: expected CEvNS counts with cevns_jax vs the plain NumPy/SciPy reference.

For each detector (CsI 2021, LAr 2020) it times

* one SM expected-counts evaluation (3 sources × energy × time bins), and
* a batch of ``--batch`` (default 1000) parameter points of a vector mediator (default
  B-L, masses log-uniform in 1 MeV-1 GeV, couplings log-uniform in 1e-6-1e-3): in JAX one
  jitted ``jax.vmap`` over a :class:`~cevns_jax.mediator.Mediator` whose mass and coupling
  leaves carry the batch axis; in NumPy a Python loop of the reference over the points
  (``--numpy-batch`` points, extrapolated linearly to ``--batch`` when smaller).

JAX compile time (first call: trace + compile + run) is reported separately from the
steady state, which is the best of ``--repeat`` runs of ``timeit`` with
``jax.block_until_ready``. The batch results are checked against the NumPy loop.

Run:  python benchmarks/bench_rates.py --data-dir ../shared/data/coherent [--json out.json]
"""

import argparse
import json
import os
import platform
import sys
import time
import timeit
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the NumPy oracle
from cevns_jax.charges import get_model  # noqa: E402
from cevns_jax.csi2021 import build_csi2021  # noqa: E402
from cevns_jax.lar2020 import build_lar2020  # noqa: E402
from cevns_jax.mediator import Mediator, standard_model  # noqa: E402
from cevns_jax.provenance import cpu_name, package_versions  # noqa: E402
from cevns_jax.rates import expected_counts  # noqa: E402
from oracles import numpy_reference as ref  # noqa: E402


def _best(fn, repeat: int, number: int = 1) -> float:
    """Best wall time of one call, in seconds."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def _first_call(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def bench_detector(name, exp, setup, args, rng) -> list[dict]:
    sm = standard_model()
    single = eqx.filter_jit(expected_counts)
    compile_s = _first_call(lambda: single(exp, sm))
    jax_s = _best(lambda: jax.block_until_ready(single(exp, sm)), args.repeat, number=10)
    np_s = _best(lambda: ref.expected_counts(setup), args.repeat, number=10)
    rows = [
        {
            "detector": name,
            "task": "SM, 1 point",
            "points": 1,
            "jax_compile_s": compile_s,
            "jax_s": jax_s,
            "numpy_s": np_s,
            "numpy_extrapolated": False,
        }
    ]

    n = args.batch
    charges = get_model(args.model)
    masses_mev = 10 ** rng.uniform(0.0, 3.0, n)
    couplings = 10 ** rng.uniform(-6.0, -3.0, n)
    batched = Mediator(
        jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), charges),
        masses_mev,
        couplings,
    )

    @eqx.filter_jit
    def batch_counts(exp, models):
        return jax.vmap(lambda m: expected_counts(exp, m))(models)

    compile_b = _first_call(lambda: batch_counts(exp, batched))
    jax_b = _best(lambda: jax.block_until_ready(batch_counts(exp, batched)), args.repeat)
    k = min(args.numpy_batch, n)
    points = [
        ref.NewPhysics.from_charges(charges, m, g)
        for m, g in zip(masses_mev[:k], couplings[:k], strict=True)
    ]
    start = time.perf_counter()
    np_counts = np.stack([ref.expected_counts(setup, p) for p in points])
    np_b = (time.perf_counter() - start) * n / k
    jax_counts = np.asarray(batch_counts(exp, batched))[:k]
    rel = float(
        np.max(
            np.abs(jax_counts - np_counts)
            / np.maximum(np.abs(np_counts), 1e-300)
            * (np_counts != 0)
        )
    )
    rows.append(
        {
            "detector": name,
            "task": f"{args.model}, vmap {n} (M, g)",
            "points": n,
            "jax_compile_s": compile_b,
            "jax_s": jax_b,
            "numpy_s": np_b,
            "numpy_extrapolated": k < n,
            "numpy_points_timed": k,
            "max_rel_diff": rel,
        }
    )
    return rows


def _fmt_time(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="COHERENT data directory (default $CEVNS_JAX_DATA)")
    p.add_argument("--json", metavar="FILE", help="write the results and environment to FILE")
    p.add_argument("--batch", type=int, default=1000, help="parameter points in the batch")
    p.add_argument(
        "--numpy-batch",
        type=int,
        default=1000,
        help="points of the NumPy loop actually timed (extrapolated to --batch)",
    )
    p.add_argument("--repeat", type=int, default=5, help="timeit repeats (best is reported)")
    p.add_argument("--model", default="B-L", help="vector model of the batch (default B-L)")
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    rows = []
    for name, build, setup_fn in (
        ("csi2021", build_csi2021, ref.csi2021_setup),
        ("lar2020", build_lar2020, ref.lar2020_setup),
    ):
        rows += bench_detector(name, build(args.data_dir), setup_fn(args.data_dir), args, rng)

    dev = jax.devices()[0]
    env = {
        "backend": jax.default_backend(),
        "device": str(dev),
        "device_kind": dev.device_kind,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "dtype": str(jnp.zeros(()).dtype),
        "versions": package_versions(("cevns_jax", "jax", "jaxlib", "equinox", "numpy", "scipy")),
        "platform": platform.platform(),
    }
    print(
        f"device: {env['device_kind']} ({env['backend']}), {env['cpu']}, "
        f"{env['cpu_count']} cores; dtype {env['dtype']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    header = (
        f"{'detector':<9} {'task':<22} {'JAX compile':>12} {'JAX':>11} {'NumPy':>11} "
        f"{'JAX/NumPy':>10} {'max rel diff':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = r["jax_s"] / r["numpy_s"]
        star = "*" if r["numpy_extrapolated"] else ""
        diff = f"{r['max_rel_diff']:.1e}" if "max_rel_diff" in r else ""
        print(
            f"{r['detector']:<9} {r['task']:<22} {_fmt_time(r['jax_compile_s']):>12} "
            f"{_fmt_time(r['jax_s']):>11} {_fmt_time(r['numpy_s']) + star:>11} "
            f"{ratio:>10.3f} {diff:>13}"
        )
    if any(r["numpy_extrapolated"] for r in rows):
        print("* NumPy batch time extrapolated linearly from the points timed")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            settings = {k: getattr(args, k) for k in ("batch", "numpy_batch", "repeat", "model")}
            json.dump(
                {"environment": env, "settings": settings, "results": rows}, stream, indent=2
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
