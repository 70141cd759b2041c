"""Where the chunks of a scan run: this process, or the workers of a Dask cluster.

An :class:`Executor` runs independent tasks ``fn(shared, task)`` and yields their results
as they finish (in any order); ``shared`` (the likelihood) is sent to each worker once.

* :class:`LocalExecutor`: in this process, one task after another (each task is already one
  batched, compiled engine call over all local devices).
* :class:`DaskExecutor`: on a :mod:`dask.distributed` cluster, a
  :class:`~distributed.LocalCluster` of ``workers`` processes on this machine, or an
  existing cluster reached at ``scheduler`` (started by hand, by ``dask-jobqueue`` on
  SLURM, ...). Worker processes are spawned, never forked (a fork after JAX has started its
  threads can deadlock), each runs one task at a time, and every worker is set up by
  :class:`cevns_jax._dask_worker.JaxWorkerSetup` before its first task: float64, XLA
  limited to one thread (one worker per core), and JAX's persistent compilation cache in
  a shared directory, so each configuration is compiled once and every other worker, and
  every later run, loads it.

Tasks must write their results where the client can read them (a file system shared by
the client and every worker); the scan does (:mod:`cevns_jax.scan_store`).
"""

import abc
import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "configure_jax",
    "default_compile_cache",
]

#: XLA flags of a worker limited to one thread (its share of one core).
SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_compile_cache() -> Path:
    """``$CEVNS_JAX_CACHE/jax-compilation``, else the user cache ``cevns_jax/jax-compilation``."""
    import pooch

    return Path(os.environ.get("CEVNS_JAX_CACHE") or pooch.os_cache("cevns_jax")) / (
        "jax-compilation"
    )


def single_thread_env() -> dict[str, str]:
    """Environment variables limiting XLA (and BLAS/OpenMP) in a process to one thread."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        flags = f"{flags} {SINGLE_THREAD_XLA_FLAGS}".strip()
    return {"XLA_FLAGS": flags, **dict.fromkeys(_THREAD_VARS, "1")}


def configure_jax(compile_cache: str | os.PathLike | None, single_thread: bool = False) -> None:
    """Set up JAX in a process: float64, optionally one XLA thread, the compilation cache.

    The thread limit only takes effect before JAX's backend has started in the process
    (a fresh worker). Every compilation is cached (no minimum compile time or size).
    """
    if single_thread:
        os.environ.update(single_thread_env())
    import jax

    jax.config.update("jax_enable_x64", True)
    if compile_cache is not None:
        Path(compile_cache).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(compile_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def use_compile_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache for this process, as the CLI does.

    ``$CEVNS_JAX_COMPILE_CACHE`` names the directory (``off``: no cache); by default
    :func:`default_compile_cache`. Returns the directory (None when off).
    """
    choice = os.environ.get("CEVNS_JAX_COMPILE_CACHE", "")
    if choice.lower() == "off":
        return None
    path = Path(choice) if choice else default_compile_cache()
    configure_jax(path)
    return path


def _cores() -> int:
    """CPU cores this process may use (its affinity mask, e.g. a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Executor(abc.ABC):
    """Runs independent tasks; a context manager (``with executor: ...``) for its resources."""

    @classmethod
    @abc.abstractmethod
    def from_options(cls, workers: int | None, scheduler: str | None, compile_cache):
        """The executor of the command-line options ``--workers``, ``--scheduler``,
        ``--compile-cache``.

        Raises:
            ConfigError: an option this executor does not take, or a bad value.
        """

    @abc.abstractmethod
    def run(self, fn: Callable, shared, tasks: Iterable) -> Iterator:
        """Yield ``fn(shared, task)`` for every task, in the order they finish.

        Closing the generator early (an exception, Ctrl-C in the client) cancels the tasks
        not yet finished.
        """

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """One line for messages and provenance."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the executor's resources (workers, connections)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass
class LocalExecutor(Executor):
    """This process, task after task.

    Attributes:
        compile_cache: JAX persistent compilation cache directory for this process
            (None: leave JAX's setting as it is).
    """

    compile_cache: str | os.PathLike | None = None

    @classmethod
    def from_options(cls, workers, scheduler, compile_cache):
        if workers is not None or scheduler is not None:
            raise ConfigError("--workers and --scheduler need --executor dask")
        return cls(compile_cache=compile_cache)

    @property
    def description(self) -> str:
        return "local (this process)"

    def run(self, fn, shared, tasks):
        if self.compile_cache is not None:
            configure_jax(self.compile_cache)
        for task in tasks:
            yield fn(shared, task)

    def close(self) -> None:
        """Nothing to release."""


class DaskExecutor(Executor):
    """A :mod:`dask.distributed` cluster: a local one of ``workers`` processes, or an
    existing one at ``scheduler``.

    Args:
        workers: processes of a :class:`~distributed.LocalCluster` on this machine (one
            thread each, restarted by their nanny when they die); default: the CPU cores
            this process may use.
        scheduler: address of a running scheduler (``tcp://host:8786``, or a scheduler file
            path ending in ``.json``) instead of a local cluster.
        compile_cache: shared JAX compilation cache directory (default
            :func:`default_compile_cache`).
        single_thread: limit XLA to one thread per worker (one worker per core).

    Raises:
        ConfigError: both ``workers`` and ``scheduler``, ``workers`` < 1, or dask missing.
    """

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        compile_cache: str | os.PathLike | None = None,
        single_thread: bool = True,
    ):
        if workers is not None and scheduler is not None:
            raise ConfigError("give either a number of local workers or a scheduler, not both")
        if workers is not None and workers < 1:
            raise ConfigError(f"the number of workers must be >= 1, got {workers}")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the dask executor needs dask.distributed. Fix: pip install 'cevns_jax[cluster]'"
            ) from None
        self.workers = workers if workers is not None or scheduler else _cores()
        self.scheduler = scheduler
        self.compile_cache = default_compile_cache() if compile_cache is None else compile_cache
        self.single_thread = single_thread
        self.cluster = self.client = None

    @classmethod
    def from_options(cls, workers, scheduler, compile_cache):
        return cls(workers=workers, scheduler=scheduler, compile_cache=compile_cache)

    @property
    def description(self) -> str:
        if self.scheduler:
            return f"dask (scheduler {self.scheduler})"
        return f"dask (local cluster of {self.workers} worker processes)"

    def connect(self):
        """The :class:`~distributed.Client`, starting the local cluster on first use."""
        if self.client is not None:
            return self.client
        import dask
        import distributed

        env = single_thread_env() if self.single_thread else {}
        if self.scheduler is None:
            with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
                self.cluster = distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: never clashes with another
                    silence_logs=logging.ERROR,  # a worker's restart is not the user's error
                    env=env,
                )
            self.client = distributed.Client(self.cluster)
        elif self.scheduler.endswith(".json"):
            self.client = distributed.Client(scheduler_file=self.scheduler)
        else:
            self.client = distributed.Client(self.scheduler)
        from ._dask_worker import JaxWorkerSetup

        self.client.register_plugin(JaxWorkerSetup(self.compile_cache, self.single_thread))
        return self.client

    def run(self, fn, shared, tasks):
        import distributed

        client = self.connect()
        tasks = list(tasks)
        if not tasks:
            return
        [remote] = client.scatter([shared], broadcast=True, hash=False)
        # the first task alone: one worker compiles and fills the compilation cache, the
        # others then load it instead of all compiling the same program at once
        futures = [client.submit(fn, remote, tasks[0], pure=False)]
        try:
            yield futures[0].result()
            futures += [client.submit(fn, remote, task, pure=False) for task in tasks[1:]]
            for future in distributed.as_completed(futures[1:]):
                yield future.result()
                future.release()
        finally:
            client.cancel(futures)

    def close(self) -> None:
        for resource in (self.client, self.cluster):
            if resource is not None:
                resource.close()
        self.client = self.cluster = None
