"""Run ``cevns-jax scan`` on SLURM: start Dask workers as SLURM jobs with dask-jobqueue,
then run the scan's chunks on them (``--executor dask --scheduler ADDRESS``).

Run it on a login node (or inside a small SLURM job of its own), from a directory on a file
system that every compute node sees (the chunk files are written by the workers there), and
with cevns_jax installed with its cluster extra in the environment activated by
``jobqueue.yaml``::

    python examples/slurm/scan_slurm.py --jobs 4 -- --model all --data csi+lar \\
        --n-mass 200 --n-g 200 --out 'scans/{model}.npz' --plot 'scans/{model}.png'

Everything after ``--`` is passed to ``cevns-jax scan``. If the script (or a job) is killed,
run the same command again: the finished chunks are kept and only the missing ones computed.
"""

import argparse
import sys
from pathlib import Path

import dask.config
import yaml
from dask_jobqueue import SLURMCluster

from cevns_jax.cli import main as cevns_jax_main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="SLURM jobs of workers (default 2)")
    p.add_argument(
        "--config",
        default=Path(__file__).with_name("jobqueue.yaml"),
        help="dask-jobqueue configuration (default: jobqueue.yaml next to this script)",
    )
    p.add_argument("scan", nargs=argparse.REMAINDER, help="-- then the cevns-jax scan options")
    args = p.parse_args(argv)
    scan = args.scan[1:] if args.scan[:1] == ["--"] else args.scan
    with open(args.config, encoding="utf-8") as stream:
        dask.config.update(dask.config.config, yaml.safe_load(stream), priority="new")
    with SLURMCluster() as cluster:
        cluster.scale(jobs=args.jobs)  # workers join as their jobs start; tasks wait for them
        print(cluster.job_script(), file=sys.stderr)  # what was submitted, for the record
        return cevns_jax_main(
            ["scan", *scan, "--executor", "dask", "--scheduler", cluster.scheduler_address]
        )


if __name__ == "__main__":
    sys.exit(main())
