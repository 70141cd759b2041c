"""One task of a chunked scan: a block of the (M, g) grid for one or several models.

A :class:`ChunkTask` is self-contained and small (a few numbers and paths), so it can be
sent to any worker; :func:`compute_chunk` evaluates it with the grid engine in one batched
call (the rows are the (model, mass) pairs, the charges stacked along them, so several
models share the compiled blocks and nothing is retraced), writes each model's chunk file
atomically and returns the values with its timings (:class:`ChunkReport`).

A chunk whose file already exists is not recomputed: a task rerun after its worker died
(the scheduler resubmits lost tasks) only computes what is missing.
"""

import dataclasses
import os
import time

import numpy as np

from .charges import U1Charges
from .engine import profile_rows
from .scan_store import Chunk, ChunkStore

__all__ = ["ChunkReport", "ChunkTask", "compute_chunk"]


@dataclasses.dataclass(frozen=True)
class ChunkTask:
    """A block of the grid for several models.

    Attributes:
        chunk: the block (mass rows × couplings).
        models: (K,) model names (for reports).
        charges: stacked charge arrays of the K models: ``quark``, ``nu``, ``lepton``
            (K, 3) and ``scalar`` (K,).
        masses_mev: (n_m,) the block's masses in MeV.
        couplings: (K, n_g) the block's couplings of each model.
        stores: (K,) each model's chunk directory, or None (nothing written).
    """

    chunk: Chunk
    models: tuple
    charges: dict
    masses_mev: np.ndarray
    couplings: np.ndarray
    stores: tuple


@dataclasses.dataclass(frozen=True)
class ChunkReport:
    """What a task did.

    Attributes:
        chunk: the block.
        models: the task's model names.
        computed: indices (into the task's models) computed now; the others were on disk.
        chi2, converged: (len(computed), n_m, n_g) the values computed.
        compute_s: engine time (s); write_s: time writing the chunk files (s).
        worker_pid: process id of the worker.
    """

    chunk: Chunk
    models: tuple
    computed: tuple
    chi2: np.ndarray
    converged: np.ndarray
    compute_s: float
    write_s: float
    worker_pid: int


def compute_chunk(lik, task: ChunkTask) -> ChunkReport:
    """Profiled χ² of a task's models on its block; writes a chunk file per model."""
    todo = tuple(k for k, s in enumerate(task.stores) if s is None or not s.has(task.chunk))
    n_m, n_g = task.masses_mev.size, task.couplings.shape[1]
    chi2 = np.zeros((len(todo), n_m, n_g))
    conv = np.zeros((len(todo), n_m, n_g), bool)
    start = time.perf_counter()
    if todo:
        pick = np.repeat(np.asarray(todo), n_m)  # rows: model-major, then mass
        charges = U1Charges.general(**{k: np.asarray(v)[pick] for k, v in task.charges.items()})
        masses = np.tile(task.masses_mev, len(todo))
        values, ok = profile_rows(lik, charges, masses, np.asarray(task.couplings)[pick])
        chi2, conv = values.reshape(chi2.shape), ok.reshape(conv.shape)
    computed = time.perf_counter()
    for i, k in enumerate(todo):
        store: ChunkStore | None = task.stores[k]
        if store is not None:
            store.write(task.chunk, chi2[i], conv[i])
    return ChunkReport(
        task.chunk,
        task.models,
        todo,
        chi2,
        conv,
        computed - start,
        time.perf_counter() - computed,
        os.getpid(),
    )
