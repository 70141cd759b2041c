"""The output file of a scan: the assembled ``.npz`` grid, its metadata, resuming from it.

The file holds ``masses_mev``, ``couplings``, ``chi2`` (NaN for rows not complete),
``converged``, ``done`` (rows), the model's charge arrays and a JSON ``metadata`` string
(:data:`~cevns_jax.scan_result.FORMAT`, model, data, experiments, sha256 of the observed
data, charges, likelihood settings, profilers, version, provenance). It is written
atomically (:func:`cevns_jax.scan_store.atomic_write`).
"""

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .charges import U1Charges
from .errors import ConfigError
from .registry import entry
from .scan_result import FORMAT, ScanResult
from .scan_store import atomic_write

__all__ = ["MATCH_KEYS", "check_grid", "load_scan", "metadata", "resume", "save", "short"]

#: Metadata entries that must agree for a scan file to be resumed.
MATCH_KEYS = (
    "model", "data", "experiments", "observed_sha256", "experiment_sha256", "charges",
    "settings", "solvers",
)  # fmt: skip


def _module_fields(module) -> dict:
    """Fields of a settings/solver Module as JSON values."""
    out = {}
    for f in dataclasses.fields(module):
        v = getattr(module, f.name)
        out[f.name] = v if isinstance(v, str | int | bool) else np.asarray(v, float).tolist()
    return out


def _leaves_sha256(tree) -> str:
    """sha256 of every array leaf of a pytree (float64 bytes, in leaf order)."""
    import jax

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, np.ndarray | jax.Array | float | int):
            h.update(np.ascontiguousarray(leaf, float).tobytes())
    return h.hexdigest()


def _charges_dict(charges: U1Charges) -> dict:
    return {
        "quark": np.asarray(charges.quark, float).tolist(),
        "nu": np.asarray(charges.nu, float).tolist(),
        "lepton": np.asarray(charges.lepton, float).tolist(),
        "scalar": float(np.asarray(charges.scalar, float)),
    }


def metadata(charges, lik, model, provenance) -> dict:
    from . import __version__

    parts = {entry(p.experiment.name).key: p for p in lik.parts}
    return {
        "format": FORMAT,
        "model": model,
        "data": "+".join(parts),
        "experiments": {k: p.experiment.name for k, p in parts.items()},
        "observed_sha256": {
            k: hashlib.sha256(
                np.ascontiguousarray(p.experiment.observed, float).tobytes()
            ).hexdigest()
            for k, p in parts.items()
        },
        # every array of the experiment (response, flux, backgrounds, ...): a physics
        # setting that rebuilds the experiment (--set csi.r_n_cs=...) is another scan
        "experiment_sha256": {k: _leaves_sha256(p.experiment) for k, p in parts.items()},
        "charges": _charges_dict(charges),
        "settings": {k: _module_fields(p.settings) for k, p in parts.items()},
        "solvers": {
            k: {type(p.solver).__name__: _module_fields(p.solver)} for k, p in parts.items()
        },
        "version": __version__,
        "provenance": provenance,
    }


def save(path: Path, res: ScanResult, charges: U1Charges) -> None:
    """Write ``res`` to ``path`` atomically (a temporary file in the same folder, then rename)."""
    arrays = {
        "masses_mev": res.masses_mev,
        "couplings": res.couplings,
        "chi2": res.chi2,
        "converged": res.converged,
        "done": res.done,
        "charges_quark": np.asarray(charges.quark, float),
        "charges_nu": np.asarray(charges.nu, float),
        "charges_lepton": np.asarray(charges.lepton, float),
        "charges_scalar": np.asarray(charges.scalar, float),
        "metadata": np.array(json.dumps(res.metadata, default=str)),
    }
    atomic_write(path, lambda stream: np.savez(stream, **arrays))


def load_scan(path: str | os.PathLike) -> ScanResult:
    """Read a scan file written by :func:`scan_grid`.

    Raises:
        ConfigError: the file is not a readable scan file.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            return ScanResult(
                masses_mev=np.asarray(f["masses_mev"], float),
                couplings=np.asarray(f["couplings"], float),
                chi2=np.asarray(f["chi2"], float),
                converged=np.asarray(f["converged"], bool),
                done=np.asarray(f["done"], bool),
                metadata=json.loads(str(f["metadata"])),
            )
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ConfigError(
            f"{path} is not a readable cevns_jax scan file ({err}); choose another output "
            "path or delete the file"
        ) from None


def check_grid(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise ConfigError(f"{name} must be finite and > 0, got min {np.min(arr):g}")
    if np.any(np.diff(arr) <= 0.0):
        raise ConfigError(f"{name} must be strictly increasing")
    return arr


def short(value, n: int = 120) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= n else text[: n - 3] + "..."


def resume(path: Path, masses, couplings, meta, keys=MATCH_KEYS) -> ScanResult:
    """The scan stored at ``path``, if it is the scan asked for.

    Args:
        path: an existing scan file.
        masses, couplings: (n_m,) MeV and (n_g,) grid asked for.
        meta: metadata asked for (:func:`metadata`); only ``keys`` of it are compared
            (a subset for a check before the likelihood exists).

    Raises:
        ConfigError: the file holds another grid or other ``keys``, naming each difference.
    """
    old = load_scan(path)

    def same(a, b):
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=0.0)

    problems = []
    if not same(old.masses_mev, masses):
        problems.append(
            f"masses ({old.masses_mev.size} from {old.masses_gev[0]:g} to "
            f"{old.masses_gev[-1]:g} GeV in the file, {masses.size} from {masses[0] / 1e3:g} "
            f"to {masses[-1] / 1e3:g} GeV asked)"
        )
    if not same(old.couplings, couplings):
        problems.append(
            f"couplings ({old.couplings.size} from {old.couplings[0]:g} to "
            f"{old.couplings[-1]:g} in the file, {couplings.size} from {couplings[0]:g} to "
            f"{couplings[-1]:g} asked)"
        )
    for key in keys:
        if old.metadata.get(key) != json.loads(json.dumps(meta[key])):
            problems.append(
                f"{key} ({short(old.metadata.get(key))} in the file, {short(meta[key])} asked)"
            )
    if old.chi2.shape != (masses.size, couplings.size) or old.done.shape != masses.shape:
        problems.append("array shapes")
    if problems:
        raise ConfigError(
            f"{path} holds a different scan: {'; '.join(problems)}. Choose another output path "
            "or delete the file to start afresh"
        )
    return old
