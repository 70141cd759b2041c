"""Exclusion regions in the (M, g) plane: chunked, resumable grid scans of the profiled χ².

:func:`scan_models` evaluates the profiled χ² (nuisances minimised at every point,
docs/physics.md §8) of one or several models on a grid of mediator masses × couplings with
the grid engine (:func:`cevns_jax.engine.profile_rows`). The grid is cut into chunks (a
block of masses × a block of couplings, for a group of models,
:func:`cevns_jax.scan_store.plan_chunks`), independent tasks that an executor runs here or
on a Dask cluster (:mod:`cevns_jax.executors`). A task is one batched engine call whose
rows are the (model, mass) pairs with the charges stacked along them, so every model,
mass and coupling shares the same compiled blocks.

Each finished chunk is written atomically as its own file in the model's chunk directory
next to the output (``scan.npz`` -> ``scan.chunks/``, :mod:`cevns_jax.scan_store`); at the
end (or on an interruption) the grid is assembled into the output ``.npz`` file holding
``masses_mev``, ``couplings``, ``chi2`` (NaN for rows not complete), ``converged``,
``done`` (rows), the model's charge arrays and a JSON ``metadata`` string (model, data,
experiments, likelihood settings, profilers, version, provenance; :data:`FORMAT`).
Called again with the same output, grid, model and data, a scan resumes: chunks on disk
(and rows done in the ``.npz``) are kept and only the missing chunks computed, however the
previous run ended (a killed worker, a killed client). A different configuration in the
same output is refused with :class:`ConfigError`. :func:`scan_grid` is the one-model
form. The result and its exclusion are :class:`~cevns_jax.scan_result.ScanResult`.
"""

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .charges import U1Charges
from .engine import BLOCK_COUPLINGS, BLOCK_ROWS
from .errors import ConfigError
from .executors import Executor, LocalExecutor
from .scan_files import MATCH_KEYS, check_grid, load_scan, metadata, resume, save, short
from .scan_result import (
    CL_2SIGMA,
    DELTA_CHI2_2D,
    FORMAT,
    ScanResult,
    default_coupling_range,
    delta_chi2_threshold,
)
from .scan_store import ChunkStore, chunk_dir, config_hash, plan_chunks
from .scan_tasks import ChunkReport, ChunkTask, compute_chunk

__all__ = [
    "CL_2SIGMA",
    "DELTA_CHI2_2D",
    "FORMAT",
    "ScanResult",
    "ScanRun",
    "default_coupling_range",
    "delta_chi2_threshold",
    "load_scan",
    "scan_grid",
    "scan_models",
]


# --- the scan ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ScanRun:
    """The outcome of :func:`scan_models`.

    Attributes:
        results: model name -> :class:`ScanResult` (complete unless interrupted).
        reports: the tasks run now, in the order they finished
            (:class:`~cevns_jax.scan_tasks.ChunkReport`: chunk, models computed, timings,
            worker).
        n_tasks: tasks of the whole scan (chunks × model groups).
        n_resumed: tasks already complete on disk when the run started.
        rows_before: model name -> rows complete when the run started.
    """

    results: dict
    reports: list
    n_tasks: int
    n_resumed: int
    rows_before: dict

    @property
    def chunks_computed(self) -> int:
        """Model chunks computed by this run (a task of K models computes up to K)."""
        return sum(len(r.computed) for r in self.reports)


@dataclasses.dataclass
class _Model:
    """One model's scan state in the client."""

    name: str
    charges: U1Charges
    meta: dict
    path: Path | None
    gs: np.ndarray  # (n_g,) couplings
    chi2: np.ndarray
    conv: np.ndarray
    done: np.ndarray  # (n_m, n_g) points
    store: ChunkStore | None = None
    changed: bool = False

    def result(self, masses) -> ScanResult:
        rows = self.done.all(axis=1)
        chi2 = np.where(rows[:, None], self.chi2, np.nan)
        return ScanResult(masses, self.gs, chi2, self.conv & rows[:, None], rows, dict(self.meta))


def _describe(meta, masses, gs):
    """``describe(old_metadata)`` for :meth:`ChunkStore.open`: what differs."""

    def describe(old):
        grid = old.get("grid", {})
        problems = [
            f"{key} ({short(old.get(key))} in the directory, {short(meta[key])} asked)"
            for key in MATCH_KEYS
            if old.get(key) != json.loads(json.dumps(meta[key]))
        ]
        for name, arr in (("masses_mev", masses), ("couplings", gs)):
            old_arr = np.asarray(grid.get(name, []), float)
            if old_arr.shape != arr.shape:
                problems.append(f"{name} ({old_arr.size} values stored, {arr.size} asked)")
            elif not np.array_equal(old_arr, arr):
                rel = np.max(np.abs(old_arr / arr - 1.0))
                problems.append(f"{name} (differ by up to {rel:.2g} relative)")
        return "; ".join(problems) or "its configuration hash"

    return describe


def _open_model(name, charges, lik, masses, gs, out_path, provenance) -> _Model:
    meta = metadata(charges, lik, name, provenance)
    shape = (masses.size, gs.size)
    state = _Model(
        name, charges, meta, None, gs,
        chi2=np.full(shape, np.nan), conv=np.zeros(shape, bool), done=np.zeros(shape, bool),
    )  # fmt: skip
    if out_path is None:
        return state
    state.path = path = Path(out_path)
    if not path.parent.is_dir():
        raise ConfigError(f"scan output {path}: directory {path.parent} does not exist")
    if path.exists():
        old = resume(path, masses, gs, meta)
        rows = old.done
        state.chi2[rows], state.conv[rows] = old.chi2[rows], old.converged[rows]
        state.done[rows] = True
        meta["provenance_first"] = old.metadata.get(
            "provenance_first", old.metadata.get("provenance")
        )
    if chunk_dir(path).is_dir():
        _open_store(state, masses)
        state.changed = state.store.fill(state.chi2, state.conv, state.done) > 0
    return state


def _open_store(state: _Model, masses) -> None:
    gs = state.gs
    match = {k: state.meta[k] for k in MATCH_KEYS}
    digest = config_hash(masses, gs, match)
    stored = {**state.meta, "grid": {"masses_mev": masses.tolist(), "couplings": gs.tolist()}}
    state.store = ChunkStore.open(
        chunk_dir(state.path), digest, stored, _describe(state.meta, masses, gs)
    )


def _charge_arrays(charges: list[U1Charges]) -> dict:
    return {f: np.stack([np.asarray(getattr(c, f), float) for c in charges])
            for f in ("quark", "nu", "lepton", "scalar")}  # fmt: skip


def scan_models(
    models: Mapping[str, U1Charges],
    lik,
    masses_mev,
    couplings,
    out_paths: Mapping[str, str | os.PathLike] | None = None,
    *,
    executor: Executor | None = None,
    chunk_masses: int = BLOCK_ROWS,
    chunk_couplings: int = BLOCK_COUPLINGS,
    chunk_models: int | None = None,
    progress: bool = True,
    provenance: Mapping | None = None,
) -> ScanRun:
    """Profiled χ² of several models on the (M, g) grid, chunk by chunk, saved and resumable.

    Args:
        models: model name -> charges (names are recorded in the metadata and checked on
            resume).
        lik: the data set's (joint) likelihood (:func:`cevns_jax.registry.build_likelihood`).
        masses_mev: (n_m,) mediator masses in MeV, > 0, strictly increasing.
        couplings: (n_g,) couplings, > 0, strictly increasing, or model name -> its own
            (n_g,) couplings (the same number for every model).
        out_paths: model name -> output ``.npz`` (its chunks go to the directory
            :func:`~cevns_jax.scan_store.chunk_dir` next to it); None: nothing written.
        executor: where the tasks run (default :class:`~cevns_jax.executors.LocalExecutor`).
            With a Dask executor the chunk directories must be on a file system every
            worker can write.
        chunk_masses, chunk_couplings: chunk size (default: one engine block of one model).
        chunk_models: models per task (default: all; their rows share the engine calls).
        progress: a tqdm bar over the tasks (stderr).
        provenance: run metadata (:func:`cevns_jax.provenance.provenance`) to store.

    Returns:
        :class:`ScanRun`. On an exception (Ctrl-C included) the outputs are assembled from
        what finished before it is raised again.

    Raises:
        ConfigError: bad grid or chunk size, or an output holding a different scan.
    """
    from tqdm.auto import tqdm

    masses = check_grid(masses_mev, "masses_mev")
    names = list(models)
    if not names:
        raise ConfigError("scan_models needs at least one model")
    if isinstance(couplings, Mapping):
        gs_of = {n: check_grid(couplings[n], f"couplings of {n}") for n in names}
    else:
        gs_of = dict.fromkeys(names, check_grid(couplings, "couplings"))
    if len({g.size for g in gs_of.values()}) > 1:
        raise ConfigError(
            "every model of a scan needs the same number of couplings, got "
            + ", ".join(f"{n}: {g.size}" for n, g in gs_of.items())
        )
    out_paths = {} if out_paths is None else dict(out_paths)
    states = [_open_model(n, models[n], lik, masses, gs_of[n], out_paths.get(n), provenance)
              for n in names]  # fmt: skip
    rows_before = {s.name: int(s.done.all(axis=1).sum()) for s in states}
    chunks = plan_chunks(masses.size, states[0].gs.size, chunk_masses, chunk_couplings)
    group = len(states) if chunk_models is None else max(1, chunk_models)
    tasks, n_all = [], 0
    for k0 in range(0, len(states), group):
        for chunk in chunks:
            n_all += 1
            todo = [s for s in states[k0 : k0 + group] if not s.done[chunk.index].all()]
            for s in todo:
                if s.path is not None and s.store is None:
                    _open_store(s, masses)
            if todo:
                tasks.append((chunk, todo))
    payload = [
        ChunkTask(chunk, tuple(s.name for s in todo), _charge_arrays([s.charges for s in todo]),
                  masses[chunk.index[0]], np.stack([s.gs[chunk.index[1]] for s in todo]),
                  tuple(s.store for s in todo))
        for chunk, todo in tasks
    ]  # fmt: skip
    owner = {(t.chunk, t.models): todo for t, (_, todo) in zip(payload, tasks, strict=True)}
    executor = LocalExecutor() if executor is None else executor
    reports: list[ChunkReport] = []
    desc = f"scan {','.join(names)} {states[0].meta['data']}"
    bar = tqdm(total=n_all, initial=n_all - len(tasks), disable=not progress, unit="chunk",
               miniters=1, desc=desc if len(desc) < 40 else desc[:37] + "...",
               dynamic_ncols=True)  # fmt: skip
    try:
        with bar:
            for report in executor.run(compute_chunk, lik, payload):
                todo = owner[(report.chunk, report.models)]
                for i, k in enumerate(report.computed):
                    s = todo[k]
                    s.chi2[report.chunk.index] = report.chi2[i]
                    s.conv[report.chunk.index] = report.converged[i]
                    s.done[report.chunk.index] = True
                    s.changed = True
                for k, s in enumerate(todo):
                    if k not in report.computed and s.store is not None:  # written before
                        s.changed |= s.store.fill(s.chi2, s.conv, s.done) > 0
                reports.append(report)
                bar.update(1)
    finally:
        for s in states:
            if s.path is not None and (s.changed or not s.path.exists()):
                save(s.path, s.result(masses), s.charges)
    results = {s.name: s.result(masses) for s in states}
    return ScanRun(results, reports, n_all, n_all - len(tasks), rows_before)


def scan_grid(
    charges: U1Charges,
    lik,
    masses_mev,
    couplings,
    out_path: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    model: str | None = None,
    provenance: Mapping | None = None,
    **options,
) -> ScanResult:
    """Profiled χ² of one model on the (M, g) grid (:func:`scan_models` of one model).

    Args:
        charges: the model's charges.
        lik: the data set's (joint) likelihood.
        masses_mev: (n_m,) mediator masses in MeV, > 0, strictly increasing.
        couplings: (n_g,) couplings, > 0, strictly increasing.
        out_path: output ``.npz``; if it (or its chunk directory) holds the same scan, its
            finished chunks are kept and only the others computed.
        progress: show a tqdm progress bar over the chunks (on stderr).
        model: model name recorded in the metadata (and checked on resume).
        provenance: run metadata (:func:`cevns_jax.provenance.provenance`) to store.
        **options: ``executor``, ``chunk_masses``, ``chunk_couplings`` of :func:`scan_models`.

    Returns:
        :class:`ScanResult` (complete unless interrupted by an exception).

    Raises:
        ConfigError: bad grid, or ``out_path`` holding a different scan.
    """
    out = None if out_path is None else {model: out_path}
    run = scan_models({model: charges}, lik, masses_mev, couplings, out, progress=progress,
                      provenance=provenance, **options)  # fmt: skip
    return run.results[model]
