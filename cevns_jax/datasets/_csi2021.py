"""COHERENT CsI[Na] 2021 release (arXiv:2110.07730v2 ancillary files)."""

import functools
import os
from pathlib import Path

import equinox as eqx
import numpy as np

from ..errors import ConfigError
from ._fetch import data_path
from ._text import data_error, read_table

__all__ = ["CsI2021Release", "binned_counts", "load_csi2021"]

_f64 = functools.partial(np.asarray, dtype=np.float64)


class CsI2021Release(eqx.Module):
    """The CsI[Na] 2021 data release as float64 numpy arrays.

    Attributes:
        events_c: Beam-on coincidence events, shape ``(n, 2)``: columns reconstructed
            energy [PE] and recoil time [us].
        events_ac: Beam-on anti-coincidence (steady-state background) events,
            shape ``(m, 2)``, same columns.
        brn_pe_centers: PE bin centres of the neutron spectra, shape ``(250,)``
            (0.5 ... 249.5, 1 PE wide).
        brn_pe: Beam-related-neutron PE spectrum, shape ``(250,)``; sums to 1 over
            PE < 60.
        nin_pe: Neutrino-induced-neutron PE spectrum, shape ``(250,)``; sums to 1
            over PE < 60.
        brn_t_centers: Recoil-time bin centres [us] of the neutron time spectra,
            shape ``(650,)`` (-0.245 ... 6.245, 0.01 us wide).
        brn_t: Beam-related-neutron recoil-time spectrum, shape ``(650,)``
            (sum 27.63; normalisation meaning not documented in the files).
        nin_t: Neutrino-induced-neutron recoil-time spectrum, shape ``(650,)``
            (sum 7.565).
        eff_coeffs: Energy-efficiency coefficients ``(a, b, c, d)`` of
            ``eff(x) = a / (1 + exp(-b (x - c))) + d``, x in PE; shape ``(3, 4)``,
            rows [nominal, +1 sigma, -1 sigma]. The file labels both systematic
            rows "+1 sigma"; the second one brackets the nominal from the other
            side and is taken as -1 sigma.
        qf_coeffs: Scintillation-response coefficients ``(a, b, c, d)`` of
            ``E_ee(x) = a x + b x^2 + c x^3 + d x^4``, x in MeVnr, E_ee in MeVee;
            shape ``(5, 4)``, rows [nominal, syst 0 +1 sigma, syst 0 -1 sigma,
            syst 1 +1 sigma, syst 1 -1 sigma].
    """

    events_c: np.ndarray = eqx.field(converter=_f64)
    events_ac: np.ndarray = eqx.field(converter=_f64)
    brn_pe_centers: np.ndarray = eqx.field(converter=_f64)
    brn_pe: np.ndarray = eqx.field(converter=_f64)
    nin_pe: np.ndarray = eqx.field(converter=_f64)
    brn_t_centers: np.ndarray = eqx.field(converter=_f64)
    brn_t: np.ndarray = eqx.field(converter=_f64)
    nin_t: np.ndarray = eqx.field(converter=_f64)
    eff_coeffs: np.ndarray = eqx.field(converter=_f64)
    qf_coeffs: np.ndarray = eqx.field(converter=_f64)


def _read_spectrum_pair(brn_path: Path, nin_path: Path, nrows: int) -> tuple[np.ndarray, ...]:
    """Read a BRN and a NIN spectrum that must share their bin centres.

    Args:
        brn_path: Two-column file ``centre value`` of the beam-related neutrons.
        nin_path: Same for the neutrino-induced neutrons.
        nrows: Required number of bins.

    Returns:
        ``(centres, brn, nin)``, each of shape ``(nrows,)``.
    """
    brn = read_table(brn_path, 2, nrows=nrows)
    nin = read_table(nin_path, 2, nrows=nrows)
    if not np.array_equal(brn[:, 0], nin[:, 0]):
        raise data_error(nin_path, f"its bin centres differ from those of {brn_path}")
    return brn[:, 0], brn[:, 1], nin[:, 1]


def load_csi2021(
    data_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> CsI2021Release:
    """Load and validate the CsI[Na] 2021 release.

    Args:
        data_dir: Directory holding ``csi2021/<file>``; see :func:`data_path` for the
            fallbacks (``$CEVNS_JAX_DATA``, then a verified download).
        base_url: Mirror URL for downloads.
        cache_dir: Download cache directory.

    Returns:
        The release; every file was checked against its registered SHA-256.

    Raises:
        DataError: missing, corrupted (:class:`ChecksumError`) or malformed file.
    """

    def path(file: str) -> Path:
        return data_path(f"csi2021/{file}", data_dir, base_url=base_url, cache_dir=cache_dir)

    pe_centres, brn_pe, nin_pe = _read_spectrum_pair(path("brnPE.txt"), path("ninPE.txt"), 250)
    t_centres, brn_t, nin_t = _read_spectrum_pair(path("brnTrec.txt"), path("ninTrec.txt"), 650)
    return CsI2021Release(
        events_c=read_table(path("dataBeamOnC.txt"), 2),
        events_ac=read_table(path("dataBeamOnAC.txt"), 2),
        brn_pe_centers=pe_centres,
        brn_pe=brn_pe,
        nin_pe=nin_pe,
        brn_t_centers=t_centres,
        brn_t=brn_t,
        nin_t=nin_t,
        eff_coeffs=read_table(path("effCoefficients.txt"), 4, nrows=3),
        qf_coeffs=read_table(path("scintRespCoefficients.txt"), 4, nrows=5),
    )


def binned_counts(events, pe_edges, t_edges) -> np.ndarray:
    """Histogram unbinned events on a (PE, time) grid with half-open bins.

    Bins are ``[lo, hi)`` on both axes, also the last one, so the CsI analysis
    region ``0 <= PE < 60, 0 <= t < 6 us`` is selected exactly. Events outside
    the grid are dropped.

    Args:
        events: Shape ``(n, 2)``: reconstructed energy [PE], recoil time [us].
        pe_edges: Increasing PE bin edges, shape ``(npe + 1,)``.
        t_edges: Increasing time bin edges [us], shape ``(nt + 1,)``.

    Returns:
        float64 counts of shape ``(npe, nt)``.

    Raises:
        ConfigError: events not of shape ``(n, 2)``, or edges not strictly increasing.
    """
    events = np.asarray(events, dtype=np.float64)
    if events.ndim != 2 or events.shape[1] != 2:
        raise ConfigError(f"events must have shape (n, 2) (PE, t [us]), got {events.shape}.")
    indices = []
    for values, edges, what in ((events[:, 0], pe_edges, "pe"), (events[:, 1], t_edges, "t")):
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ConfigError(
                f"{what}_edges must be a strictly increasing 1D array of >= 2 edges."
            )
        indices.append(np.searchsorted(edges, values, side="right") - 1)
    npe, nt = len(pe_edges) - 1, len(t_edges) - 1
    i_pe, i_t = indices
    inside = (i_pe >= 0) & (i_pe < npe) & (i_t >= 0) & (i_t < nt)
    flat = np.bincount(i_pe[inside] * nt + i_t[inside], minlength=npe * nt)
    return flat.reshape(npe, nt).astype(np.float64)
