"""Scans on a real Dask cluster (a LocalCluster of 2 worker processes on this machine):
the distributed χ² equals the local one, a worker killed with SIGKILL in the middle of a
scan loses nothing and recomputes nothing finished, and a client killed in the middle
resumes from its chunks on disk."""

import collections
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cevns_jax.charges import get_model
from cevns_jax.engine import profile_rows
from cevns_jax.executors import DaskExecutor
from cevns_jax.likelihood import JointLikelihood
from cevns_jax.scan import load_scan, scan_models
from cevns_jax.scan_store import chunk_dir

pytest.importorskip("distributed")
# a cluster of 2 spawned workers importing JAX, one compilation, a client subprocess: 1.5 to
# 3 min on the 2 shared cores of the development machine, so slow; CI runs them (-m slow)
pytestmark = pytest.mark.slow

MASSES = np.geomspace(1e-3, 10.0, 16) * 1e3  # MeV, as cevns-jax scan --n-mass 16 makes them
COUPLINGS = np.geomspace(1e-7, 1e-1, 16)
MODELS = ("B-L", "universal")


@pytest.fixture(scope="module")
def lar_joint(lar_lik):
    return JointLikelihood((lar_lik,))


@pytest.fixture(scope="module")
def local(lar_joint):
    """The local χ² of every model on the grid (the engine in this process)."""
    return {m: profile_rows(lar_joint, get_model(m), MASSES, COUPLINGS)[0] for m in MODELS}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="module")
def cluster(cache):
    """2 spawned worker processes (~10 s to start and import JAX, then one compilation,
    which the other worker loads from the shared cache)."""
    with DaskExecutor(workers=2, compile_cache=cache) as executor:
        executor.connect().wait_for_workers(2)
        yield executor


def _chunks(path):
    return {p.name: p.stat() for p in chunk_dir(path).glob("m*.npz")}


def test_dask_scan_equals_local(cluster, cache, lar_joint, local, tmp_path):
    outs = {m: tmp_path / f"{m}.npz" for m in MODELS}
    models = {m: get_model(m) for m in MODELS}
    run = scan_models(models, lar_joint, MASSES, COUPLINGS, outs, executor=cluster,
                      chunk_masses=4, progress=False)  # fmt: skip
    assert run.n_tasks == 4 and run.chunks_computed == 8  # 4 chunks x 2 models
    workers = set(cluster.client.run(os.getpid).values())
    assert {r.worker_pid for r in run.reports} <= workers and os.getpid() not in workers
    for m in MODELS:
        assert np.max(np.abs(run.results[m].chi2 - local[m])) < 1e-10
        assert np.max(np.abs(load_scan(outs[m]).chi2 - local[m])) < 1e-10
    assert list(cache.glob("jit__block*"))  # the workers' compilation, cached for the others


def test_killed_worker_loses_nothing_and_recomputes_nothing(cluster, lar_joint, local, tmp_path):
    """SIGKILL one worker once a few chunks are on disk: the scan completes, every point
    computed, and no chunk finished before the kill is computed again (its file is the
    same file, and no report computed it twice)."""
    out = tmp_path / "killed.npz"
    pids = list(cluster.client.run(os.getpid).values())
    seen = {}

    def kill_when_started():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(_chunks(out) if chunk_dir(out).is_dir()
                                                   else {}) < 3:  # fmt: skip
            time.sleep(0.01)
        seen.update(_chunks(out))  # every chunk finished before the kill
        os.kill(pids[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    run = scan_models({"B-L": get_model("B-L")}, lar_joint, MASSES, COUPLINGS, {"B-L": out},
                      executor=cluster, chunk_masses=1, progress=False)  # fmt: skip
    killer.join()
    assert 3 <= len(seen) < MASSES.size  # killed in the middle of the scan
    res = run.results["B-L"]
    assert res.complete and np.max(np.abs(res.chi2 - local["B-L"])) < 1e-10
    after = _chunks(out)
    assert len(after) == MASSES.size
    counts = collections.Counter(r.chunk.name for r in run.reports if r.computed)
    recomputed = sum(n - 1 for n in counts.values()) + sum(
        after[f].st_ino != s.st_ino or after[f].st_mtime_ns != s.st_mtime_ns
        for f, s in seen.items()
    )
    assert recomputed == 0
    assert pids[0] not in cluster.client.run(os.getpid).values()  # the nanny restarted it


def test_killed_client_resumes_from_chunks(lar_joint, local, data_dir, cache, tmp_path):
    """A scan run by ``cevns-jax scan`` killed (SIGKILL) once a few chunks are on disk:
    rerunning it computes only the chunks missing."""
    out = tmp_path / "client.npz"
    argv = [sys.executable, "-m", "cevns_jax", "scan", "--model", "B-L", "--data", "lar",
            "--n-mass", str(MASSES.size), "--mass-range", "1e-3", "10", "--n-g", "16",
            "--g-range", "1e-7", "1e-1", "--chunk-masses", "1", "--out", str(out),
            "--data-dir", str(data_dir), "--compile-cache", str(cache),
            "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if chunk_dir(out).is_dir() and len(_chunks(out)) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen = _chunks(out)
    assert proc.returncode == -signal.SIGKILL and 2 <= len(seen) < MASSES.size
    assert not out.exists()  # killed before it assembled anything
    run = scan_models({"B-L": get_model("B-L")}, lar_joint, MASSES, COUPLINGS, {"B-L": out},
                      chunk_masses=1, progress=False)  # fmt: skip
    assert run.chunks_computed == MASSES.size - len(seen)
    assert {r.chunk.name + ".npz" for r in run.reports}.isdisjoint(seen)
    assert all(os.stat(chunk_dir(out) / f).st_mtime_ns == s.st_mtime_ns for f, s in seen.items())
    res = load_scan(out)
    assert res.complete and np.max(np.abs(res.chi2 - local["B-L"])) < 1e-10


def test_cli_dask_csv_equals_local(data_dir, cache, tmp_path, monkeypatch):
    """``cevns-jax scan ... --executor dask --workers 2 --csv`` writes the numbers of
    ``--executor local`` (the acceptance check of the cluster scans)."""
    from cevns_jax.cli import main

    monkeypatch.chdir(tmp_path)
    base = ["scan", "--model", "B-L", "--data", "lar", "--n-mass", "16", "--n-g", "16",
            "--data-dir", str(data_dir), "--no-progress"]  # fmt: skip
    assert main(base + ["--out", "local.npz", "--csv", "local.csv"]) == 0
    dask = ["--executor", "dask", "--workers", "2", "--compile-cache", str(cache)]
    assert main(base + dask + ["--out", "dask.npz", "--csv", "dask.csv"]) == 0

    def numbers(name):
        return [x for x in (tmp_path / name).read_text().splitlines() if not x.startswith("#")]

    assert len(numbers("local.csv")) == 1 + 16 * 16
    assert numbers("dask.csv") == numbers("local.csv")
