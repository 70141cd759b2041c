"""Benchmark: profiled likelihoods, coupling scans and bounds with cevns_jax, and the
NumPy/SciPy + iminuit implementation of the same χ² as a baseline.

Timed (JAX compile time — the first call: trace + compile + run — apart from the steady
state, the best of ``--repeat`` runs of ``timeit`` ending in ``jax.block_until_ready``).
Every time is given as wall time and as CPU time of this process (``time.process_time``,
all its threads): on a shared machine the wall time grows with the load, the CPU time
much less.

(a) one profiled point, spectrum + profile, with :func:`cevns_jax.profile.profiled_chi2` for
    CsI, LAr and CsI+LAr (model ``--model`` at ``--mass-mev``, coupling ``--coupling``);
(b) :func:`cevns_jax.bounds.chi2_vs_coupling` for 16 and 96 couplings (log-uniform in
    1e-6-1e-3) at that mass: time per coupling;
(c) one :func:`cevns_jax.bounds.regime_bound` per data set and regime (steady state: the
    scan function was compiled in (b));
(d) a 100 × 100 (M, g) scan for CsI+LAr (M log-uniform in 1e-2-1e4 MeV, g in 1e-7-1e-1),
    *estimated*: 5 mass rows of 100 couplings are timed with ``chi2_vs_coupling`` and the
    mean row time is multiplied by 100;
(e) the full bound table, *estimated*: the regime bounds of (c) (one model, 3 data sets ×
    2 regimes) summed and multiplied by the number of registered models; with ``--full``,
    ``cevns_jax.table.bound_table`` is also run and timed, if that module exists;
(f) the points of (a) with ``numpy_likelihood`` (NumPy/SciPy χ² on the NumPy reference
    prediction, profiled with iminuit Migrad): time per point and the JAX/NumPy ratio.

``--quick``: 2 repeats, (b) with 16 couplings only, (c) low regime only, (d) one mass row,
(e) not estimated.

Run:  python benchmarks/bench_profile.py --data-dir ../shared/data/coherent [--json out.json]
"""

import argparse
import datetime
import importlib.util
import inspect
import json
import os
import platform
import sys
import time
import timeit
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the NumPy oracles
from cevns_jax.bounds import chi2_vs_coupling, regime_bound  # noqa: E402
from cevns_jax.charges import MODELS, get_model  # noqa: E402
from cevns_jax.csi2021 import build_csi2021  # noqa: E402
from cevns_jax.lar2020 import build_lar2020  # noqa: E402
from cevns_jax.mediator import Mediator  # noqa: E402
from cevns_jax.profile import profiled_chi2  # noqa: E402
from cevns_jax.provenance import cpu_name, package_versions  # noqa: E402
from oracles import numpy_likelihood as nl  # noqa: E402
from oracles import numpy_reference as ref  # noqa: E402

DATA = ("csi", "lar", "csi+lar")
REGIMES = ("low", "high")


def _best(fn, repeat: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds of one call: ``timeit.repeat`` with each clock."""
    wall = min(timeit.repeat(fn, number=1, repeat=repeat))
    cpu = min(timeit.repeat(fn, number=1, repeat=repeat, timer=time.process_time))
    return wall, cpu


def _once(fn):
    """((wall, CPU) seconds, result) of one call, blocked until ready."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn())
    return (time.perf_counter() - w0, time.process_time() - c0), out


def _fmt(s) -> str:
    if s is None:
        return ""
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    if s < 3 * 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _subset(exps, data):
    return {k: exps[k] for k in data.split("+")}


def bench_points(exps, inputs, model, np_model, args) -> list[dict]:
    """(a) and (f): one profiled point per data set, JAX and NumPy + iminuit."""
    rows = []
    for data in DATA:
        compile_s, res = _once(lambda d=data: profiled_chi2(model, exps, d))
        jax_s = _best(lambda d=data: jax.block_until_ready(profiled_chi2(model, exps, d)),
                      args.repeat)  # fmt: skip
        theirs = nl.profiled_chi2(np_model, inputs, data)
        np_s = _best(lambda d=data: nl.profiled_chi2(np_model, inputs, d), args.numpy_repeat)
        rows.append({
            "task": "a/f", "data": data, "points": 1, "jax_compile_s": compile_s,
            "jax_s": jax_s, "numpy_s": np_s, "chi2": float(res.value),
            "chi2_numpy": theirs.fval, "converged": bool(res.converged),
            "numpy_valid": theirs.valid, "n_iter": int(res.n_iter), "numpy_nfcn": theirs.nfcn,
        })  # fmt: skip
    return rows


def bench_scan(exps, charges, args) -> list[dict]:
    """(b): chi2_vs_coupling for 16 and 96 couplings at one mass (per-point time)."""
    rows = []
    sizes = (16,) if args.quick else (16, 96)
    for data in DATA:
        sub = _subset(exps, data)
        compile_s = None
        for n in sizes:
            gs = np.logspace(-6.0, -3.0, n)

            def fn(gs=gs, sub=sub):
                return chi2_vs_coupling(charges, args.mass_mev, gs, sub)

            first = compile_s is None
            if first:
                compile_s, _ = _once(fn)
            steady = _best(fn, max(1, args.repeat if n <= 16 else args.repeat // 2))
            _, conv = fn()
            rows.append({
                "task": "b", "data": data, "points": n,
                "jax_compile_s": compile_s if first else None, "jax_s": steady,
                "per_point_s": _scale(steady, 1.0 / n), "converged": int(np.sum(conv)),
            })  # fmt: skip
    return rows


def _scale(t, factor):
    return tuple(x * factor for x in t)


def bench_regimes(exps, charges, args) -> list[dict]:
    """(c): one regime_bound per data set and regime."""
    rows = []
    for data in DATA:
        for regime in ("low",) if args.quick else REGIMES:
            sub = _subset(exps, data)
            elapsed, out = _once(lambda r=regime, sub=sub: regime_bound(charges, r, sub))
            n = sum(len(d["log10_g"]) + 1 for d in out["details"])  # + g = 0 per mass
            rows.append({
                "task": "c", "data": data, "regime": regime, "jax_s": elapsed,
                "couplings": n, "per_point_s": _scale(elapsed, 1.0 / n), "value": out["value"],
                "value_outer": out["value_outer"], "all_converged": out["all_converged"],
            })  # fmt: skip
    return rows


def bench_grid(exps, charges, args) -> dict:
    """(d): 100 x 100 (M, g) scan for CsI+LAr, estimated from timed mass rows."""
    masses = np.logspace(-2.0, 4.0, 100)
    gs = np.logspace(-7.0, -1.0, 100)
    idx = [50] if args.quick else [0, 25, 50, 75, 99]
    sub = _subset(exps, "csi+lar")
    chi2_vs_coupling(charges, masses[0], gs[:16], sub)  # compiled in (b); make sure
    times = [_once(lambda m=masses[i]: chi2_vs_coupling(charges, m, gs, sub))[0] for i in idx]
    row = tuple(float(np.mean(t)) for t in zip(*times, strict=True))
    return {
        "task": "d", "data": "csi+lar", "masses_mev_timed": masses[idx].tolist(),
        "row_times_s": times, "row_s": row, "per_point_s": _scale(row, 1.0 / gs.size),
        "estimate_s": _scale(row, masses.size), "grid": [masses.size, gs.size],
    }  # fmt: skip


def bench_table(exps, regime_rows, args) -> dict:
    """(e): full bound table (11 models x 3 data sets x 2 regimes): estimated from the
    regime bounds of (c) and, with ``--full``, also run and timed."""
    out = {"task": "e", "models": len(MODELS), "kind": "skipped (--quick)"}
    if not args.quick:
        one = tuple(sum(t) for t in zip(*(r["jax_s"] for r in regime_rows), strict=True))
        out.update(kind="estimate", one_model_s=one, estimate_s=_scale(one, len(MODELS)))
    if args.full:
        if importlib.util.find_spec("cevns_jax.table") is None:
            print("--full: cevns_jax.table does not exist; reporting the estimate only")
        else:
            from cevns_jax.table import bound_table

            params = inspect.signature(bound_table).parameters
            quiet = {"progress": False} if "progress" in params else {}
            elapsed, rows = _once(lambda: bound_table(exps, **quiet))
            out.update(measured_s=elapsed, rows=len(rows))
    return out


def environment() -> dict:
    dev = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": jax.default_backend(),
        "device": str(dev),
        "device_kind": dev.device_kind,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "dtype": str(jnp.zeros(()).dtype),
        "versions": package_versions(
            ("cevns_jax", "jax", "jaxlib", "equinox", "optax", "numpy", "scipy", "iminuit")
        ),  # fmt: skip
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _wc(t) -> str:
    """'wall [CPU]' of a (wall, CPU) pair."""
    return "" if t is None else f"{_fmt(t[0])} [{_fmt(t[1])}]"


def report(env, results, args) -> None:
    print(f"device: {env['device_kind']} ({env['backend']}), {env['cpu']}, "
          f"{env['cpu_count']} cores; load average {env['load_average'][0]:.1f} at the start, "
          f"{env['load_average_end'][0]:.1f} at the end; dtype {env['dtype']}")  # fmt: skip
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    print(f"point: {args.model}, M = {args.mass_mev} MeV, g = {args.coupling}")
    print("times: wall [CPU time of this process]; steady state = best of the repeats")
    hdr = f"{'':2}{'task':<26}{'data':<9}{'JAX compile':>22}{'JAX':>22}{'per point':>22}"
    print("\n(a) one profiled point (spectrum + profile), (f) NumPy/SciPy + iminuit")
    print(hdr + f"{'NumPy + iminuit':>22}{'JAX/NumPy':>10}{'Δχ²':>9}")
    for r in results["points"]:
        ratio = r["jax_s"][0] / r["numpy_s"][0]
        print(f"{'':2}{'profiled_chi2':<26}{r['data']:<9}{_wc(r['jax_compile_s']):>22}"
              f"{_wc(r['jax_s']):>22}{_wc(r['jax_s']):>22}{_wc(r['numpy_s']):>22}"
              f"{ratio:>10.3f}{r['chi2'] - r['chi2_numpy']:>9.0e}")  # fmt: skip
    print(f"\n(b) chi2_vs_coupling at M = {args.mass_mev} MeV, g log-uniform 1e-6..1e-3")
    print(hdr)
    for r in results["scan"]:
        print(f"{'':2}{str(r['points']) + ' couplings':<26}{r['data']:<9}"
              f"{_wc(r['jax_compile_s']):>22}{_wc(r['jax_s']):>22}"
              f"{_wc(r['per_point_s']):>22}")  # fmt: skip
    print(f"\n(c) regime_bound, {args.model}, steady state (per point: per profiled coupling)")
    print(hdr + f"{'bound':>10}")
    for r in results["regimes"]:
        label = f"{r['regime']} ({r['couplings']} couplings)"
        print(f"{'':2}{label:<26}{r['data']:<9}{'':>22}{_wc(r['jax_s']):>22}"
              f"{_wc(r['per_point_s']):>22}{r['value']:>10.3g}")  # fmt: skip
    g = results["grid"]
    print(f"\n(d) 100 x 100 (M, g) scan, csi+lar: ESTIMATE = mean of "
          f"{len(g['row_times_s'])} timed mass rows ({_wc(g['row_s'])} per row of 100 "
          f"couplings, {_wc(g['per_point_s'])} per point) x 100 rows = "
          f"{_wc(g['estimate_s'])}")  # fmt: skip
    t = results["table"]
    if "estimate_s" in t:
        print(f"(e) full bound table: ESTIMATE = {args.model} on 3 data sets x 2 regimes "
              f"({_wc(t['one_model_s'])}) x {t['models']} registered models = "
              f"{_wc(t['estimate_s'])}")  # fmt: skip
    if "measured_s" in t:
        print(f"(e) full bound table, MEASURED (cevns_jax.table.bound_table, {t['rows']} "
              f"rows): {_wc(t['measured_s'])}")  # fmt: skip
    if "estimate_s" not in t and "measured_s" not in t:
        print(f"(e) full bound table: {t['kind']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="COHERENT data directory (default $CEVNS_JAX_DATA)")
    p.add_argument("--json", metavar="FILE", help="write the results and environment to FILE")
    p.add_argument("--quick", action="store_true", help="fewer repeats and smaller tasks")
    p.add_argument("--full", action="store_true",
                   help="(e): run cevns_jax.table.bound_table if it exists")  # fmt: skip
    p.add_argument("--repeat", type=int, default=None, help="timeit repeats (default 5)")
    p.add_argument("--numpy-repeat", type=int, default=None, help="NumPy repeats (default 3)")
    p.add_argument("--model", default="B-L", help="model of every task (default B-L)")
    p.add_argument("--mass-mev", type=float, default=10.0, help="mass of (a), (b) in MeV")
    p.add_argument("--coupling", type=float, default=5e-5, help="coupling of (a)")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.numpy_repeat is None:
        args.numpy_repeat = 2 if args.quick else 3

    env = environment()
    exps = {"csi": build_csi2021(args.data_dir), "lar": build_lar2020(args.data_dir)}
    inputs = {"csi": nl.csi_data(args.data_dir, exps["csi"]),
              "lar": nl.lar_data(args.data_dir, exps["lar"])}  # fmt: skip
    charges = get_model(args.model)
    model = Mediator(charges, args.mass_mev, args.coupling)
    np_model = ref.NewPhysics.from_charges(charges, args.mass_mev, args.coupling)

    results = {"points": bench_points(exps, inputs, model, np_model, args)}
    results["scan"] = bench_scan(exps, charges, args)
    results["regimes"] = bench_regimes(exps, charges, args)
    results["grid"] = bench_grid(exps, charges, args)
    results["table"] = bench_table(exps, results["regimes"], args)
    env["load_average_end"] = os.getloadavg()
    report(env, results, args)
    if args.json:
        settings = {k: getattr(args, k) for k in ("quick", "full", "repeat", "numpy_repeat",
                                                  "model", "mass_mev", "coupling")}  # fmt: skip
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump({"environment": env, "settings": settings, "results": results}, stream,
                      indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
