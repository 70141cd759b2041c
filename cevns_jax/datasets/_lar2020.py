"""COHERENT CENNS-10 liquid argon 2020 release, analysis A (Zenodo record 3903810)."""

import functools
import os
from pathlib import Path

import equinox as eqx
import numpy as np

from ._fetch import data_path
from ._lar2020_params import LArParameters, read_lar_parameters
from ._text import data_error, read_table, uniform_edges

__all__ = ["LAr2020Release", "load_lar2020", "read_hist3d"]

_f64 = functools.partial(np.asarray, dtype=np.float64)
_HIST_SHAPE = (12, 8, 10)
_AXES = ("energy [keVee]", "F90", "time [us]")

# LAr2020Release field -> release file; the first one's binning is the reference.
_HIST_FILES = {
    "observed": "datanobkgsub.txt",
    "cevns": "cevnspdf.txt",
    "brn_prompt": "brnpdf.txt",
    "brn_delayed": "delbrnpdf.txt",
    "ss": "bkgpdf.txt",
    "cevns_f90_plus": "cevnspdf+1sigF90.txt",
    "cevns_f90_minus": "cevnspdf-1sigF90.txt",
    "cevns_timing_mean": "cevnspdfCEvNSTimingMeanSyst.txt",
    "brn_energy_plus": "brnpdf+1sigEnergy.txt",
    "brn_energy_minus": "brnpdf-1sigEnergy.txt",
    "brn_timing_mean_plus": "brnpdf+1sigBRNTimingMean.txt",
    "brn_timing_mean_minus": "brnpdf-1sigBRNTimingMean.txt",
    "brn_timing_width": "brnpdfBRNTimingWidthSyst.txt",
}


class LAr2020Release(eqx.Module):
    """The CENNS-10 analysis-A release as float64 numpy arrays.

    Every 3D histogram has shape ``(12, 8, 10)`` indexed ``[energy, F90, time]``
    on the bins given by ``e_edges``, ``f90_edges`` and ``t_edges``; predictions
    are expected event counts per bin (pre-fit normalisation).

    Attributes:
        e_edges: Reconstructed-energy edges [keVee], shape ``(13,)``: 0, 10, ..., 120.
        f90_edges: Pulse-shape (F90) edges, shape ``(9,)``: 0.50, 0.55, ..., 0.90.
        t_edges: Arrival-time edges [us], shape ``(11,)``: -0.1, 0.4, ..., 4.9
            (inferred from the bin centres; the release does not state edges).
        observed: Observed counts without background subtraction (sum 3752).
        cevns: CEvNS prediction (sum 128).
        brn_prompt: Prompt beam-related-neutron prediction (sum 497).
        brn_delayed: Delayed beam-related-neutron prediction (sum 33).
        ss: Steady-state background prediction (sum 3152; the YAML says 3154 +- 25).
        cevns_f90_plus, cevns_f90_minus: CEvNS with the F90 shifted by +-1 sigma.
        cevns_timing_mean: CEvNS with the timing-mean systematic applied.
        brn_energy_plus, brn_energy_minus: Prompt BRN, energy shape +-1 sigma.
        brn_timing_mean_plus, brn_timing_mean_minus: Prompt BRN, timing mean +-1
            sigma. As released, the +1 sigma file sums to 523.67, not 497.
        brn_timing_width: Prompt BRN with the timing-width systematic applied.
        eff_kevee: Efficiency-table bin centres [keVee], shape ``(80,)``: 0.25 ... 39.75.
        eff_kevnr: The same centres converted to nuclear-recoil energy [keVnr], ``(80,)``.
        eff: Acceptance efficiency at those centres, shape ``(80,)``.
        params: Scalar parameters from the YAML file (static field).
    """

    e_edges: np.ndarray = eqx.field(converter=_f64)
    f90_edges: np.ndarray = eqx.field(converter=_f64)
    t_edges: np.ndarray = eqx.field(converter=_f64)
    observed: np.ndarray = eqx.field(converter=_f64)
    cevns: np.ndarray = eqx.field(converter=_f64)
    brn_prompt: np.ndarray = eqx.field(converter=_f64)
    brn_delayed: np.ndarray = eqx.field(converter=_f64)
    ss: np.ndarray = eqx.field(converter=_f64)
    cevns_f90_plus: np.ndarray = eqx.field(converter=_f64)
    cevns_f90_minus: np.ndarray = eqx.field(converter=_f64)
    cevns_timing_mean: np.ndarray = eqx.field(converter=_f64)
    brn_energy_plus: np.ndarray = eqx.field(converter=_f64)
    brn_energy_minus: np.ndarray = eqx.field(converter=_f64)
    brn_timing_mean_plus: np.ndarray = eqx.field(converter=_f64)
    brn_timing_mean_minus: np.ndarray = eqx.field(converter=_f64)
    brn_timing_width: np.ndarray = eqx.field(converter=_f64)
    eff_kevee: np.ndarray = eqx.field(converter=_f64)
    eff_kevnr: np.ndarray = eqx.field(converter=_f64)
    eff: np.ndarray = eqx.field(converter=_f64)
    params: LArParameters = eqx.field(static=True)


def read_hist3d(
    path: str | os.PathLike, shape: tuple[int, int, int] = _HIST_SHAPE
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Read one LAr 3D histogram file, checking its row order against its centre columns.

    The file has ``prod(shape)`` rows ``E_centre[keVee] F90_centre t_centre[us]
    value``, energy changing slowest and time fastest. Each centre column must be
    constant along the other two axes and evenly spaced along its own.

    Args:
        path: The text file.
        shape: Number of (energy, F90, time) bins.

    Returns:
        ``((e_edges, f90_edges, t_edges), values)``: edges of shapes ``(n_i + 1,)``
        inferred from the centres, and values of shape ``shape``.

    Raises:
        DataError: wrong row or column count, non-numeric entry, or inconsistent binning.
    """
    table = read_table(path, 4, nrows=int(np.prod(shape)))
    grid = table[:, :3].reshape(*shape, 3)
    edges = []
    for axis, what in enumerate(_AXES):
        column = grid[..., axis]
        centres = np.moveaxis(column, axis, 0)[:, 0, 0]
        along_axis = [-1 if a == axis else 1 for a in range(3)]
        if not np.array_equal(column, np.broadcast_to(centres.reshape(along_axis), shape)):
            raise data_error(
                path,
                f"the {what} centre column (column {axis + 1}) does not follow the "
                "expected row order (energy slowest, then F90, time fastest)",
            )
        edges.append(uniform_edges(path, centres, what))
    return (edges[0], edges[1], edges[2]), table[:, 3].reshape(shape)


def load_lar2020(
    data_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> LAr2020Release:
    """Load and validate the LAr 2020 (CENNS-10 analysis A) release.

    Args:
        data_dir: Directory holding ``lar2020/<file>``; see :func:`data_path` for the
            fallbacks (``$CEVNS_JAX_DATA``, then a verified download).
        base_url: Mirror URL for downloads.
        cache_dir: Download cache directory.

    Returns:
        The release; every file was checked against its registered SHA-256, and all
        3D files share one binning.

    Raises:
        DataError: missing, corrupted (:class:`ChecksumError`) or malformed file, or
            3D files with different binnings.
    """

    def path(file: str) -> Path:
        return data_path(f"lar2020/{file}", data_dir, base_url=base_url, cache_dir=cache_dir)

    hists = {}
    reference = None
    for field, file in _HIST_FILES.items():
        file_path = path(file)
        edges, hists[field] = read_hist3d(file_path)
        if reference is None:
            reference = edges
        elif not all(np.array_equal(a, b) for a, b in zip(edges, reference, strict=True)):
            raise data_error(file_path, f"its binning differs from {_HIST_FILES['observed']}")
    efficiency = read_table(path("CENNS10AnlAEfficiency.txt"), 3, nrows=80)
    return LAr2020Release(
        e_edges=reference[0],
        f90_edges=reference[1],
        t_edges=reference[2],
        **hists,
        eff_kevee=efficiency[:, 0],
        eff_kevnr=efficiency[:, 1],
        eff=efficiency[:, 2],
        params=read_lar_parameters(path("LArParametersAnlA.yaml")),
    )
