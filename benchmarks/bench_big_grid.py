"""Benchmark: one large profiled (M, g) grid through the engine — the prepared GPU run.

A B−L grid of ``--size`` × ``--size`` points (default 1000 × 1000, M log-uniform in
1 MeV–10 GeV, g in 1e-6–1) on csi+lar (or ``--data``) with ``--block-rows`` rows per
compiled block (default 256: a GPU wants wide batches; the CPU default of the engine is
16): compile time (one block, cold), then the whole grid once, with the device, dtype and
versions recorded (the same environment record as ``bench_engine.py``). Run it where an
accelerator is visible; on a 2-core CPU use ``--size 200`` (a 1000 × 1000 grid takes
~5 min there).

Run:  python benchmarks/bench_big_grid.py --data-dir ../shared/data/coherent --json big.json
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cevns_jax  # noqa: E402

cevns_jax.enable_x64()

from bench_engine import MODEL, _grid, _jsonable, _timed, environment  # noqa: E402

from cevns_jax.charges import get_model  # noqa: E402
from cevns_jax.engine import BLOCK_COUPLINGS, profile_rows  # noqa: E402
from cevns_jax.registry import build_likelihood  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data-dir", help="COHERENT data directory (default $CEVNS_JAX_DATA)")
    p.add_argument("--data", default="csi+lar", help="csi, lar or csi+lar (default)")
    p.add_argument("--size", type=int, default=1000, help="points per axis (default 1000)")
    p.add_argument("--block-rows", type=int, default=256, help="rows per block (default 256)")
    p.add_argument("--json", metavar="FILE", help="write the results and environment to FILE")
    args = p.parse_args(argv)
    env = environment()
    lik = build_likelihood(args.data, args.data_dir or os.environ.get("CEVNS_JAX_DATA"))
    charges = get_model(MODEL)
    masses, gs = _grid(args.size)
    kw = {"block_rows": args.block_rows, "block_couplings": BLOCK_COUPLINGS}
    first = _timed(lambda: profile_rows(lik, charges, masses[:1], gs[:1], **kw))
    again = _timed(lambda: profile_rows(lik, charges, masses[:1], gs[:1], **kw))
    wall, cpu, (chi2, conv) = _timed(lambda: profile_rows(lik, charges, masses, gs, **kw))
    res = {
        "data": args.data, "size": args.size, **kw,
        "compile_s": (first[0] - again[0], first[1] - again[1]),
        "grid_s": (wall, cpu), "points_per_s": chi2.size / wall,
        "converged_fraction": float(np.mean(conv)),
        "finite_fraction": float(np.mean(np.isfinite(chi2))),
        "chi2_min": float(np.nanmin(chi2)),
    }  # fmt: skip
    print(
        f"{env['device']} ({env['dtype']}), {args.data}, B-L {args.size} x {args.size}, "
        f"block {args.block_rows} x {BLOCK_COUPLINGS}: compile {res['compile_s'][0]:.1f} s, "
        f"grid {wall:.1f} s [CPU {cpu:.1f} s], {res['points_per_s']:.0f} points/s, "
        f"converged {res['converged_fraction']:.4f}, finite {res['finite_fraction']:.4f}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(_jsonable({"environment": env, "settings": vars(args), "results": res}),
                      stream, indent=2)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
