"""Exclusion regions in the (M, g) plane: resumable grid scans of the profiled χ².

:func:`scan_grid` evaluates the profiled χ² (nuisances minimised at every point,
docs/physics.md §8) on a grid of mediator masses × couplings with the grid engine
(:func:`cevns_jax.engine.profile_rows`): a block of mass rows is one compiled, batched call,
and one compilation serves every block, model and grid.

After each block the grid is written atomically (temporary file + ``os.replace``) to an
``.npz`` file holding ``masses_mev``, ``couplings``, ``chi2`` (NaN for rows not done),
``converged``, ``done``, the model's charge arrays and a JSON ``metadata`` string (model,
data, experiments, likelihood settings, profilers, version, provenance). Called
again with the same file, grid, model and data, a scan resumes: finished rows are kept and
only the missing ones are computed. Any mismatch is refused with :class:`ConfigError`.

Exclusion uses Δχ² = χ² − min over the grid with the two-parameter threshold (M and g
both free): 2σ (95.45 % C.L.) is Δχ² > ``chi2.ppf(0.9545, 2)`` = 6.18
(:data:`DELTA_CHI2_2D`). Vector models with destructive interference can have allowed
*islands* at larger g, disconnected from the allowed region around g = 0
(:meth:`ScanResult.islands`).
"""

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import scipy.stats

from .charges import U1Charges
from .engine import profile_rows, rows_per_block
from .errors import ConfigError
from .registry import entry

__all__ = [
    "CL_2SIGMA",
    "DELTA_CHI2_2D",
    "FORMAT",
    "ScanResult",
    "default_coupling_range",
    "delta_chi2_threshold",
    "load_scan",
    "scan_grid",
]

#: Confidence level of "2σ" (two-sided Gaussian 95.45 %).
CL_2SIGMA = 0.9545
#: Format tag stored in the metadata of every scan file.
FORMAT = "cevns_jax.scan/2"
#: Metadata entries that must agree for a scan file to be resumed.
_MATCH_KEYS = ("model", "data", "experiments", "observed_sha256", "charges", "settings", "solvers")


def delta_chi2_threshold(level: float = CL_2SIGMA, dof: int = 2) -> float:
    """Δχ² threshold of a ``dof``-parameter region at confidence level ``level``.

    Example:
        >>> round(delta_chi2_threshold(), 2), round(delta_chi2_threshold(0.9545, 1), 2)
        (6.18, 4.0)
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"confidence level must lie in (0, 1), got {level}")
    return float(scipy.stats.chi2.ppf(level, dof))


#: Δχ² of a two-parameter 2σ (95.45 % C.L.) region in (M, g): 6.18.
DELTA_CHI2_2D = delta_chi2_threshold(CL_2SIGMA, 2)


def default_coupling_range(charges: U1Charges) -> tuple[float, float]:
    """Default coupling range of a scan from 1 MeV to 10 GeV, spanning the bounds widely.

    Models coupling to quarks at tree level (or the scalar) are excluded above g ~ 3e-5
    (1 MeV) to g ~ 4e-2 (10 GeV): (1e-6, 1). Leptophilic models reach nuclei only through
    the lepton loop (kinetic mixing, a factor ~ e²/(12π²) ln(...)) and are bounded at
    g ~ 2e-3 to ~1: (1e-5, 10). Both span six decades, at least ~1.5 below the low-mass
    bound and one above the 10 GeV bound and its interference islands.
    """
    quark, scalar = np.asarray(charges.quark), np.asarray(charges.scalar)
    hadronic = bool(np.any(quark != 0.0) or np.any(scalar != 0.0))
    return (1e-6, 1.0) if hadronic else (1e-5, 10.0)


@dataclasses.dataclass(frozen=True)
class ScanResult:
    """A profiled χ² grid in the (M, g) plane (numpy arrays; rows are masses).

    Attributes:
        masses_mev: (n_m,) mediator masses in MeV, strictly increasing.
        couplings: (n_g,) couplings g, strictly increasing.
        chi2: (n_m, n_g) profiled χ²; NaN in rows not done.
        converged: (n_m, n_g) whether the nuisance profile converged (far-excluded points
            may stop early; that cannot move the exclusion boundary).
        done: (n_m,) rows computed.
        metadata: model, data, charges, settings, solvers, version, provenance.
    """

    masses_mev: np.ndarray
    couplings: np.ndarray
    chi2: np.ndarray
    converged: np.ndarray
    done: np.ndarray
    metadata: dict = dataclasses.field(repr=False)

    @property
    def masses_gev(self) -> np.ndarray:
        return self.masses_mev / 1e3

    @property
    def complete(self) -> bool:
        return bool(np.all(self.done))

    def best(self) -> tuple[float, float, float]:
        """(χ²_min, M in GeV, g) at the grid minimum over the rows done."""
        if not np.any(self.done):
            raise ConfigError("the scan has no finished rows")
        i, j = np.unravel_index(np.nanargmin(self.chi2), self.chi2.shape)
        return float(self.chi2[i, j]), float(self.masses_gev[i]), float(self.couplings[j])

    def delta_chi2(self) -> np.ndarray:
        """(n_m, n_g) Δχ² relative to the grid minimum (NaN in rows not done)."""
        if not np.any(self.done):
            return np.full(self.chi2.shape, np.nan)
        return self.chi2 - np.nanmin(self.chi2)

    def excluded(self, level: float = CL_2SIGMA) -> np.ndarray:
        """(n_m, n_g) points excluded at ``level`` (two parameters: 6.18 at 2σ).

        Rows not done are never excluded.
        """
        thr = delta_chi2_threshold(level, 2)
        with np.errstate(invalid="ignore"):
            return np.asarray(self.delta_chi2() > thr) & self.done[:, None]

    def islands(self, level: float = CL_2SIGMA) -> np.ndarray:
        """(n_m, n_g) allowed points not connected to the allowed region at the smallest g.

        Connectivity is between grid neighbours in M or g. These are the destructive
        interference islands (a flavour's weak charge flips sign at larger g).
        """
        import scipy.ndimage

        allowed = ~self.excluded(level) & self.done[:, None]
        labels, _ = scipy.ndimage.label(allowed)
        main = np.unique(labels[:, 0])
        return allowed & ~np.isin(labels, main[main > 0])

    def connected_edge(self, level: float = CL_2SIGMA) -> np.ndarray:
        """(n_m,) upper edge in g of the allowed interval starting at the smallest g.

        Log-linear interpolation of the threshold crossing between grid points; NaN where
        the row is not done or the smallest coupling is already excluded, ``inf`` where
        the whole row is allowed.
        """
        thr = delta_chi2_threshold(level, 2)
        d = self.delta_chi2()
        lg = np.log10(self.couplings)
        out = np.full(self.masses_mev.shape, np.nan)
        for i in np.nonzero(self.done)[0]:
            exc = d[i] > thr
            if exc[0]:
                continue
            if not exc.any():
                out[i] = np.inf
                continue
            b = int(np.argmax(exc))
            t = (thr - d[i, b - 1]) / (d[i, b] - d[i, b - 1])
            out[i] = 10.0 ** (lg[b - 1] + t * (lg[b] - lg[b - 1]))
        return out

    def to_csv(self, path: str | os.PathLike, level: float = CL_2SIGMA) -> None:
        """Write the rows done in long format: mass_gev, g, chi2, delta_chi2, converged.

        A commented header (``#``) records the model, data, charges, grid, threshold and
        provenance; ``converged`` is 1 or 0. Read with ``pandas.read_csv(path, comment="#")``
        or, with numpy, ``genfromtxt`` of the lines not starting with ``#`` (``names=True``).
        """
        md = self.metadata
        thr = delta_chi2_threshold(level, 2)
        m, g = self.masses_gev, self.couplings
        header = [
            f"cevns_jax profiled chi2 scan ({md.get('format', FORMAT)}), "
            f"version {md.get('version')}",
            f"model: {md.get('model')}  data: {md.get('data')}  experiments: "
            f"{json.dumps(md.get('experiments'))}",
            f"charges: {json.dumps(md.get('charges'))}",
            f"grid: {m.size} masses {m[0]:.6g}..{m[-1]:.6g} GeV x {g.size} couplings "
            f"{g[0]:.6g}..{g[-1]:.6g}; "
            f"rows done {int(self.done.sum())}/{self.done.size}",
            f"delta_chi2 = chi2 - grid minimum; excluded at {level:.4%} C.L. (two parameters) "
            f"where delta_chi2 > {thr:.4f}",
        ]
        if np.any(self.done):
            chi2_min, m_best, g_best = self.best()
            header.append(
                f"grid minimum chi2 = {chi2_min:.6f} at mass_gev = {m_best:.6g}, g = {g_best:.6g}"
            )
        prov = md.get("provenance") or {}
        if prov:
            versions = prov.get("versions", {})
            header.append(
                f"created: {prov.get('timestamp_utc')}  jax backend: "
                f"{prov.get('jax', {}).get('backend')}  versions: "
                + ", ".join(f"{k}={v}" for k, v in versions.items())
            )
            for name, f in (prov.get("data_files") or {}).items():
                header.append(f"data file {name}: sha256 {f.get('sha256')}")
        header.append(
            f"settings: {json.dumps(md.get('settings'))}  solvers: {json.dumps(md.get('solvers'))}"
        )
        d = self.delta_chi2()
        rows = np.nonzero(self.done)[0]
        with open(path, "w", encoding="utf-8") as stream:
            for line in header:
                stream.write(f"# {line}\n")
            stream.write("mass_gev,g,chi2,delta_chi2,converged\n")
            for i in rows:
                for j, g in enumerate(self.couplings):
                    stream.write(
                        f"{self.masses_gev[i]:.10g},{g:.10g},{self.chi2[i, j]:.10g},"
                        f"{d[i, j]:.10g},{int(self.converged[i, j])}\n"
                    )


# --- file handling -------------------------------------------------------------------------
def _module_fields(module) -> dict:
    """Fields of a settings/solver Module as JSON values."""
    out = {}
    for f in dataclasses.fields(module):
        v = getattr(module, f.name)
        out[f.name] = v if isinstance(v, str | int | bool) else np.asarray(v, float).tolist()
    return out


def _charges_dict(charges: U1Charges) -> dict:
    return {
        "quark": np.asarray(charges.quark, float).tolist(),
        "nu": np.asarray(charges.nu, float).tolist(),
        "lepton": np.asarray(charges.lepton, float).tolist(),
        "scalar": float(np.asarray(charges.scalar, float)),
    }


def _metadata(charges, lik, model, provenance) -> dict:
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
        "charges": _charges_dict(charges),
        "settings": {k: _module_fields(p.settings) for k, p in parts.items()},
        "solvers": {
            k: {type(p.solver).__name__: _module_fields(p.solver)} for k, p in parts.items()
        },
        "version": __version__,
        "provenance": provenance,
    }


def _save(path: Path, res: ScanResult, charges: U1Charges) -> None:
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


def _check_grid(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise ConfigError(f"{name} must be finite and > 0, got min {np.min(arr):g}")
    if np.any(np.diff(arr) <= 0.0):
        raise ConfigError(f"{name} must be strictly increasing")
    return arr


def _short(value, n: int = 120) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= n else text[: n - 3] + "..."


def _resume(path: Path, masses, couplings, meta) -> ScanResult:
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
    for key in _MATCH_KEYS:
        if old.metadata.get(key) != json.loads(json.dumps(meta[key])):
            problems.append(
                f"{key} ({_short(old.metadata.get(key))} in the file, {_short(meta[key])} asked)"
            )
    if old.chi2.shape != (masses.size, couplings.size) or old.done.shape != masses.shape:
        problems.append("array shapes")
    if problems:
        raise ConfigError(
            f"{path} holds a different scan: {'; '.join(problems)}. Choose another output path "
            "or delete the file to start afresh"
        )
    return old


# --- the scan ------------------------------------------------------------------------------
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
) -> ScanResult:
    """Profiled χ² on the (M, g) grid, block by block of masses, saved and resumable.

    Args:
        charges: the model's charges (one model).
        lik: the data set's (joint) likelihood
            (:func:`cevns_jax.registry.build_likelihood`).
        masses_mev: (n_m,) mediator masses in MeV, > 0, strictly increasing.
        couplings: (n_g,) couplings, > 0, strictly increasing.
        out_path: ``.npz`` file written after every block of mass rows; if it exists with
            the same grid, model, data and likelihood, its finished rows are kept and only
            the others computed.
        progress: show a tqdm progress bar over the rows (on stderr).
        model: model name recorded in the metadata (and checked on resume).
        provenance: run metadata (:func:`cevns_jax.provenance.provenance`) to store.

    Returns:
        :class:`ScanResult` (complete unless interrupted by an exception).

    Raises:
        ConfigError: bad grid, or ``out_path`` holding a different scan.
    """
    from tqdm.auto import tqdm

    masses = _check_grid(masses_mev, "masses_mev")
    gs = _check_grid(couplings, "couplings")
    meta = _metadata(charges, lik, model, provenance)
    path = None if out_path is None else Path(out_path)
    if path is not None and not path.parent.is_dir():
        raise ConfigError(f"scan output {path}: directory {path.parent} does not exist")
    if path is not None and path.exists():
        old = _resume(path, masses, gs, meta)
        chi2, conv, done = old.chi2.copy(), old.converged.copy(), old.done.copy()
        first = old.metadata.get("provenance_first", old.metadata.get("provenance"))
        meta["provenance_first"] = first  # the run that started the file
    else:
        chi2 = np.full((masses.size, gs.size), np.nan)
        conv = np.zeros((masses.size, gs.size), bool)
        done = np.zeros(masses.size, bool)

    def result():
        return ScanResult(masses, gs, chi2.copy(), conv.copy(), done.copy(), dict(meta))

    todo = np.nonzero(~done)[0]
    step = rows_per_block(gs.size)
    bar = tqdm(
        total=masses.size, initial=int(done.sum()), disable=not progress, unit="row", miniters=1,
        desc=f"scan {model or 'model'} {meta['data']}", dynamic_ncols=True,
    )  # fmt: skip
    with bar:
        for start in range(0, todo.size, step):
            rows = todo[start : start + step]
            chi2[rows], conv[rows] = profile_rows(lik, charges, masses[rows], gs)
            done[rows] = True
            if path is not None:
                _save(path, result(), charges)
            bar.update(rows.size)
    return result()
