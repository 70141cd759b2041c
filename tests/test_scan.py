"""(M, g) exclusion scans: χ² grid, two-parameter threshold, resume, errors, CLI."""

import json

import equinox as eqx
import numpy as np
import pytest

from cevns_jax import scan_tasks
from cevns_jax.charges import get_model
from cevns_jax.cli import main
from cevns_jax.engine import profile_rows
from cevns_jax.errors import ConfigError
from cevns_jax.likelihood import JointLikelihood
from cevns_jax.likelihood_lar import LArLikelihood, LArSettings
from cevns_jax.profile import ExactQuadratic
from cevns_jax.scan import (
    DELTA_CHI2_2D,
    FORMAT,
    ScanResult,
    default_coupling_range,
    delta_chi2_threshold,
    load_scan,
    scan_grid,
    scan_models,
)
from cevns_jax.scan_store import chunk_dir

# a small LAr grid: 4 masses (MeV) x 16 couplings (one engine block)
MASSES = np.array([1.0, 30.0, 1e3, 1e4])
COUPLINGS = np.geomspace(1e-7, 1e-1, 16)


@pytest.fixture(scope="module")
def lar_joint(lar_lik):
    return JointLikelihood((lar_lik,))


@pytest.fixture(scope="module")
def one_shot(lar_joint, tmp_path_factory):
    """The small B-L grid computed in one go, saved to a file."""
    path = tmp_path_factory.mktemp("scan") / "one_shot.npz"
    res = scan_grid(
        get_model("B-L"), lar_joint, MASSES, COUPLINGS, out_path=path, progress=False, model="B-L"
    )
    return res, path


def test_two_parameter_threshold():
    assert DELTA_CHI2_2D == pytest.approx(6.18, abs=5e-3)
    assert delta_chi2_threshold(0.9545, 2) == pytest.approx(-2.0 * np.log(1.0 - 0.9545))
    assert delta_chi2_threshold(0.9545, 1) == pytest.approx(4.0, abs=1e-3)
    with pytest.raises(ConfigError, match="confidence level"):
        delta_chi2_threshold(1.5)


def test_small_grid_excluded_at_large_g_allowed_at_small_g(one_shot):
    res, _ = one_shot
    assert res.chi2.shape == (MASSES.size, COUPLINGS.size) and res.complete
    assert np.all(np.isfinite(res.chi2))
    d = res.delta_chi2()
    assert np.nanmin(d) == 0.0
    exc = res.excluded()
    assert np.array_equal(exc, d > DELTA_CHI2_2D)
    assert not exc[:, 0].any() and exc[:, -1].all()  # allowed at 1e-7, excluded at 0.1
    # the SM limit: Δχ² flat at tiny couplings, the same for every mass
    assert np.ptp(res.chi2[:, 0]) < 1e-3
    assert np.all(res.converged[d < DELTA_CHI2_2D])
    # the low-mass edge (flat in M) lies well below the heavy one (g/M constant)
    edge = res.connected_edge()
    assert 1e-5 < edge[0] < 3e-4 and edge[0] < edge[2] < edge[3]
    assert 5.0 < edge[3] / edge[2] < 20.0  # ~10 on a fine grid; this one has 0.4 dex steps
    # regression pins of our own numbers (measured when the batched engine landed)
    np.testing.assert_allclose(
        edge, [4.23445294e-05, 7.04195972e-05, 1.26808932e-03, 1.67291765e-02], rtol=1e-6
    )
    assert res.best() == pytest.approx((105.05283575228792, 1.0, 0.001), rel=1e-9)
    assert not res.islands().any()


def test_grid_is_the_engine_and_metadata(one_shot, lar_joint):
    """The scan's χ² is the engine's on the same rows; the file says what was computed."""
    res, path = one_shot
    chi2, conv = profile_rows(lar_joint, get_model("B-L"), MASSES, COUPLINGS)
    np.testing.assert_allclose(res.chi2, chi2, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(res.converged, conv)
    md = load_scan(path).metadata
    assert md["format"] == FORMAT == "cevns_jax.scan/2"
    assert md["model"] == "B-L" and md["data"] == "lar"
    assert md["experiments"] == {"lar": "lar2020"}
    assert set(md["solvers"]) == {"lar"} and set(md["solvers"]["lar"]) == {"ExactQuadratic"}
    assert md["solvers"]["lar"]["ExactQuadratic"]["tol"] == ExactQuadratic().tol
    assert md["settings"]["lar"]["sigma_ss"] == pytest.approx(0.0079)
    assert len(md["observed_sha256"]["lar"]) == 64
    assert md["charges"]["quark"] == pytest.approx([1 / 3] * 3)
    assert "options" not in md


def test_csv_long_format(one_shot, tmp_path):
    res, _ = one_shot
    out = tmp_path / "grid.csv"
    res.to_csv(out)
    text = out.read_text()
    assert text.startswith("# cevns_jax profiled chi2 scan")
    assert "model: B-L" in text and "6.18" in text
    lines = text.splitlines()
    assert lines[0].startswith("#") and "mass_gev" in next(x for x in lines if x[0] != "#")
    rows = np.genfromtxt([x for x in lines if x[0] != "#"], delimiter=",", names=True)
    assert rows.dtype.names == ("mass_gev", "g", "chi2", "delta_chi2", "converged")
    assert rows.size == MASSES.size * COUPLINGS.size
    np.testing.assert_allclose(rows["mass_gev"][:: COUPLINGS.size], MASSES / 1e3, rtol=1e-9)
    np.testing.assert_allclose(rows["chi2"], res.chi2.ravel(), rtol=1e-9)
    np.testing.assert_allclose(rows["delta_chi2"], res.delta_chi2().ravel(), rtol=1e-9, atol=1e-9)


class _Stop(Exception):
    pass


def test_resume_computes_only_missing_chunks(one_shot, lar_joint, tmp_path, monkeypatch):
    """Chunks of one mass row each, each written as its own file: a crash in the third
    chunk leaves two chunks on disk (and two rows in the assembled file); the rerun, with
    chunks of two rows, computes only the chunk of the two missing rows."""
    res_once, _ = one_shot
    path = tmp_path / "resumed.npz"
    real = scan_tasks.profile_rows
    calls = []

    def interrupted(lik, charges, masses, gs, *args, **kwargs):
        if len(calls) == 2:
            raise _Stop  # a crash during the third chunk
        calls.extend(np.asarray(masses).tolist())
        return real(lik, charges, masses, gs, *args, **kwargs)

    kwargs = {"out_path": path, "progress": False, "model": "B-L"}
    monkeypatch.setattr(scan_tasks, "profile_rows", interrupted)
    with pytest.raises(_Stop):
        scan_grid(get_model("B-L"), lar_joint, MASSES, COUPLINGS, chunk_masses=1, **kwargs)
    partial = load_scan(path)
    assert partial.done.tolist() == [True, True, False, False]
    assert np.all(np.isnan(partial.chi2[2:])) and np.all(np.isfinite(partial.chi2[:2]))
    chunks = sorted(p.name for p in chunk_dir(path).iterdir())
    assert chunks == ["m00000-00001_g00000-00016.npz", "m00001-00002_g00000-00016.npz",
                      "metadata.json"]  # fmt: skip
    assert not list(tmp_path.rglob(".*.tmp"))  # the atomic writes left no temporary file

    calls.clear()

    def counting(lik, charges, masses, gs, *args, **kwargs):
        calls.extend(np.asarray(masses).tolist())
        return real(lik, charges, masses, gs, *args, **kwargs)

    monkeypatch.setattr(scan_tasks, "profile_rows", counting)
    res = scan_grid(get_model("B-L"), lar_joint, MASSES, COUPLINGS, chunk_masses=2, **kwargs)
    assert calls == [MASSES[2], MASSES[3]]
    final = load_scan(path)
    for r in (res, final):
        assert r.complete
        np.testing.assert_allclose(r.chi2, res_once.chi2, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(r.converged, res_once.converged)
    assert final.metadata["model"] == "B-L" and final.metadata["data"] == "lar"

    calls.clear()  # a finished file: nothing recomputed, whatever the chunk size
    scan_grid(get_model("B-L"), lar_joint, MASSES, COUPLINGS, chunk_masses=3, **kwargs)
    assert calls == []
    # the metadata keep the run that started the file
    assert "provenance_first" in final.metadata


def test_chunk_directory_of_another_scan_is_refused(lar_joint, tmp_path):
    """Chunks on disk of another grid are refused, even without the assembled file."""
    path = tmp_path / "s.npz"
    scan_grid(get_model("B-L"), lar_joint, MASSES[:2], COUPLINGS, out_path=path, progress=False,
              model="B-L")  # fmt: skip
    path.unlink()
    with pytest.raises(ConfigError, match="chunks of a different scan: masses_mev"):
        scan_grid(get_model("B-L"), lar_joint, MASSES[1:3], COUPLINGS, out_path=path,
                  progress=False, model="B-L")  # fmt: skip
    # the same scan again: assembled from its chunks without computing anything
    run = scan_models({"B-L": get_model("B-L")}, lar_joint, MASSES[:2], COUPLINGS,
                      {"B-L": path}, progress=False)  # fmt: skip
    assert run.chunks_computed == 0 and run.n_resumed == run.n_tasks == 1
    assert load_scan(path).complete


def test_many_models_in_the_same_calls(one_shot, lar_joint, tmp_path):
    """Several models share the chunks' engine calls; each equals its own one-model scan
    and gets its own output; the stacked rows compile nothing new."""
    res_bl, _ = one_shot
    models = {"B-L": get_model("B-L"), "universal": get_model("universal")}
    outs = {m: tmp_path / f"{m}.npz" for m in models}
    run = scan_models(models, lar_joint, MASSES, COUPLINGS, outs, chunk_masses=2,
                      progress=False)  # fmt: skip
    assert run.n_tasks == 2 and [len(r.computed) for r in run.reports] == [2, 2]
    np.testing.assert_allclose(run.results["B-L"].chi2, res_bl.chi2, rtol=1e-12, atol=0)
    uni, _ = profile_rows(lar_joint, get_model("universal"), MASSES, COUPLINGS)
    np.testing.assert_allclose(run.results["universal"].chi2, uni, rtol=1e-12, atol=0)
    for m, p in outs.items():
        assert load_scan(p).metadata["model"] == m and load_scan(p).complete


def test_models_and_chunks_do_not_retrace(lar_lik, monkeypatch):
    """Scans of other models, numbers of models, chunk sizes and grids reuse the compiled
    engine block: after the first scan (a solver setting nothing else uses, so it traces
    once) nothing is traced."""
    import cevns_jax.engine as engine_mod

    lik = JointLikelihood((LArLikelihood(lar_lik.experiment, solver=ExactQuadratic(tol=3e-9)),))

    traces = []
    original = engine_mod.recoil_components

    def counting(*args, **kwargs):
        traces.append(1)  # runs only while the engine's block is traced
        return original(*args, **kwargs)

    monkeypatch.setattr(engine_mod, "recoil_components", counting)
    scan_models({"B-L": get_model("B-L")}, lik, MASSES[:2], COUPLINGS, progress=False)
    assert len(traces) == 1
    names = ["scalar", "L_mu-L_tau", "B-3L_e"]
    scan_models({m: get_model(m) for m in names}, lik, MASSES, COUPLINGS[:9],
                chunk_masses=3, chunk_couplings=4, progress=False)  # fmt: skip
    assert len(traces) == 1


def _other_lik(which, lar_lik, csi_lik=None):
    if which == "settings":
        return JointLikelihood((lar_lik.replace_settings(LArSettings(sigma_eps=0.5)),))
    if which == "solvers":
        other = LArLikelihood(lar_lik.experiment, solver=ExactQuadratic(tol=1e-5))
        return JointLikelihood((other,))
    if which == "observed":
        exp = lar_lik.experiment
        moved = eqx.tree_at(lambda lik: lik.experiment.observed, lar_lik, exp.observed + 1.0)
        return JointLikelihood((moved,))
    if which == "response":  # an experiment-level physics setting (e.g. a radius)
        exp = lar_lik.experiment
        moved = eqx.tree_at(lambda lik: lik.experiment.response, lar_lik, exp.response * 1.01)
        return JointLikelihood((moved,))
    return JointLikelihood((csi_lik,))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"couplings": COUPLINGS[:8]}, "couplings"),
        ({"masses_mev": MASSES * 2}, "masses"),
        ({"model": "universal"}, "model"),
        ({"charges": get_model("universal")}, "charges"),
        ({"lik": "settings"}, "settings"),
        ({"lik": "solvers"}, "solvers"),
        ({"lik": "observed"}, "observed_sha256"),
        ({"lik": "response"}, "experiment_sha256"),
        ({"lik": "csi"}, "data"),
    ],
)
def test_mismatching_file_is_refused(one_shot, lar_joint, lar_lik, request, change, message):
    _, path = one_shot
    before = path.read_bytes()
    kwargs = {"masses_mev": MASSES, "couplings": COUPLINGS, "model": "B-L",
              "charges": get_model("B-L"), "lik": lar_joint}  # fmt: skip
    kwargs.update(change)
    if isinstance(kwargs["lik"], str):
        csi_lik = request.getfixturevalue("csi_lik") if kwargs["lik"] == "csi" else None
        kwargs["lik"] = _other_lik(kwargs["lik"], lar_lik, csi_lik)
    with pytest.raises(ConfigError, match=f"{message}.*another output path or delete"):
        scan_grid(out_path=path, progress=False, **kwargs)
    assert path.read_bytes() == before


def test_unreadable_file_is_refused(lar_joint, tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("not a scan")
    with pytest.raises(ConfigError, match="not a readable cevns_jax scan file"):
        scan_grid(get_model("B-L"), lar_joint, MASSES, COUPLINGS, out_path=path, progress=False)


@pytest.mark.parametrize(
    ("masses", "couplings", "message"),
    [
        ([-1.0, 10.0], COUPLINGS, "masses_mev must be finite and > 0"),
        ([0.0, 10.0], COUPLINGS, "masses_mev must be finite and > 0"),
        ([10.0, 1.0], COUPLINGS, "masses_mev must be strictly increasing"),
        ([1.0, 1.0], COUPLINGS, "masses_mev must be strictly increasing"),
        ([], COUPLINGS, "non-empty"),
        (MASSES, [0.0, 1e-3], "couplings must be finite and > 0"),
        (MASSES, [1e-3, np.inf], "couplings must be finite and > 0"),
        (MASSES, [1e-3, 1e-4], "couplings must be strictly increasing"),
        (MASSES, np.ones((2, 2)), "1-D"),
    ],
)
def test_bad_inputs(lar_joint, masses, couplings, message):
    with pytest.raises(ConfigError, match=message):
        scan_grid(get_model("B-L"), lar_joint, masses, couplings, progress=False)


def test_missing_directory(lar_joint, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        scan_grid(
            get_model("B-L"),
            lar_joint,
            MASSES,
            COUPLINGS,
            out_path=tmp_path / "no" / "x.npz",
            progress=False,
        )


def test_islands_and_edges_on_a_toy_grid():
    """Island labelling and edge interpolation on a hand-made Δχ² grid."""
    g = np.geomspace(1e-4, 1e-1, 7)
    chi2 = (
        np.array(
            [
                [0.0, 1.0, 9.0, 9.0, 9.0, 9.0, 9.0],
                [0.0, 1.0, 9.0, 1.0, 9.0, 9.0, 9.0],  # island at g index 3
                [0.0, 1.0, 2.0, 9.0, 9.0, 9.0, 9.0],
            ]
        )
        + 100.0
    )
    res = ScanResult(
        np.array([1.0, 2.0, 3.0]), g, chi2, np.ones(chi2.shape, bool), np.ones(3, bool), {}
    )
    islands = res.islands()
    assert islands.sum() == 1 and islands[1, 3]
    edge = res.connected_edge()
    t = (DELTA_CHI2_2D - 1.0) / 8.0
    assert edge[0] == pytest.approx(10 ** (np.log10(g[1]) + t * 0.5))
    assert edge[2] == pytest.approx(10 ** (np.log10(g[2]) + (DELTA_CHI2_2D - 2.0) / 7.0 * 0.5))
    # rows not done are neither excluded nor allowed
    partial = ScanResult(
        res.masses_mev,
        g,
        np.where([[1], [0], [1]], chi2, np.nan),
        res.converged,
        np.array([True, False, True]),
        {},
    )
    assert not partial.excluded()[1].any() and not partial.islands().any()
    assert np.isnan(partial.connected_edge()[1])
    summary = res.summary()
    assert summary["n_islands"] == 1 and summary["island_points"] == 1
    assert summary["island_mass_range_gev"] == [2e-3, 2e-3]
    assert summary["fraction_excluded"] == pytest.approx(13 / 21)
    assert summary["chi2_min"] == 100.0 and summary["best_coupling"] == g[0]
    assert not summary["top_row_allowed"] and summary["points_near_boundary"] == 21


def test_default_coupling_ranges():
    assert default_coupling_range(get_model("B-L")) == (1e-6, 1.0)
    assert default_coupling_range(get_model("scalar")) == (1e-6, 1.0)
    assert default_coupling_range(get_model("L_mu-L_tau")) == (1e-5, 10.0)


def test_cli_scan_writes_npz_csv_png_json(tmp_path, data_dir, capsys):
    out, csv, png, js = (tmp_path / n for n in ("s.npz", "s.csv", "s.png", "s.json"))
    argv = [
        "scan",
        "--model",
        "B-L",
        "--data",
        "lar",
        "--n-mass",
        "3",
        "--n-g",
        "16",
        "--g-range",
        "1e-7",
        "1e-1",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--csv",
        str(csv),
        "--plot",
        str(png),
        "--json",
        str(js),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "grid minimum" in printed and "excluded at 2σ" in printed
    res = load_scan(out)
    assert res.complete and res.chi2.shape == (3, 16)
    np.testing.assert_allclose(res.masses_gev, [1e-3, 0.1, 10.0], rtol=1e-12)
    assert res.metadata["provenance"]["config"]["command"] == "scan"
    assert csv.read_text().count("\n") > 3 * 16
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(js.read_text())
    assert summary["summary"]["rows_computed"] == 3
    assert 0.0 < summary["summary"]["fraction_excluded"] < 1.0
    assert summary["provenance"]["data_files"]
    # rerun: resumed, nothing computed; another grid in the same file: exit code 2
    assert main(argv[:-7] + ["--no-progress"]) == 0
    assert "0 computed, 3 resumed" in capsys.readouterr().out
    assert main(argv[:8] + ["8"] + argv[9:]) == 2
    assert "holds a different scan" in capsys.readouterr().err


def test_cli_scan_bad_options(tmp_path, capsys):
    base = ["scan", "--model", "B-L", "--data", "lar", "--data-dir", str(tmp_path)]
    assert main(base + ["--mass-range", "10", "1"]) == 2
    assert "--mass-range" in capsys.readouterr().err
    assert main(base + ["--g-range", "0", "1"]) == 2
    assert "positive" in capsys.readouterr().err
    assert main(["scan", "--model", "nope", "--data", "lar"]) == 2
    assert "unknown model" in capsys.readouterr().err
    for extra, message in [
        (["--model", "B-L,universal", "--csv", "x.csv"], "several models need {model}"),
        (["--model", "B-L,B-L"], "repeated"),
        (["--workers", "2"], "--workers and --scheduler need --executor dask"),
        (["--executor", "dask", "--workers", "0"], "workers must be >= 1"),
        (["--executor", "dask", "--workers", "2", "--scheduler", "x:1"], "not both"),
        (["--chunk-masses", "0"], "--chunk-masses 0"),
    ]:
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
