"""SNS flux table reader, on small ROOT files written here with uproot."""

import jax
import numpy as np
import pytest
import uproot

from cevns_jax.datasets import FLUX_FLAVOURS, FluxTable2D, read_sns_flux_2d
from cevns_jax.errors import ConfigError, DataError

TIME_EDGES_NS = np.linspace(0.0, 6000.0, 7)  # 6 bins of 1 us
ENERGY_EDGES_MEV = np.arange(0.0, 6.0)  # 5 bins of 1 MeV, as stored (centres 0.5 MeV high)


def _counts(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 10.0, (6, 5))


def _hists(flavours) -> dict:
    """Histogram tuples (counts, time edges, energy edges) keyed by flavour."""
    return {f: (_counts(i), TIME_EDGES_NS, ENERGY_EDGES_MEV) for i, f in enumerate(flavours)}


def _write(path, hists: dict) -> None:
    with uproot.recreate(path) as root_file:
        for flavour, content in hists.items():
            root_file[f"convolved_energy_time_of_{flavour}"] = content


@pytest.fixture
def flux_file(tmp_path):
    path = tmp_path / "snsFlux2D.root"
    _write(path, _hists(FLUX_FLAVOURS))
    return path


def test_reads_shifts_and_converts(flux_file):
    table = read_sns_flux_2d(flux_file)
    assert isinstance(table, FluxTable2D) and table.flavours == FLUX_FLAVOURS
    np.testing.assert_allclose(table.time_edges_us, np.arange(7.0))
    np.testing.assert_allclose(table.energy_edges_mev, np.arange(6.0) - 0.5)
    assert table.counts.shape == (3, 6, 5) and table.counts.dtype == np.float64
    for i in range(3):
        np.testing.assert_allclose(table.counts[i], _counts(i))
    unshifted = read_sns_flux_2d(flux_file, energy_shift_mev=0.0)
    np.testing.assert_allclose(unshifted.energy_edges_mev, ENERGY_EDGES_MEV)
    assert len(jax.tree_util.tree_leaves(table)) == 3  # flavours is static
    with pytest.raises(ConfigError, match="energy_shift_mev"):
        read_sns_flux_2d(flux_file, energy_shift_mev=float("nan"))


def test_normalised_distributions(flux_file):
    table = read_sns_flux_2d(flux_file)
    spectrum = table.energy_distribution()
    assert spectrum.shape == (3, 5)
    np.testing.assert_allclose(spectrum.sum(axis=1), 1.0)
    np.testing.assert_allclose(spectrum[1], _counts(1).sum(0) / _counts(1).sum())
    density = table.energy_distribution(density=True)
    np.testing.assert_allclose((density * np.diff(table.energy_edges_mev)).sum(axis=1), 1.0)
    time_pdf = table.time_distribution(density=True)
    assert time_pdf.shape == (3, 6)
    np.testing.assert_allclose((time_pdf * np.diff(table.time_edges_us)).sum(axis=1), 1.0)
    np.testing.assert_allclose(table.time_distribution()[2], _counts(2).sum(1) / _counts(2).sum())


def test_optional_anti_nu_e_is_appended(tmp_path):
    path = tmp_path / "flux4.root"
    _write(path, _hists(("anti_nu_e", *FLUX_FLAVOURS)))
    table = read_sns_flux_2d(path)
    assert table.flavours == (*FLUX_FLAVOURS, "anti_nu_e") and table.counts.shape == (4, 6, 5)
    np.testing.assert_allclose(table.counts[3], _counts(0))


def _bad_files():
    good = _hists(FLUX_FLAVOURS)
    yield {k: v for k, v in good.items() if k != "nu_mu"}, "convolved_energy_time_of_nu_mu"
    yield {**good, "anti_nu_mu": (np.ones(6), TIME_EDGES_NS)}, "TH1D, expected a TH2"
    yield {**good, "nu_mu": (_counts(1), TIME_EDGES_NS * 2, ENERGY_EDGES_MEV)}, "binning"
    yield {**good, "nu_e": (-_counts(0), TIME_EDGES_NS, ENERGY_EDGES_MEV)}, "negative"
    yield {**good, "nu_e": (0 * _counts(0), TIME_EDGES_NS, ENERGY_EDGES_MEV)}, "only zero"


@pytest.mark.parametrize(("hists", "match"), list(_bad_files()))
def test_bad_content_raises(tmp_path, hists, match):
    path = tmp_path / "bad.root"
    _write(path, hists)
    with pytest.raises(DataError, match=match) as info:
        read_sns_flux_2d(path)
    assert str(path) in str(info.value)


def test_unreadable_files(tmp_path):
    not_root = tmp_path / "snsFlux2D.root"
    not_root.write_text("this is not a ROOT file\n")
    with pytest.raises(DataError, match="cannot be opened as a ROOT file"):
        read_sns_flux_2d(not_root)
    with pytest.raises(DataError, match="absent.root"):
        read_sns_flux_2d(tmp_path / "absent.root")
