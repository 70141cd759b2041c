"""Locating release files: a local data directory, or a verified download into a cache.

Every file is checked against the SHA-256 pinned in :data:`REGISTRY`, wherever it
comes from (files are small, so they are simply hashed on every access).

Environment variables:
    * ``CEVNS_JAX_DATA``: data directory laid out as ``<dir>/<release>/<file>``;
      when set, nothing is downloaded.
    * ``CEVNS_JAX_MIRROR``: base URL replacing the official hosts; the file is
      fetched from ``<mirror>/<release>/<file>``.
    * ``CEVNS_JAX_CACHE``: download cache directory (default
      ``pooch.os_cache("cevns_jax")``).
"""

import hashlib
import os
import urllib.parse
from pathlib import Path

import pooch
import requests

from ..errors import ChecksumError, ConfigError, DataError
from ._registry import REGISTRY, RegistryEntry

__all__ = ["data_path", "file_sha256"]

ENV_DATA = "CEVNS_JAX_DATA"
ENV_MIRROR = "CEVNS_JAX_MIRROR"
ENV_CACHE = "CEVNS_JAX_CACHE"
_TIMEOUT_S = 60.0


def file_sha256(path: str | os.PathLike) -> str:
    """Lower-case hex SHA-256 digest of a file's bytes."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def data_path(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Local path of a verified release file.

    Resolution order: the ``data_dir`` argument, else ``$CEVNS_JAX_DATA``, else a
    download into the cache (``cache_dir``, else ``$CEVNS_JAX_CACHE``, else
    ``pooch.os_cache("cevns_jax")``) from ``base_url``, else ``$CEVNS_JAX_MIRROR``,
    else the official URL. A file already cached and intact is not fetched again.

    Args:
        name: Registered name such as ``"csi2021/dataBeamOnC.txt"``.
        data_dir: Directory holding ``<release>/<file>``.
        base_url: ``http(s)://`` mirror; the file is fetched from ``<base_url>/<name>``.
        cache_dir: Download cache directory.

    Returns:
        Absolute path of the file, whose SHA-256 matches the registry (files
        registered without a digest, such as ``csi2021/snsFlux2D.root``, are not
        checked).

    Raises:
        ConfigError: unknown ``name``, or a ``base_url`` that is not http(s).
        DataError: file missing from the data directory, or the download failed.
        ChecksumError: file content differs from the registered SHA-256.
    """
    if name not in REGISTRY:
        raise ConfigError(
            f"unknown COHERENT data file {name!r}. Valid names: {', '.join(sorted(REGISTRY))}."
        )
    entry = REGISTRY[name]
    if data_dir is not None:
        return _from_data_dir(entry, Path(data_dir), "the data_dir argument")
    if os.environ.get(ENV_DATA):
        return _from_data_dir(entry, Path(os.environ[ENV_DATA]), f"${ENV_DATA}")
    return _download(entry, base_url or os.environ.get(ENV_MIRROR) or None, cache_dir)


def _from_data_dir(entry: RegistryEntry, root: Path, origin: str) -> Path:
    path = (root / entry.name).resolve()
    if not path.is_file():
        raise DataError(
            f"COHERENT data file {entry.name} not found: {path} does not exist (data "
            f"directory {root} set by {origin}). Fix: download it from {entry.url} to "
            f"{path}, point {origin} at a directory holding {entry.name}, or unset "
            f"{ENV_DATA} and pass no data_dir to download it automatically."
        )
    if entry.sha256 is not None:
        actual = file_sha256(path)
        if actual != entry.sha256:
            raise ChecksumError(
                f"COHERENT data file {path} is corrupted or not the released version: "
                f"sha256 is {actual}, expected {entry.sha256}. Fix: replace it with a "
                f"fresh copy from {entry.url}, or unset {ENV_DATA} and pass no data_dir "
                "to download a verified copy."
            )
    return path


class _HashingDownloader:
    """pooch HTTP downloader that also records the SHA-256 of what it fetched."""

    def __init__(self) -> None:
        self._http = pooch.HTTPDownloader(progressbar=False, timeout=_TIMEOUT_S)
        self.sha256: str | None = None

    def __call__(self, url: str, output_file: str, pooch_instance: object) -> None:
        self._http(url, output_file, pooch_instance)
        self.sha256 = file_sha256(output_file)


def _download(
    entry: RegistryEntry, base_url: str | None, cache_dir: str | os.PathLike | None
) -> Path:
    if base_url is None:
        url = entry.url
    elif urllib.parse.urlsplit(base_url).scheme in ("http", "https"):
        url = f"{base_url.rstrip('/')}/{urllib.parse.quote(entry.name)}"
    else:
        raise ConfigError(
            f"mirror URL {base_url!r} (base_url or ${ENV_MIRROR}) is not an http(s) URL. "
            f"Fix: give an http:// or https:// URL, or use {ENV_DATA} for a local directory."
        )
    cache = Path(cache_dir or os.environ.get(ENV_CACHE) or pooch.os_cache("cevns_jax"))
    target = (cache / entry.name).resolve()
    downloader = _HashingDownloader()
    known_hash = None if entry.sha256 is None else f"sha256:{entry.sha256}"
    try:
        fetched = pooch.retrieve(
            url, known_hash, fname=target.name, path=target.parent, downloader=downloader
        )
    except (requests.RequestException, OSError) as exc:
        raise DataError(
            f"could not download COHERENT data file {entry.name} from {url} into "
            f"{target}: {exc}. Fix: check the network connection; to work offline, "
            f"download {entry.url} by hand to <dir>/{entry.name} and set "
            f"{ENV_DATA}=<dir> (or pass data_dir=<dir>)."
        ) from exc
    except ValueError as exc:
        if downloader.sha256 is None:  # pooch failed before any file arrived
            raise DataError(
                f"could not download COHERENT data file {entry.name} from {url}: {exc}. "
                f"Fix: check the URL, or set {ENV_DATA} to a directory holding the file."
            ) from exc
        target.unlink(missing_ok=True)  # a stale copy must not survive a failed update
        raise ChecksumError(
            f"downloaded COHERENT data file {entry.name} from {url} has sha256 "
            f"{downloader.sha256}, expected {entry.sha256}; the download was refused "
            f"and nothing was kept at {target}. Fix: retry (the transfer may have been "
            "corrupted); if it persists, the server holds a different file: drop "
            f"base_url / unset {ENV_MIRROR} to use the official URL {entry.url}."
        ) from exc
    return Path(fetched)
