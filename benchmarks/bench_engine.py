"""Benchmark: the grid engine (profiled χ² on (M, g) grids), the CLI end to end, and the
NumPy/SciPy + iminuit references.

Tasks (model B-L, grid M log-uniform in 1 MeV-10 GeV × g log-uniform in 1e-6-1):

(a) :func:`cevns_jax.engine.profile_rows` on a 100 × 100 grid for csi, lar and csi+lar
    (default block 64 rows × 32 couplings): compile time (first call on one point, i.e. one
    padded block, minus a second identical call; caches cleared first, so every data set
    compiles cold), steady state (best of ``--repeat`` full-grid calls; the engine returns
    numpy arrays, so every call has finished on the device), points/s, converged fraction
    and fraction of finite χ²;
(b) points/s against the block size: block_rows 8, 16, 32, 64, 128 × block_couplings 32
    on csi (each block shape a new compilation, reported apart);
(c) ``cevns-jax table --json`` in a subprocess: wall time and the JSON's ``elapsed_s``,
    cold (empty compilation cache) and warm (run again with the cache the first run filled);
(d) ``cevns-jax scan --model B-L --data csi+lar`` (default 100 × 100 grid) in a
    subprocess: wall time, cold and warm;
(e) the NumPy/SciPy + iminuit reference (``tests/oracles/numpy_likelihood.py``: reference
    spectrum + Migrad) on 20 points of the grid: time per point against the per-point
    time of (a), and its χ² against ours;
(f) iminuit Migrad (strategy 2, tol 1e-6, jitted analytic gradient) on the *same* χ²
    (:meth:`~cevns_jax.likelihood.AbstractLikelihood.twice_nll`, started from
    :meth:`~cevns_jax.likelihood.AbstractLikelihood.start`) at 200 points per experiment
    (csi, lar), half near the 2σ contour (4 <= Δχ² <= 9 above the grid minimum) and half
    far-excluded (Δχ² > 100; a single experiment's Δχ² saturates below that, at ≈ 75 for
    CsI and 58 for LAr, and then far means Δχ² > 0.9 × the grid's maximum): ours − iminuit
    (max, 99th percentile; ours should never lie above iminuit by more than 1e-4) and how
    many Migrad runs were not valid.

Times are wall time and, in brackets, the CPU time of this process (``time.process_time``,
all threads; for the subprocesses of (c), (d): their CPU time). On a shared machine the
wall time grows with the load, the CPU time much less.

``--quick``: a 30 × 30 grid, 1 repeat, (b) with block_rows 8 and 32 only, (c) and (d)
skipped, 4 points in (e) and 10 per experiment in (f): a few minutes.

Run:  python benchmarks/bench_engine.py --data-dir ../shared/data/coherent [--json out.json]
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from iminuit import Minuit  # noqa: E402

import cevns_jax.likelihood_csi as _likelihood_csi  # noqa: E402
import cevns_jax.stats as _stats  # noqa: E402
from cevns_jax.charges import get_model  # noqa: E402
from cevns_jax.engine import profile_rows  # noqa: E402
from cevns_jax.likelihood import FREE_SCALE, JointLikelihood  # noqa: E402
from cevns_jax.mediator import Mediator  # noqa: E402
from cevns_jax.provenance import code_version, cpu_name, package_versions  # noqa: E402
from cevns_jax.rates import recoil_spectrum  # noqa: E402
from cevns_jax.registry import build_likelihood  # noqa: E402

# The oracle imports POSITIVE_SCALE from cevns_jax.likelihood_csi, where it no longer lives
# (it moved to cevns_jax.stats); provide it there so the oracle imports unchanged.
if not hasattr(_likelihood_csi, "POSITIVE_SCALE"):
    _likelihood_csi.POSITIVE_SCALE = _stats.POSITIVE_SCALE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the NumPy oracles
from oracles import numpy_likelihood as nl  # noqa: E402
from oracles import numpy_reference as ref  # noqa: E402

DATA = ("csi", "lar", "csi+lar")
MODEL = "B-L"
MASS_RANGE_MEV = (1.0, 1e4)
G_RANGE = (1e-6, 1.0)
BLOCK_ROWS = 64
BLOCK_COUPLINGS = 32
BLOCK_SIZES = (8, 16, 32, 64, 128)
#: (f): Δχ² windows of the two halves of the points, and the allowed excess of ours. A
#: single experiment's Δχ² saturates below FAR_ABOVE (≈ 58 for LAr, 75 for CsI: the CEvNS
#: factor goes to 0 at the cost of its prior); then "far" is Δχ² > FAR_FRACTION × max Δχ².
NEAR_WINDOW, FAR_ABOVE, FAR_FRACTION, EXCESS_TOL = (4.0, 9.0), 100.0, 0.9, 1e-4
MIGRAD_TOL, MIGRAD_STRATEGY = 1e-6, 2

FULL = {"grid": 100, "repeat": 3, "block_sizes": BLOCK_SIZES, "ref_points": (5, 4),
        "check_points": 200, "cli": True}  # fmt: skip
QUICK = {"grid": 30, "repeat": 1, "block_sizes": (8, 32), "ref_points": (2, 2),
         "check_points": 10, "cli": False}  # fmt: skip


# --- timing -----------------------------------------------------------------------------------
def _timed(fn):
    """(wall s, CPU s, result) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def _best(fn, repeat: int):
    """Best wall and best CPU time of ``repeat`` calls, and the last result."""
    runs = [_timed(fn) for _ in range(max(1, repeat))]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def _fmt(s) -> str:
    if s is None:
        return ""
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def _wc(wall, cpu) -> str:
    return "" if wall is None else f"{_fmt(wall)} [{_fmt(cpu)}]"


# --- (a), (b): the engine ------------------------------------------------------------------
def _grid(n: int):
    return np.logspace(*np.log10(MASS_RANGE_MEV), n), np.logspace(*np.log10(G_RANGE), n)


def _computed_points(n_rows: int, n_g: int, block_rows: int, block_couplings: int) -> int:
    """Points the engine evaluates, padding included (as :func:`profile_rows` pads)."""
    n_dev = len(jax.local_devices())
    rows = -(-block_rows // n_dev) * n_dev
    sub_rows = n_rows * -(-n_g // block_couplings)
    return -(-sub_rows // rows) * rows * block_couplings


def engine_run(lik, charges, masses, gs, repeat, block_rows=BLOCK_ROWS) -> dict:
    """Cold compile and steady state of ``profile_rows`` on one grid."""
    kw = {"block_rows": block_rows, "block_couplings": BLOCK_COUPLINGS}
    jax.clear_caches()  # every block shape and likelihood compiles cold

    def small():
        return profile_rows(lik, charges, masses[:1], gs[:1], **kw)

    first, again = _timed(small), _timed(small)

    def full():
        return profile_rows(lik, charges, masses, gs, **kw)

    wall, cpu, (chi2, conv) = _best(full, repeat)
    n = chi2.size
    i, j = (
        np.unravel_index(np.nanargmin(chi2), chi2.shape) if np.any(np.isfinite(chi2)) else (0, 0)
    )
    return {
        "block_rows": block_rows, "block_couplings": BLOCK_COUPLINGS,
        "first_call_s": first[:2], "one_block_s": again[:2],
        "compile_s": (first[0] - again[0], first[1] - again[1]),
        "grid_s": (wall, cpu), "points": n,
        "computed_points": _computed_points(*chi2.shape, block_rows, BLOCK_COUPLINGS),
        "points_per_s": n / wall, "per_point_s": (wall / n, cpu / n),
        "converged_fraction": float(np.mean(conv)),
        "finite_fraction": float(np.mean(np.isfinite(chi2))),
        "chi2_min": float(chi2[i, j]), "argmin_mass_mev": float(masses[i]),
        "argmin_g": float(gs[j]), "chi2_grid": chi2, "converged_grid": conv,
    }  # fmt: skip


def bench_grid(liks, charges, masses, gs, cfg) -> dict:
    """(a): the 100 × 100 grid on every data set."""
    return {d: engine_run(liks[d], charges, masses, gs, cfg["repeat"]) for d in DATA}


def bench_blocks(lik, charges, masses, gs, cfg, reference) -> list[dict]:
    """(b): csi at each block_rows; the χ² must not depend on the block shape."""
    rows = []
    for br in cfg["block_sizes"]:
        r = engine_run(lik, charges, masses, gs, cfg["repeat"], block_rows=br)
        r["max_abs_diff_vs_a"] = float(np.nanmax(np.abs(r["chi2_grid"] - reference)))
        rows.append(r)
    return rows


# --- (c), (d): the CLI ---------------------------------------------------------------------------
def _cli(argv, data_dir, cwd, cache=None) -> dict:
    env = dict(os.environ, CEVNS_JAX_COMPILE_CACHE=str(cache) if cache else "off")
    if data_dir:
        env["CEVNS_JAX_DATA"] = os.path.abspath(data_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _, proc = _timed(lambda: subprocess.run(
        [sys.executable, "-m", "cevns_jax", *argv], env=env, cwd=cwd, capture_output=True,
        text=True, check=False))  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out = {"command": ["cevns-jax", *argv], "returncode": proc.returncode, "wall_s": (wall, cpu)}
    if proc.returncode:
        out["stderr_tail"] = proc.stderr[-2000:]
    return out


def bench_table(data_dir, cfg) -> dict:
    """(c): the full bound table end to end."""
    if not cfg["cli"]:
        return {"skipped": "--quick"}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "compile-cache"
        out = _cli(["table", "--json", "table.json"], data_dir, tmp, cache)
        path = Path(tmp) / "table.json"
        if path.exists():
            table = json.loads(path.read_text(encoding="utf-8"))
            rows = table.get("bounds", [])
            out.update(elapsed_s=table.get("elapsed_s"), rows=len(rows),
                       all_converged=sum(bool(r.get("all_converged")) for r in rows),
                       converged=sum(bool(r.get("converged")) for r in rows))  # fmt: skip
        out["warm"] = _cli(["table", "--json", "table.json"], data_dir, tmp, cache)
    return out


def bench_scan(data_dir, cfg) -> dict:
    """(d): ``cevns-jax scan --model B-L --data csi+lar`` on its default grid."""
    if not cfg["cli"]:
        return {"skipped": "--quick"}
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["scan", "--model", MODEL, "--data", "csi+lar", "--csv", "scan.csv",
                "--out", "scan.npz", "--no-progress"]  # fmt: skip
        cache = Path(tmp) / "compile-cache"
        out = _cli(argv, data_dir, tmp, cache)
        path = Path(tmp) / "scan.npz"
        if path.exists():
            with np.load(path) as f:
                chi2, conv = f["chi2"], f["converged"]
            out.update(grid=list(chi2.shape), points=int(chi2.size),
                       converged_fraction=float(np.mean(conv)),
                       finite_fraction=float(np.mean(np.isfinite(chi2))))  # fmt: skip
            out["per_point_s"] = tuple(t / chi2.size for t in out["wall_s"])
        # the same scan again from scratch, with the compilation cache the first run filled
        shutil.rmtree(Path(tmp) / "scan.npz.chunks", ignore_errors=True)
        path.unlink(missing_ok=True)
        out["warm"] = _cli(argv, data_dir, tmp, cache)
    return out


# --- (e): the NumPy/SciPy + iminuit reference ---------------------------------------------------
def _lattice(n: int, k: int) -> np.ndarray:
    """k interior indices spread evenly over 0..n-1."""
    return np.unique(np.linspace(0, n - 1, k + 2)[1:-1].round().astype(int))


def bench_reference(liks, inputs, charges, masses, gs, grid, cfg) -> dict:
    """(e): Migrad on the oracle's χ² (reference spectrum included) at a few grid points."""
    km, kg = cfg["ref_points"]
    points = [(i, j) for i in _lattice(masses.size, km) for j in _lattice(gs.size, kg)]
    fns = {"csi": nl.profile_csi, "lar": nl.profile_lar}
    per = {k: [] for k in fns}
    for i, j in points:
        model = ref.NewPhysics.from_charges(charges, masses[i], gs[j])
        for k, fn in fns.items():
            with np.errstate(all="ignore"):  # far out, the oracle's Migrad leaves its domain
                wall, cpu, p = _timed(lambda fn=fn, k=k, model=model: fn(inputs[k], model))
            per[k].append({"wall": wall, "cpu": cpu, "fval": p.fval, "valid": p.valid,
                           "nfcn": p.nfcn, "ours": float(grid[k]["chi2_grid"][i, j])})  # fmt: skip
    out = {"points": [[float(masses[i]), float(gs[j])] for i, j in points], "data": {}}
    for d in DATA:
        parts = d.split("+")
        wall = np.sum([[r["wall"] for r in per[k]] for k in parts], axis=0)
        cpu = np.sum([[r["cpu"] for r in per[k]] for k in parts], axis=0)
        theirs = np.sum([[r["fval"] for r in per[k]] for k in parts], axis=0)
        ours = np.array([grid[d]["chi2_grid"][i, j] for i, j in points])
        valid = np.all([[r["valid"] for r in per[k]] for k in parts], axis=0)
        ref_pp = (float(np.mean(wall)), float(np.mean(cpu)))
        ours_pp = grid[d]["per_point_s"]
        diff = ours - theirs
        out["data"][d] = {
            "reference_per_point_s": ref_pp, "ours_per_point_s": ours_pp,
            "ratio_ours_over_reference": ours_pp[0] / ref_pp[0],
            "reference_per_valid_point_s": (float(np.mean(wall[valid])),
                                            float(np.mean(cpu[valid]))) if valid.any() else None,
            "reference_valid": int(np.sum(valid)), "points": len(points),
            "reference_nfcn_mean": float(np.mean(np.sum(
                [[r["nfcn"] for r in per[k]] for k in parts], axis=0))),
            "reference_valid_mask": valid.tolist(), "ours_minus_reference": diff.tolist(),
            "max_ours_minus_reference": float(np.max(diff[valid])) if valid.any() else None,
            "min_ours_minus_reference": float(np.min(diff[valid])) if valid.any() else None,
        }  # fmt: skip
    return out


# --- (f): iminuit on the same χ² -------------------------------------------------------------
def _spread(mask: np.ndarray, k: int) -> np.ndarray:
    """Up to k of the grid cells where ``mask`` holds, spread evenly in (mass, g) order."""
    cells = np.argwhere(mask)
    if len(cells) <= k:
        return cells
    return cells[np.unique(np.linspace(0, len(cells) - 1, k).round().astype(int))]


@eqx.filter_jit
def _signal(part, model):
    return part.signal(recoil_spectrum(part.experiment, model))


@eqx.filter_jit
def _start(part, signal):
    return part.start(signal)


def _value_and_grad(part):
    """Jitted (χ², ∇χ²) of ``part.twice_nll`` in Migrad's coordinates: log a_CEvNS where the
    likelihood profiles in log a (a > 0, as ours), the nuisances themselves otherwise."""

    def objective(y, signal):
        nu = y.at[0].set(jnp.exp(y[0])) if part.log_cevns else y
        return part.twice_nll(nu, signal)

    return eqx.filter_jit(jax.value_and_grad(objective))


def _migrad(part, vg, signal) -> Minuit:
    y0 = np.array(_start(part, signal))
    if part.log_cevns:
        y0[0] = np.log(y0[0])
    widths = np.asarray(part.widths())
    last = {}

    def evaluate(y):
        key = np.asarray(y, dtype=float).tobytes()
        if key not in last:
            value, grad = vg(jnp.asarray(y, dtype=float), signal)
            last.clear()
            last[key] = (float(value), np.asarray(grad))
        return last[key]

    m = Minuit(lambda y: evaluate(y)[0], y0, grad=lambda y: evaluate(y)[1], name=part.names)
    m.errordef = Minuit.LEAST_SQUARES
    m.errors = np.where(np.isfinite(widths), widths, FREE_SCALE)
    m.strategy = MIGRAD_STRATEGY
    m.tol = MIGRAD_TOL
    m.print_level = 0
    m.migrad()
    return m


def bench_minima(liks, charges, masses, gs, grid, cfg) -> dict:
    """(f): ours − iminuit on the same χ², near the 2σ contour and far-excluded."""
    out = {}
    half = cfg["check_points"] // 2
    for d in ("csi", "lar"):
        part = liks[d].parts[0]
        vg = _value_and_grad(part)
        chi2 = grid[d]["chi2_grid"]
        delta = chi2 - np.nanmin(chi2)
        near = _spread((delta >= NEAR_WINDOW[0]) & (delta <= NEAR_WINDOW[1]), half)
        far_above = FAR_ABOVE if np.nanmax(delta) > FAR_ABOVE else FAR_FRACTION * np.nanmax(delta)
        far = _spread(delta > far_above, cfg["check_points"] - len(near))
        rows = []
        t0 = time.perf_counter()
        for kind, cells in (("near", near), ("far", far)):
            for i, j in cells:
                signal = _signal(part, Mediator(charges, masses[i], gs[j]))
                m = _migrad(part, vg, signal)
                rows.append({
                    "kind": kind, "mass_mev": float(masses[i]), "g": float(gs[j]),
                    "delta_chi2": float(delta[i, j]), "ours": float(chi2[i, j]),
                    "iminuit": float(m.fval), "valid": bool(m.valid), "nfcn": int(m.nfcn),
                    "ngrad": int(m.ngrad), "edm": float(m.fmin.edm),
                })  # fmt: skip
        elapsed = time.perf_counter() - t0
        diff = np.array([r["ours"] - r["iminuit"] for r in rows])
        valid = np.array([r["valid"] for r in rows], bool)

        def stats(x):
            if x.size == 0:
                return {"max": None, "p99": None, "min": None}
            return {"max": float(np.max(x)), "p99": float(np.percentile(x, 99)),
                    "min": float(np.min(x))}  # fmt: skip

        out[d] = {
            "points": len(rows), "near": len(near), "far": len(far),
            "far_threshold": float(far_above), "max_delta_chi2": float(np.nanmax(delta)),
            "iminuit_failed": int(np.sum(~valid)),
            "ours_minus_iminuit": stats(diff), "ours_minus_iminuit_valid": stats(diff[valid]),
            "above_tol": int(np.sum(diff > EXCESS_TOL)), "tol": EXCESS_TOL,
            "nfcn_median": float(np.median([r["nfcn"] for r in rows])) if rows else None,
            "iminuit_s": elapsed, "rows": rows,
        }  # fmt: skip
    return out


# --- report ------------------------------------------------------------------------------------
def environment() -> dict:
    dev = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": jax.default_backend(),
        "device": str(dev),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": dev.device_kind,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "dtype": str(jnp.zeros(()).dtype),
        "x64": bool(jax.config.jax_enable_x64),
        "versions": package_versions(
            ("cevns_jax", "jax", "jaxlib", "equinox", "numpy", "scipy", "iminuit")
        ),
        "code": code_version(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _engine_line(label, data, r) -> str:
    pad = r["computed_points"] / r["points"] - 1.0
    return (f"  {label:<18}{data:<9}{_wc(*r['compile_s']):>22}{_wc(*r['grid_s']):>22}"
            f"{r['points_per_s']:>10.0f}{_wc(*r['per_point_s']):>22}"
            f"{r['converged_fraction']:>7.3f}{r['finite_fraction']:>7.3f}{pad:>8.0%}")  # fmt: skip


def _sci(x) -> str:
    return "" if x is None else f"{x:.1e}"


def report(env, res, cfg) -> None:
    n = cfg["grid"]
    print(f"device: {env['device_kind']} ({env['backend']}), {env['cpu']}, "
          f"{env['cpu_count']} cores; load average {env['load_average'][0]:.1f} at the start, "
          f"{env['load_average_end'][0]:.1f} at the end; dtype {env['dtype']}")  # fmt: skip
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    print("times: wall [CPU]; compile = cold first call on one block − a second call; "
          f"grid = best of {cfg['repeat']}; padded = extra points the blocks compute")  # fmt: skip
    print("build_likelihood: " + ", ".join(f"{k} {_wc(*t)}" for k, t in res["build_s"].items()))
    hdr = (f"  {'task':<18}{'data':<9}{'compile':>22}{f'{n} x {n} grid':>22}{'points/s':>10}"
           f"{'per point':>22}{'conv':>7}{'finite':>7}{'padded':>8}")  # fmt: skip
    print(f"\n(a) profile_rows, {MODEL}, {n} x {n} (M 1 MeV-10 GeV, g 1e-6-1), block "
          f"{BLOCK_ROWS} x {BLOCK_COUPLINGS}")  # fmt: skip
    print(hdr)
    for d, r in res["grid"].items():
        print(_engine_line("profile_rows", d, r))
    print(f"\n(b) block_rows x {BLOCK_COUPLINGS} couplings, csi (last: max |Δχ²| vs (a))")
    print(hdr + f"{'|Δχ²|':>9}")
    for r in res["blocks"]:
        label = f"block {r['block_rows']} x {r['block_couplings']}"
        print(_engine_line(label, "csi", r) + f"{r['max_abs_diff_vs_a']:>9.0e}")
    for key, what in (("table", "(c) cevns-jax table"), ("scan", "(d) cevns-jax scan")):
        r = res[key]
        if "skipped" in r:
            print(f"\n{what}: skipped ({r['skipped']})")
            continue
        warm = _wc(*r["warm"]["wall_s"])
        line = (f"\n{what}: {' '.join(r['command'])}: rc {r['returncode']}, cold "
                f"{_wc(*r['wall_s'])}, warm (compilation cache) {warm}")  # fmt: skip
        if key == "table" and "rows" in r:
            line += (f"; elapsed_s {_fmt(r['elapsed_s'])}; {r['rows']} rows "
                     f"({r['converged']} converged, {r['all_converged']} all profiles "
                     "converged)")  # fmt: skip
        if key == "scan" and "points" in r:
            line += (f"; {r['grid'][0]} x {r['grid'][1]}, {_wc(*r['per_point_s'])} per point, "
                     f"converged {r['converged_fraction']:.3f}, finite "
                     f"{r['finite_fraction']:.3f}")  # fmt: skip
        print(line)
        if r["returncode"]:
            print(r.get("stderr_tail", ""))
    e = res["reference"]
    print(f"\n(e) NumPy/SciPy + iminuit reference (spectrum + Migrad) at {len(e['points'])} "
          "grid points vs (a) per point; ours − ref over the valid reference points")  # fmt: skip
    print(f"  {'data':<9}{'reference/point':>22}{'(valid points)':>22}{'ours/point':>22}"
          f"{'ours/ref':>10}{'valid':>8}{'nfcn':>7}{'ours−ref min':>14}{'max':>10}")  # fmt: skip
    for d, r in e["data"].items():
        vp = r["reference_per_valid_point_s"]
        print(f"  {d:<9}{_wc(*r['reference_per_point_s']):>22}"
              f"{_wc(*vp) if vp else '':>22}"
              f"{_wc(*r['ours_per_point_s']):>22}{r['ratio_ours_over_reference']:>10.4f}"
              f"{r['reference_valid']:>4}/{r['points']:<3}{r['reference_nfcn_mean']:>7.0f}"
              f"{_sci(r['min_ours_minus_reference']):>14}"
              f"{_sci(r['max_ours_minus_reference']):>10}")  # fmt: skip
    print(f"\n(f) ours − iminuit (Migrad strategy {MIGRAD_STRATEGY}, tol {MIGRAD_TOL:g}) on "
          f"twice_nll: near 2σ ({NEAR_WINDOW[0]:g} <= Δχ² <= {NEAR_WINDOW[1]:g}) + far "
          f"(Δχ² > {FAR_ABOVE:g}, else > {FAR_FRACTION:g} × max Δχ²)")  # fmt: skip
    print(f"  {'data':<9}{'near + far':>12}{'far Δχ² >':>11}{'failed':>8}{'max':>10}"
          f"{'p99':>10}{'min':>10}{f'> {EXCESS_TOL:g}':>9}{'nfcn':>7}{'max (valid)':>13}"
          f"{'iminuit':>10}")  # fmt: skip
    for d, r in res["minima"].items():
        s, v = r["ours_minus_iminuit"], r["ours_minus_iminuit_valid"]
        print(f"  {d:<9}{r['near']:>5} + {r['far']:<4}{r['far_threshold']:>11.1f}"
              f"{r['iminuit_failed']:>8}{_sci(s['max']):>10}{_sci(s['p99']):>10}"
              f"{_sci(s['min']):>10}{r['above_tol']:>9}{r['nfcn_median'] or 0:>7.0f}"
              f"{_sci(v['max']):>13}{_fmt(r['iminuit_s']):>10}")  # fmt: skip


def _jsonable(obj):
    if isinstance(obj, dict):
        return {
            str(k): _jsonable(v)
            for k, v in obj.items()
            if k not in ("chi2_grid", "converged_grid")
        }
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="COHERENT data directory (default $CEVNS_JAX_DATA)")
    p.add_argument("--json", metavar="FILE", help="write the results and environment to FILE")
    p.add_argument("--repeat", type=int, default=None,
                   help="full-grid repeats, best kept (default 3; 1 with --quick)")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help="30 x 30 grid, 1 repeat, two block sizes, no CLI runs, few check "
                        "points")  # fmt: skip
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeat is not None:
        cfg["repeat"] = args.repeat
    data_dir = args.data_dir or os.environ.get("CEVNS_JAX_DATA")

    env = environment()
    charges = get_model(MODEL)
    masses, gs = _grid(cfg["grid"])
    build = {}
    liks = {}
    for d in ("csi", "lar"):
        wall, cpu, liks[d] = _timed(lambda d=d: build_likelihood(d, data_dir))
        build[d] = (wall, cpu)
    # the same object build_likelihood("csi+lar") returns, without building twice
    liks["csi+lar"] = JointLikelihood(liks["csi"].parts + liks["lar"].parts)
    inputs = {"csi": nl.csi_data(data_dir, liks["csi"].parts[0].experiment),
              "lar": nl.lar_data(data_dir, liks["lar"].parts[0].experiment)}  # fmt: skip

    res = {"build_s": build}
    res["grid"] = bench_grid(liks, charges, masses, gs, cfg)
    res["blocks"] = bench_blocks(
        liks["csi"], charges, masses, gs, cfg, res["grid"]["csi"]["chi2_grid"]
    )
    res["table"] = bench_table(data_dir, cfg)
    res["scan"] = bench_scan(data_dir, cfg)
    res["reference"] = bench_reference(liks, inputs, charges, masses, gs, res["grid"], cfg)
    res["minima"] = bench_minima(liks, charges, masses, gs, res["grid"], cfg)
    env["load_average_end"] = os.getloadavg()
    report(env, res, cfg)
    if args.json:
        settings = {"model": MODEL, "mass_range_mev": MASS_RANGE_MEV, "g_range": G_RANGE,
                    "quick": args.quick, "data_dir": data_dir, "migrad_tol": MIGRAD_TOL,
                    "migrad_strategy": MIGRAD_STRATEGY, **cfg}  # fmt: skip
        payload = {"environment": env, "settings": settings, "results": res}
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(_jsonable(payload), stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
