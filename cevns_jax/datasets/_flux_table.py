"""The SNS neutrino flux table ``snsFlux2D.root`` of the CsI 2021 release.

The file holds one TH2 per flavour, ``convolved_energy_time_of_<flavour>``, with
axis 0 the arrival time [ns] (already convolved with the proton-on-target trace)
and axis 1 the neutrino energy [MeV]. It is optional: no loader needs it, its
SHA-256 is not known, and it is read from a path given by the user (for example
``data_path("csi2021/snsFlux2D.root")``, which downloads it on request).

Known pitfall: the simulation filled energies rounded to the nearest MeV, so the
stored energy bin centres are 0.5 MeV too high. The reader shifts the energy edges
by ``energy_shift_mev = -0.5`` by default.
"""

import functools
import os

import equinox as eqx
import numpy as np

from ..errors import ConfigError
from ._text import data_error

__all__ = ["FLUX_FLAVOURS", "FluxTable2D", "read_sns_flux_2d"]

FLUX_FLAVOURS = ("nu_e", "nu_mu", "anti_nu_mu")
"""Flavours every flux table has, in the order of ``FluxTable2D.counts``."""
_OPTIONAL_FLAVOUR = "anti_nu_e"
_HIST_NAME = "convolved_energy_time_of_{}"
_f64 = functools.partial(np.asarray, dtype=np.float64)


class FluxTable2D(eqx.Module):
    """Neutrino flux per flavour on an (arrival time, energy) grid, float64 numpy.

    Attributes:
        time_edges_us: Arrival-time bin edges [us], shape ``(n_t + 1,)``.
        energy_edges_mev: Neutrino-energy bin edges [MeV] after the shift applied
            by the reader, shape ``(n_E + 1,)``.
        counts: Histogram contents (simulation units, unnormalised), shape
            ``(n_flavour, n_t, n_E)``.
        flavours: Flavour names in the order of ``counts``: ``("nu_e", "nu_mu",
            "anti_nu_mu")``, plus ``"anti_nu_e"`` when the file has it (static).
    """

    time_edges_us: np.ndarray = eqx.field(converter=_f64)
    energy_edges_mev: np.ndarray = eqx.field(converter=_f64)
    counts: np.ndarray = eqx.field(converter=_f64)
    flavours: tuple[str, ...] = eqx.field(static=True)

    def energy_distribution(self, *, density: bool = False) -> np.ndarray:
        """Energy spectrum of each flavour, integrated over time, normalised to 1.

        Args:
            density: ``False`` gives the fraction of neutrinos per bin (sums to 1);
                ``True`` divides by the bin widths, giving a density in 1/MeV.

        Returns:
            Shape ``(n_flavour, n_E)``.
        """
        return _normalised(self.counts.sum(axis=1), self.energy_edges_mev, density)

    def time_distribution(self, *, density: bool = False) -> np.ndarray:
        """Arrival-time distribution of each flavour, integrated over energy, normalised to 1.

        Args:
            density: ``False`` gives the fraction of neutrinos per bin (sums to 1);
                ``True`` divides by the bin widths, giving a pdf in 1/us.

        Returns:
            Shape ``(n_flavour, n_t)``.
        """
        return _normalised(self.counts.sum(axis=2), self.time_edges_us, density)


def _normalised(histograms: np.ndarray, edges: np.ndarray, density: bool) -> np.ndarray:
    fractions = histograms / histograms.sum(axis=1, keepdims=True)
    return fractions / np.diff(edges) if density else fractions


def read_sns_flux_2d(path: str | os.PathLike, *, energy_shift_mev: float = -0.5) -> FluxTable2D:
    """Read the SNS flux table ``snsFlux2D.root`` with uproot.

    Args:
        path: The ROOT file.
        energy_shift_mev: Added to the stored energy edges [MeV]. The default -0.5
            undoes the rounding of energies to the nearest MeV in the simulation
            (stored centres are 0.5 MeV too high); pass 0.0 to keep the stored edges.

    Returns:
        The table with time converted from ns to us.

    Raises:
        ConfigError: non-finite ``energy_shift_mev``.
        DataError: unreadable file, missing histogram, a histogram that is not 2D,
            flavours with different binnings, or negative, non-finite or all-zero
            contents.
    """
    if not np.isfinite(energy_shift_mev):
        raise ConfigError(f"energy_shift_mev must be finite, got {energy_shift_mev!r}.")
    try:
        import uproot  # only when the table is read: a slow import

        root_file = uproot.open(path)
    except (OSError, ValueError) as exc:
        raise data_error(path, f"cannot be opened as a ROOT file ({exc})") from exc
    with root_file:
        present = [
            f for f in (*FLUX_FLAVOURS, _OPTIONAL_FLAVOUR) if _HIST_NAME.format(f) in root_file
        ]
        missing = [f for f in FLUX_FLAVOURS if f not in present]
        if missing:
            raise data_error(
                path,
                f"has no histogram {_HIST_NAME.format(missing[0])!r} (keys: "
                f"{sorted(root_file.keys(cycle=False))})",
            )
        counts, time_edges, energy_edges = [], None, None
        for flavour in present:
            name = _HIST_NAME.format(flavour)
            hist = root_file[name]
            if not getattr(hist, "classname", "").startswith("TH2"):
                raise data_error(
                    path,
                    f"{name!r} is a {getattr(hist, 'classname', type(hist).__name__)}, "
                    "expected a TH2 of time [ns] x energy [MeV]",
                )
            values, t_edges, e_edges = hist.to_numpy()
            if time_edges is None:
                time_edges, energy_edges = t_edges, e_edges
            elif not (
                np.array_equal(t_edges, time_edges) and np.array_equal(e_edges, energy_edges)
            ):
                raise data_error(path, f"{name!r} has a binning different from the nu_e histogram")
            if not np.isfinite(values).all() or (values < 0).any() or not values.any():
                raise data_error(path, f"{name!r} has negative, non-finite or only zero contents")
            counts.append(values)
    return FluxTable2D(
        time_edges_us=time_edges * 1e-3,
        energy_edges_mev=energy_edges + energy_shift_mev,
        counts=counts,
        flavours=tuple(present),
    )
