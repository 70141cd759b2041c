"""The Dask worker plugin of :class:`cevns_jax.executors.DaskExecutor` (imports dask)."""

from distributed.diagnostics.plugin import WorkerPlugin

from .executors import configure_jax

__all__ = ["JaxWorkerSetup"]


class JaxWorkerSetup(WorkerPlugin):
    """:func:`~cevns_jax.executors.configure_jax` in every worker before its first task,
    and in workers that join or restart later (the scheduler keeps the plugin).

    Args:
        compile_cache: JAX persistent compilation cache directory, shared by the workers.
        single_thread: limit XLA to one thread per worker.
    """

    name = "cevns-jax-setup"

    def __init__(self, compile_cache, single_thread: bool = True):
        self.compile_cache = None if compile_cache is None else str(compile_cache)
        self.single_thread = single_thread

    def setup(self, worker) -> None:
        configure_jax(self.compile_cache, self.single_thread)
