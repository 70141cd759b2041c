"""Chunk files of a scan: the chunk plan, atomic writes, configuration hashes; executors'
options."""

import numpy as np
import pytest

from cevns_jax.errors import ConfigError
from cevns_jax.executors import DaskExecutor, LocalExecutor, single_thread_env
from cevns_jax.scan_store import (
    Chunk,
    ChunkStore,
    atomic_write,
    chunk_dir,
    config_hash,
    plan_chunks,
)

M, G = np.geomspace(1.0, 1e4, 5), np.geomspace(1e-6, 1.0, 7)


def test_plan_covers_the_grid_once():
    chunks = plan_chunks(5, 7, 2, 3)
    assert (
        len(chunks) == 3 * 3 and chunks[0] == Chunk(0, 2, 0, 3) and chunks[-1] == Chunk(4, 5, 6, 7)
    )
    cover = np.zeros((5, 7), int)
    for c in chunks:
        cover[c.index] += 1
    assert np.all(cover == 1)
    assert Chunk(0, 2, 0, 3).name == "m00000-00002_g00000-00003"
    with pytest.raises(ConfigError, match="chunk sizes must be >= 1"):
        plan_chunks(5, 7, 0, 3)


def test_config_hash_sees_grid_and_configuration():
    h = config_hash(M, G, {"model": "B-L"})
    assert h == config_hash(M.copy(), G.copy(), {"model": "B-L"})
    assert h != config_hash(M * (1 + 1e-15), G, {"model": "B-L"})
    assert h != config_hash(M, G[:-1], {"model": "B-L"})
    assert h != config_hash(M, G, {"model": "universal"})


def test_store_writes_atomically_and_refuses_another_configuration(tmp_path):
    assert chunk_dir(tmp_path / "scan.npz") == tmp_path / "scan.chunks"
    d = tmp_path / "scan.chunks"
    store = ChunkStore.open(d, "abc", {"model": "B-L"}, lambda old: "model")
    chunk = Chunk(1, 3, 0, 2)
    store.write(chunk, np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1, 1], [0, 1]], bool))
    assert store.has(chunk) and not store.has(Chunk(0, 1, 0, 2))
    chi2, conv, done = np.full((4, 2), np.nan), np.zeros((4, 2), bool), np.zeros((4, 2), bool)
    assert ChunkStore.open(d, "abc", {}, str).fill(chi2, conv, done) == 1
    np.testing.assert_array_equal(chi2[1:3], [[1.0, 2.0], [3.0, 4.0]])
    assert done[1:3].all() and not done[0].any() and not conv[2, 0] and conv[2, 1]
    with pytest.raises(ConfigError, match="chunks of a different scan: model"):
        ChunkStore.open(d, "other", {}, lambda old: "model")
    # a chunk file of another hash (copied in by hand) is never mixed in
    ChunkStore(d, "other").write(Chunk(0, 1, 0, 2), np.zeros((1, 2)), np.ones((1, 2), bool))
    done[:] = False
    assert store.fill(chi2, conv, done) == 1 and not done[0].any()


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def failing(stream):
        stream.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_executor_options():
    assert isinstance(LocalExecutor.from_options(None, None, None), LocalExecutor)
    with pytest.raises(ConfigError, match="need --executor dask"):
        LocalExecutor.from_options(2, None, None)
    pytest.importorskip("distributed")
    ex = DaskExecutor.from_options(3, None, "/tmp/c")
    assert ex.workers == 3 and "3 worker processes" in ex.description and ex.client is None
    assert "tcp://h:1" in DaskExecutor(scheduler="tcp://h:1").description
    with pytest.raises(ConfigError, match="not both"):
        DaskExecutor(workers=2, scheduler="tcp://h:1")
    env = single_thread_env()
    assert (
        "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"] and env["OMP_NUM_THREADS"] == "1"
    )
