"""Run metadata written next to every result: versions, device, data checksums, configuration.

A result file is only useful if it says what produced it. :func:`provenance` collects, as a
JSON-ready dict: the versions of the packages that determine the numbers, the JAX backend,
devices and float precision, a UTC timestamp, the SHA-256 of every release file the run read
(each checked against the pinned registry digest) and the run's configuration. Every CLI
command that writes JSON stores it under ``"provenance"``.
"""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from .datasets import REGISTRY, data_path, file_sha256
from .errors import ConfigError

__all__ = [
    "PACKAGES",
    "provenance",
    "package_versions",
    "code_version",
    "command_line",
    "cpu_name",
    "jax_environment",
    "data_checksums",
]

#: Distributions whose versions are recorded (the ones that can change the numbers).
PACKAGES = ("cevns_jax", "jax", "jaxlib", "equinox", "optax", "numpy", "scipy")


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` if absent), plus ``python``."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


_COMMAND_LINE: list[str] | None = None


def set_command_line(argv: Sequence[str]) -> None:
    """Record the command line of this run (the CLI calls this with its own argv, so that
    runs through ``cevns_jax.cli.main([...])`` record their arguments, not the caller's)."""
    global _COMMAND_LINE
    _COMMAND_LINE = [str(a) for a in argv]


def command_line() -> list[str]:
    """The recorded command line (:func:`set_command_line`), else ``sys.argv``."""
    return list(_COMMAND_LINE) if _COMMAND_LINE is not None else list(sys.argv)


def code_version() -> dict:
    """This package's version and, when it runs from a git checkout, the commit.

    Returns:
        ``{"version", "git_commit", "git_dirty"}``; the git fields are ``None`` for an
        installed copy (no repository around the package) or when git is unavailable.
    """
    from . import __version__

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {"version": __version__, "git_commit": None, "git_dirty": None}

    def git(*args):
        return subprocess.run(
            ["git", "-C", root, *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        if os.path.abspath(git("rev-parse", "--show-toplevel")) != root:
            return out  # an installed copy inside some other repository
        out["git_commit"] = git("rev-parse", "HEAD")
        out["git_dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def cpu_name() -> str:
    """The host CPU model (from /proc/cpuinfo where available)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def jax_environment() -> dict:
    """JAX backend, devices, host CPU and whether 64-bit floats are on."""
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "cpu": cpu_name(),
        "x64": bool(jax.config.jax_enable_x64),
        "platform": platform.platform(),
    }


def data_checksums(
    data_files: Sequence[str], data_dir: str | os.PathLike | None = None
) -> dict[str, dict]:
    """SHA-256 of each release file, located the same way the loaders locate it.

    Args:
        data_files: registry names such as ``"csi2021/dataBeamOnC.txt"``.
        data_dir: data directory (default ``$CEVNS_JAX_DATA``, else the download cache).

    Returns:
        ``{name: {"sha256", "registry_sha256", "verified", "url"}}``; ``verified`` is True
        when the digest equals the registry's (False for files registered without one).

    Raises:
        ConfigError: a name not in the registry. DataError: a file that cannot be found.
    """
    out = {}
    for name in data_files:
        if name not in REGISTRY:
            raise ConfigError(f"provenance: {name!r} is not a registered COHERENT data file")
        entry = REGISTRY[name]
        digest = file_sha256(data_path(name, data_dir))
        out[name] = {
            "sha256": digest,
            "registry_sha256": entry.sha256,
            "verified": entry.sha256 is not None and digest == entry.sha256,
            "url": entry.url,
        }
    return out


def _jsonable(obj):
    """Configuration values as JSON types (arrays -> lists, paths -> str, numbers -> float)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, str | bool) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, int | np.integer):
        return int(obj)
    arr = np.asarray(obj)
    if arr.dtype.kind in "fiub":
        return arr.astype(float).tolist() if arr.ndim else float(arr)
    return str(obj)


def provenance(
    config: Mapping,
    data_files: Sequence[str] | None = None,
    data_dir: str | os.PathLike | None = None,
) -> dict:
    """Everything needed to reproduce a result, as a JSON-ready dict.

    Args:
        config: the run's configuration (command, options, model, ...).
        data_files: registry names of the release files the run read; ``None`` for none.
        data_dir: where they were read from (default ``$CEVNS_JAX_DATA``, else the cache).

    Returns:
        ``{"code", "command_line", "versions", "jax", "timestamp_utc", "data_dir",
        "data_files", "config"}``; ``code`` is :func:`code_version` (with the git commit
        when run from a checkout).

    Example:
        >>> p = provenance({"experiment": "csi2021"})
        >>> sorted(p["versions"])[:3], p["config"]
        (['cevns_jax', 'equinox', 'jax'], {'experiment': 'csi2021'})
    """
    origin = data_dir if data_dir is not None else os.environ.get("CEVNS_JAX_DATA")
    origin = os.path.abspath(origin) if origin else "download cache"
    return {
        "code": code_version(),
        "command_line": command_line(),
        "versions": package_versions(),
        "jax": jax_environment(),
        "timestamp_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "data_dir": origin,
        "data_files": data_checksums(data_files or (), data_dir),
        "config": _jsonable(dict(config)),
    }
