"""Release registry, verified file access (data dir and real HTTP download) and parsers."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import jax
import numpy as np
import pytest

from cevns_jax.datasets import (
    REGISTRY,
    binned_counts,
    data_path,
    file_sha256,
    load_csi2021,
    load_lar2020,
    registry_names,
)
from cevns_jax.datasets._lar2020 import read_hist3d
from cevns_jax.datasets._lar2020_params import read_lar_parameters
from cevns_jax.datasets._text import read_table
from cevns_jax.errors import ChecksumError, ConfigError, DataError

PE_EDGES = [0, 8, 12, 16, 20, 24, 32, 40, 50, 60]
T_EDGES = [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1, 2, 4, 6]


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    """Tests choose their own sources: no data dir, mirror or cache from the environment."""
    for var in ("CEVNS_JAX_DATA", "CEVNS_JAX_MIRROR", "CEVNS_JAX_CACHE"):
        monkeypatch.delenv(var, raising=False)


def _copy(data_dir: Path, root: Path, *names: str) -> Path:
    """Copy release files to ``root/<name>`` and return ``root``."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / name, root / name)
    return root


def _flip_byte(path: Path, offset: int = 10) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] = ord("7") if raw[offset] != ord("7") else ord("8")
    path.write_bytes(bytes(raw))


# --- registry ---------------------------------------------------------------------------


def test_registry_matches_staged_files_and_sha256(data_dir):
    for release, n_files in (("csi2021", 8), ("lar2020", 21)):
        staged = {f"{release}/{p.name}" for p in (data_dir / release).iterdir()}
        required = {n for n in registry_names(release) if not REGISTRY[n].optional}
        assert staged == required and len(required) == n_files
        for name in required:
            assert file_sha256(data_dir / name) == REGISTRY[name].sha256, name
    flux = REGISTRY["csi2021/snsFlux2D.root"]
    assert flux.optional and flux.sha256 is None
    assert flux.url == "https://arxiv.org/src/2110.07730v2/anc/snsFlux2D.root"
    assert REGISTRY["lar2020/cevnspdf.txt"].url == (
        "https://zenodo.org/records/3903810/files/cevnspdf.txt?download=1"
    )
    with pytest.raises(ConfigError, match="csi2021"):
        registry_names("csi2017")


# --- parsed content ---------------------------------------------------------------------


def test_csi2021_content(data_dir):
    csi = load_csi2021(data_dir)
    assert csi.events_c.shape == (5142, 2) and csi.events_ac.shape == (4890, 2)
    coinc = binned_counts(csi.events_c, PE_EDGES, T_EDGES)
    anti = binned_counts(csi.events_ac, PE_EDGES, T_EDGES)
    assert coinc.shape == (9, 11) and coinc.sum() == 1578 and anti.sum() == 1295
    np.testing.assert_array_equal(coinc.sum(1), [11, 147, 224, 177, 144, 237, 210, 231, 197])
    np.testing.assert_array_equal(coinc.sum(0), [34, 31, 42, 42, 52, 58, 56, 41, 314, 491, 417])
    np.testing.assert_array_equal(anti.sum(1), [4, 98, 144, 123, 105, 202, 182, 216, 221])
    np.testing.assert_array_equal(anti.sum(0), [23, 24, 30, 32, 28, 32, 31, 30, 234, 433, 398])

    np.testing.assert_allclose(csi.brn_pe_centers, np.arange(250) + 0.5)
    np.testing.assert_allclose(csi.brn_t_centers, np.arange(650) * 0.01 - 0.245, atol=1e-12)
    low_pe = csi.brn_pe_centers < 60
    assert csi.brn_pe[low_pe].sum() == pytest.approx(1.0, abs=1e-6)
    assert csi.nin_pe[low_pe].sum() == pytest.approx(1.0, abs=1e-6)
    assert csi.brn_t.sum() == pytest.approx(27.632, abs=1e-3)
    assert csi.nin_t.sum() == pytest.approx(7.565, abs=1e-3)
    np.testing.assert_array_equal(csi.eff_coeffs[0], [1.32045, 0.285979, 10.8646, -0.333322])
    np.testing.assert_array_equal(csi.eff_coeffs[2], [1.297, 0.286592, 11.8832, -0.31028])
    assert csi.qf_coeffs.shape == (5, 4)
    np.testing.assert_array_equal(csi.qf_coeffs[4], [0.0555126, 4.67765, -130.309, 1050.68])
    assert all(leaf.dtype == np.float64 for leaf in jax.tree_util.tree_leaves(csi))


def test_binned_counts_is_half_open_and_checks_input():
    events = np.array([[0.0, 0.0], [60.0, 1.0], [59.9, 5.99], [10.0, 6.0], [-1.0, 1.0]])
    counts = binned_counts(events, PE_EDGES, T_EDGES)
    assert counts.sum() == 2 and counts[0, 0] == 1 and counts[-1, -1] == 1
    with pytest.raises(ConfigError, match="shape"):
        binned_counts(np.zeros((3, 3)), PE_EDGES, T_EDGES)
    with pytest.raises(ConfigError, match="increasing"):
        binned_counts(events, [0, 10, 5], T_EDGES)


def test_lar2020_content(data_dir):
    lar = load_lar2020(data_dir)
    np.testing.assert_allclose(lar.e_edges, np.arange(13) * 10.0)
    np.testing.assert_allclose(lar.f90_edges, 0.5 + 0.05 * np.arange(9))
    np.testing.assert_allclose(lar.t_edges, -0.1 + 0.5 * np.arange(11))
    sums = {
        "observed": 3752, "cevns": 128, "brn_prompt": 497, "brn_delayed": 33, "ss": 3152,
        "cevns_f90_plus": 128, "cevns_f90_minus": 128, "cevns_timing_mean": 128,
        "brn_energy_plus": 497, "brn_energy_minus": 497, "brn_timing_mean_plus": 523.671,
        "brn_timing_mean_minus": 497, "brn_timing_width": 497,
    }  # fmt: skip
    for field, total in sums.items():
        hist = getattr(lar, field)
        assert hist.shape == (12, 8, 10)
        assert hist.sum() == pytest.approx(total, abs=1e-3), field
    # First and last rows of datanobkgsub.txt land in the [E, F90, t] corners.
    assert lar.observed[0, 0, 0] == 32 and lar.observed[0, 0, 1] == 44
    assert lar.observed[0, 0, 2] == 23
    assert lar.cevns[0, 0, 1] == pytest.approx(3.71085)
    assert lar.cevns.sum(axis=(1, 2))[0] > lar.cevns.sum(axis=(1, 2))[-1]  # low-energy signal
    assert lar.eff.shape == lar.eff_kevee.shape == lar.eff_kevnr.shape == (80,)
    np.testing.assert_allclose(lar.eff_kevee, 0.25 + 0.5 * np.arange(80))
    p = lar.params
    assert p.pot == pytest.approx(1.38e23, rel=1e-12) and p.distance_m == 27.5
    assert (p.mass_kg, p.nu_per_flavor_per_pot) == (24.4, 0.09)
    assert (p.qf_a, p.qf_b_per_kevnr) == (0.246, 0.00078)
    assert (p.predicted_cevns, p.predicted_cevns_unc, p.predicted_ss) == (128, 17, 3154)
    assert (p.bestfit_cevns, p.bestfit_cevns_unc, p.bestfit_brn_prompt) == (159, 43, 553)
    assert (p.pot_trace_mean_ns, p.pot_trace_width_ns, p.energy_resolution_a) == (440, 150, 0.58)
    leaves = jax.tree_util.tree_leaves(lar)  # params is static, not a leaf
    assert len(leaves) == 19 and all(leaf.dtype == np.float64 for leaf in leaves)
    hash(jax.tree_util.tree_structure(lar))


# --- data directory: resolution, missing and corrupted files ----------------------------


def test_data_dir_argument_then_env(data_dir, tmp_path, monkeypatch):
    name = "csi2021/effCoefficients.txt"
    assert data_path(name, data_dir) == (data_dir / name).resolve()
    monkeypatch.setenv("CEVNS_JAX_DATA", str(data_dir))
    assert data_path(name) == (data_dir / name).resolve()
    monkeypatch.setenv("CEVNS_JAX_DATA", str(tmp_path))  # the argument wins over the env
    assert data_path(name, data_dir) == (data_dir / name).resolve()
    with pytest.raises(DataError, match="CEVNS_JAX_DATA") as info:
        data_path(name)
    assert str(tmp_path / name) in str(info.value)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="lar2020/cevnspdf.txt") as info:
        data_path("lar2020/nope.txt")
    assert isinstance(info.value, ValueError)


def test_checksum_mismatch_in_data_dir(data_dir, tmp_path):
    name = "lar2020/cevnspdf.txt"
    root = _copy(data_dir, tmp_path, name)
    assert data_path(name, root) == (root / name).resolve()
    _flip_byte(root / name)
    with pytest.raises(ChecksumError) as info:
        data_path(name, root)
    message = str(info.value)
    assert str((root / name).resolve()) in message and REGISTRY[name].sha256 in message
    assert file_sha256(root / name) in message and "fresh copy" in message
    assert isinstance(info.value, DataError)


def test_loader_refuses_corrupted_release(data_dir, tmp_path):
    root = _copy(data_dir, tmp_path, *registry_names("lar2020"))
    _flip_byte(root / "lar2020/brnpdf-1sigEnergy.txt", offset=200)
    with pytest.raises(ChecksumError, match=r"brnpdf-1sigEnergy\.txt"):
        load_lar2020(root)


# --- parsers: truncated and malformed files ---------------------------------------------


def _edit_lines(src: Path, dst: Path, edit) -> Path:
    lines = src.read_text().splitlines(keepends=True)
    dst.write_text("".join(edit(lines)))
    return dst


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda lines: lines[:500], "500 data lines, expected 960"),
        (lambda lines: lines[:-1] + [lines[-1][:8]], "line 960 has 2 columns"),
        (lambda lines: lines[:3] + ["5 0.525 1.65 abc\n"] + lines[4:], "line 4 is not numeric"),
        (lambda lines: lines[:3] + ["5 0.525 1.65 nan\n"] + lines[4:], "non-finite"),
        (lambda lines: [lines[1], lines[0]] + lines[2:], r"time \[us\] centre column"),
        (lambda lines: lines[10:20] + lines[:10] + lines[20:], r"F90 centre column \(column 2\)"),
        (lambda lines: lines[80:160] + lines[:80] + lines[160:], "energy .* not increasing"),
    ],
)
def test_hist3d_truncated_or_malformed(data_dir, tmp_path, edit, match):
    bad = _edit_lines(data_dir / "lar2020/cevnspdf.txt", tmp_path / "cevnspdf.txt", edit)
    with pytest.raises(DataError, match=match) as info:
        read_hist3d(bad)
    assert str(bad) in str(info.value)


def test_hist3d_uneven_centres(tmp_path):
    rows = [f"{e} {f} {t} 1\n" for e in (5, 15) for f in (0.525, 0.575) for t in (0.15, 0.65, 1.5)]
    path = tmp_path / "uneven.txt"
    path.write_text("".join(rows))
    with pytest.raises(DataError, match="time .* not increasing evenly"):
        read_hist3d(path, shape=(2, 2, 3))


def test_table_truncated_or_malformed(data_dir, tmp_path):
    src = data_dir / "csi2021/dataBeamOnC.txt"
    cut = _edit_lines(src, tmp_path / "dataBeamOnC.txt", lambda lines: lines[:2])
    with pytest.raises(DataError, match="no data lines") as info:
        read_table(cut, 2)
    assert "dataBeamOnC.txt" in str(info.value)
    eff = _edit_lines(
        data_dir / "csi2021/effCoefficients.txt", tmp_path / "effCoefficients.txt",
        lambda lines: lines[:-1],
    )  # fmt: skip
    with pytest.raises(DataError, match="2 data lines, expected 3"):
        read_table(eff, 4, nrows=3)
    with pytest.raises(DataError, match="cannot be read"):
        read_table(tmp_path / "absent.txt", 2)


def test_yaml_malformed(data_dir, tmp_path):
    src = data_dir / "lar2020/LArParametersAnlA.yaml"
    assert read_lar_parameters(src).qf_a == 0.246
    bad = tmp_path / "LArParametersAnlA.yaml"
    bad.write_text(src.read_text().replace("units: kg", "units: g"))
    with pytest.raises(DataError, match="'fiducialMass' has units 'g'"):
        read_lar_parameters(bad)
    bad.write_text(src.read_text().replace("value: 0.09", "value: lots"))
    with pytest.raises(DataError, match="neutrinosPerProton"):
        read_lar_parameters(bad)
    bad.write_text(src.read_text().replace("larQF:", "larQuenching:"))
    with pytest.raises(DataError, match="larQF") as info:
        read_lar_parameters(bad)
    assert str(bad) in str(info.value)


# --- download from a local HTTP server --------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server over ``tmp_path/served``; yields (served dir, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_verifies_and_caches(data_dir, tmp_path, mirror, monkeypatch):
    served, url = mirror
    names = ("lar2020/cevnspdf+1sigF90.txt", "csi2021/effCoefficients.txt")
    _copy(data_dir, served, *names)
    cache = tmp_path / "cache"
    got = data_path(names[0], base_url=url, cache_dir=cache)
    assert got == (cache / names[0]).resolve()
    assert got.read_bytes() == (data_dir / names[0]).read_bytes()
    monkeypatch.setenv("CEVNS_JAX_MIRROR", url)
    monkeypatch.setenv("CEVNS_JAX_CACHE", str(cache))
    assert file_sha256(data_path(names[1])) == REGISTRY[names[1]].sha256
    shutil.rmtree(served)  # cached files are used without the server
    assert data_path(names[0], base_url=url, cache_dir=cache) == got


def test_download_whole_release(data_dir, tmp_path, mirror):
    served, url = mirror
    _copy(data_dir, served, *(n for n in registry_names("csi2021") if REGISTRY[n].sha256))
    csi = load_csi2021(base_url=url, cache_dir=tmp_path / "cache")
    assert binned_counts(csi.events_c, PE_EDGES, T_EDGES).sum() == 1578


def test_corrupted_download_is_refused(data_dir, tmp_path, mirror):
    served, url = mirror
    name = "lar2020/cevnspdf.txt"
    _copy(data_dir, served, name)
    _flip_byte(served / name)
    cache = tmp_path / "cache"
    (cache / "lar2020").mkdir(parents=True)
    (cache / name).write_text("stale partial copy\n")  # a bad cached copy triggers a refetch
    with pytest.raises(ChecksumError) as info:
        data_path(name, base_url=url, cache_dir=cache)
    message = str(info.value)
    assert url in message and REGISTRY[name].sha256 in message
    assert file_sha256(served / name) in message
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_download_failures(tmp_path, mirror):
    _, url = mirror
    with pytest.raises(DataError, match="CEVNS_JAX_DATA") as info:
        data_path("csi2021/brnPE.txt", base_url=url, cache_dir=tmp_path / "cache")
    assert f"{url}csi2021/brnPE.txt" in str(info.value)
    with pytest.raises(ConfigError, match="http"):
        data_path("csi2021/brnPE.txt", base_url="ftp://example.org", cache_dir=tmp_path)
