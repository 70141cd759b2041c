"""The result of an (M, g) scan: a profiled χ² grid, its 2σ exclusion, islands and edges.

Exclusion uses Δχ² = χ² − min over the grid with the two-parameter threshold (M and g
both free): 2σ (95.45 % C.L.) is Δχ² > ``chi2.ppf(0.9545, 2)`` = 6.18
(:data:`DELTA_CHI2_2D`). Vector models with destructive interference can have allowed
*islands* at larger g, disconnected from the allowed region around g = 0
(:meth:`ScanResult.islands`).
"""

import dataclasses
import json
import os

import numpy as np
import scipy.special

from .charges import U1Charges
from .errors import ConfigError

__all__ = [
    "CL_2SIGMA",
    "DELTA_CHI2_2D",
    "FORMAT",
    "ScanResult",
    "default_coupling_range",
    "delta_chi2_threshold",
]

#: Confidence level of "2σ" (two-sided Gaussian 95.45 %).
CL_2SIGMA = 0.9545
#: Format tag stored in the metadata of every scan file.
FORMAT = "cevns_jax.scan/2"


def delta_chi2_threshold(level: float = CL_2SIGMA, dof: int = 2) -> float:
    """Δχ² threshold of a ``dof``-parameter region at confidence level ``level``.

    Example:
        >>> round(delta_chi2_threshold(), 2), round(delta_chi2_threshold(0.9545, 1), 2)
        (6.18, 4.0)
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"confidence level must lie in (0, 1), got {level}")
    return float(scipy.special.chdtri(dof, 1.0 - level))  # χ² quantile (no scipy.stats import)


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

    def summary(self, level: float = CL_2SIGMA) -> dict:
        """What the scan shows, as a JSON-ready dict: grid minimum, Δχ² at the smallest g,
        excluded fraction, interference islands (count, points, mass range), unconverged
        points near the boundary (Δχ² below twice the threshold), and whether any mass
        is still allowed at the largest coupling (the g range should then be extended)."""
        import scipy.ndimage

        thr = delta_chi2_threshold(level, 2)
        chi2_min, m_best, g_best = self.best()
        d = self.delta_chi2()
        excluded, islands = self.excluded(level), self.islands(level)
        _, n_islands = scipy.ndimage.label(islands)
        near = (d < 2.0 * thr) & self.done[:, None]
        island_masses = self.masses_gev[np.any(islands, axis=1)]
        return {
            "chi2_min": chi2_min,
            "best_mass_gev": m_best,
            "best_coupling": g_best,
            "delta_chi2_smallest_g": {
                "min": float(np.nanmin(d[:, 0])),
                "max": float(np.nanmax(d[:, 0])),
            },
            "confidence_level": level,
            "delta_chi2_threshold": thr,
            "fraction_excluded": float(excluded[self.done].mean()),
            "n_islands": int(n_islands),
            "island_points": int(islands.sum()),
            "island_mass_range_gev": [float(island_masses[0]), float(island_masses[-1])]
            if island_masses.size
            else None,
            "unconverged_near_boundary": int(np.sum(near & ~self.converged)),
            "points_near_boundary": int(near.sum()),
            "top_row_allowed": bool(np.any(~excluded[self.done, -1])),
        }

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
