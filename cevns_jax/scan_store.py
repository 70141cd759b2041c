"""Chunk files of a scan: independent pieces of the (M, g) grid, each written atomically.

A scan's grid is cut into chunks (a block of mass rows × a block of couplings,
:func:`plan_chunks`); every finished chunk is its own small ``.npz`` file in a directory
next to the scan's output (:func:`chunk_dir`: ``scan.npz`` -> ``scan.chunks/``), so any
number of processes (Dask workers on several machines sharing a file system) can write at
once without a lock. Every file is written to a temporary name in the same directory and
renamed (:func:`atomic_write`, ``os.replace``): a reader sees a whole chunk or none, and a
process killed while writing leaves no partial chunk.

The directory's ``metadata.json`` holds the scan's configuration and its hash
(:func:`config_hash`: grid, model, charges, data, likelihood settings, solvers; not the
provenance); a chunk file carries the hash too, so chunks of another configuration are
never mixed in. Opening a directory of another configuration raises :class:`ConfigError`.
"""

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .errors import ConfigError

__all__ = ["Chunk", "ChunkStore", "atomic_write", "chunk_dir", "config_hash", "plan_chunks"]

_METADATA = "metadata.json"


def atomic_write(path: Path, write: Callable) -> None:
    """Write a file atomically: ``write(stream)`` into a temporary file next to ``path``,
    then ``os.replace`` it onto ``path`` (the temporary file is removed on any error)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as stream:
            write(stream)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def chunk_dir(out_path: str | os.PathLike) -> Path:
    """The chunk directory of a scan output: ``scan.npz`` -> ``scan.chunks``."""
    out = Path(out_path)
    return out.with_name(out.stem + ".chunks")


def config_hash(masses_mev: np.ndarray, couplings: np.ndarray, match: Mapping) -> str:
    """sha256 of the grid (float64 bytes) and of the configuration entries ``match``."""
    h = hashlib.sha256()
    for arr in (masses_mev, couplings):
        h.update(np.ascontiguousarray(arr, np.float64).tobytes())
        h.update(b"|")
    h.update(json.dumps(match, sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Chunk:
    """A block of the grid: mass rows ``m0:m1`` × couplings ``g0:g1`` (half open)."""

    m0: int
    m1: int
    g0: int
    g1: int

    @property
    def name(self) -> str:
        return f"m{self.m0:05d}-{self.m1:05d}_g{self.g0:05d}-{self.g1:05d}"

    @property
    def index(self) -> tuple[slice, slice]:
        return slice(self.m0, self.m1), slice(self.g0, self.g1)


def plan_chunks(n_mass: int, n_g: int, chunk_masses: int, chunk_couplings: int) -> list[Chunk]:
    """The chunks of an ``n_mass`` × ``n_g`` grid, row-major (the last ones may be smaller).

    Raises:
        ConfigError: a chunk size below 1.
    """
    if chunk_masses < 1 or chunk_couplings < 1:
        raise ConfigError(
            f"chunk sizes must be >= 1, got {chunk_masses} masses x {chunk_couplings} couplings"
        )
    return [
        Chunk(m0, min(m0 + chunk_masses, n_mass), g0, min(g0 + chunk_couplings, n_g))
        for m0 in range(0, n_mass, chunk_masses)
        for g0 in range(0, n_g, chunk_couplings)
    ]


@dataclasses.dataclass(frozen=True)
class ChunkStore:
    """The chunk directory of one model's scan.

    Attributes:
        directory: the directory (created by :meth:`open`).
        digest: the configuration hash (:func:`config_hash`).
    """

    directory: Path
    digest: str

    @classmethod
    def open(cls, directory: Path, digest: str, metadata: Mapping, describe: Callable):
        """Open (creating it if needed) the chunk directory of a configuration.

        Args:
            directory: the chunk directory.
            digest: the configuration hash.
            metadata: the scan's metadata, written to ``metadata.json`` when new.
            describe: ``describe(old_metadata) -> str``, what differs from a stored
                configuration (for the error message).

        Raises:
            ConfigError: the directory holds chunks of another configuration.
        """
        directory.mkdir(exist_ok=True)
        meta_path = directory / _METADATA
        if meta_path.exists():
            try:
                old = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise ConfigError(
                    f"{meta_path} is not readable ({err}); delete {directory} to start afresh"
                ) from None
            if old.get("config_sha256") != digest:
                raise ConfigError(
                    f"{directory} holds chunks of a different scan: {describe(old)}. Choose "
                    "another output path or delete the file and its chunk directory to start "
                    "afresh"
                )
        else:
            text = json.dumps({**metadata, "config_sha256": digest}, default=str, indent=1)
            atomic_write(meta_path, lambda stream: stream.write(text.encode()))
        return cls(directory, digest)

    def path(self, chunk: Chunk) -> Path:
        return self.directory / f"{chunk.name}.npz"

    def has(self, chunk: Chunk) -> bool:
        return self.path(chunk).exists()

    def write(self, chunk: Chunk, chi2: np.ndarray, converged: np.ndarray) -> None:
        """Write one finished chunk atomically: (m1-m0, g1-g0) χ² and convergence flags."""
        arrays = {
            "bounds": np.array([chunk.m0, chunk.m1, chunk.g0, chunk.g1]),
            "chi2": np.asarray(chi2, float),
            "converged": np.asarray(converged, bool),
            "config_sha256": np.array(self.digest),
        }
        atomic_write(self.path(chunk), lambda stream: np.savez(stream, **arrays))

    def fill(self, chi2: np.ndarray, converged: np.ndarray, done: np.ndarray) -> int:
        """Copy every chunk on disk into the (n_m, n_g) arrays (in place); returns how many.

        ``done`` (n_m, n_g) marks the points filled. Files of another configuration hash
        are ignored (they cannot come from this scan).
        """
        n = 0
        for path in sorted(self.directory.glob("m*_g*.npz")):
            with np.load(path, allow_pickle=False) as f:
                if str(f["config_sha256"]) != self.digest:
                    continue
                m0, m1, g0, g1 = (int(b) for b in f["bounds"])
                chi2[m0:m1, g0:g1] = f["chi2"]
                converged[m0:m1, g0:g1] = f["converged"]
                done[m0:m1, g0:g1] = True
            n += 1
        return n
