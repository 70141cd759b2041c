"""The bound table (arXiv:2202.11002 Table II), the published numbers, and ``cevns-jax table``."""

import json

import pytest

from cevns_jax.charges import model_names
from cevns_jax.cli import main
from cevns_jax.errors import ConfigError
from cevns_jax.published import (
    COHERENT,
    PUBLISHED_BOUNDS,
    PUBLISHED_DATASETS,
    PUBLISHED_MODELS,
    published_bound,
)
from cevns_jax.registry import DATASETS, build_likelihood
from cevns_jax.table import (
    CONVERGENCE_TOL,
    REGIME_UNITS,
    REGIMES,
    ROW_KEYS,
    bound_rows,
    bound_table,
    check_models,
    markdown_table,
)

#: Our own measured bounds (new engine), pinned to 1e-3 relative: (model, data, regime) ->
#: (value, value_outer).
PINS = {
    ("scalar", "lar", "high"): (5.6640e-4, 5.6640e-4),
    ("B-L", "lar", "low"): (5.1637e-5, 5.1637e-5),
    ("B-L", "lar", "high"): (1.6127e-3, 1.6127e-3),
    ("B-L", "csi", "low"): (4.9068e-5, 4.9068e-5),
    ("B-L", "csi", "high"): (8.3107e-4, 8.3107e-4),
    ("B-L", "csi+lar", "low"): (4.3120e-5, 4.3120e-5),
    ("B-L", "csi+lar", "high"): (8.9162e-4, 8.9162e-4),
    ("universal", "lar", "low"): (3.0794e-5, 5.0454e-5),
    ("universal", "lar", "high"): (6.0589e-4, 1.9419e-3),
}
PIN_RTOL = 1e-3


# --- published numbers ------------------------------------------------------------------------
def test_published_bounds_cover_table_ii():
    assert len(PUBLISHED_BOUNDS) == 4 * 3 * 2
    assert set(PUBLISHED_MODELS) <= set(model_names())
    assert set(PUBLISHED_DATASETS) == set(DATASETS)
    for (model, data, regime), value in PUBLISHED_BOUNDS.items():
        assert model in PUBLISHED_MODELS and data in DATASETS and regime in ("low", "high")
        assert isinstance(value, float) and 0.0 < value < 0.1
    # spot checks against shared/reference/published.md (written there as 234e-5, 0.82e-3)
    assert published_bound("L_mu-L_tau", "lar", "low") == pytest.approx(2.34e-3)
    assert published_bound("universal", "lar", "high") == pytest.approx(8.2e-4)
    assert published_bound("B-L", "csi+lar", "low") == pytest.approx(4.42e-5)
    assert published_bound("scalar", "csi", "high") == pytest.approx(3.1e-4)
    assert published_bound("B-3L_mu", "lar", "low") is None
    # combining data sets tightens every published bound
    for (model, data, regime), value in PUBLISHED_BOUNDS.items():
        if data == "csi+lar":
            assert value <= min(PUBLISHED_BOUNDS[(model, d, regime)] for d in ("csi", "lar"))


def test_coherent_reference_numbers():
    csi, lar = COHERENT["csi2021"], COHERENT["lar2020"]
    assert (csi.sm_prediction, csi.cevns_fitted, csi.cevns_fitted_err, csi.significance_sigma) == (
        341.0,
        306.0,
        20.0,
        11.6,
    )
    assert (lar.sm_prediction, lar.cevns_fitted, lar.cevns_fitted_err, lar.significance_sigma) == (
        128.0,
        159.0,
        43.0,
        3.5,
    )
    assert csi.sm_text == "341 ± 11 (th) ± 42 (exp), PRL 129 (2022) 081801"
    assert lar.sm_text == "128 ± 17, PRL 126 (2021) 012002"
    assert csi.fitted_text == "306 ± 20"
    from cevns_jax.registry import entry

    # one source of truth: the registry's entries (which cevns-jax fit prints) hold them
    assert entry("csi2021").published is csi and entry("lar2020").published is lar


# --- the library function ---------------------------------------------------------------------
def test_check_models_and_inputs():
    assert check_models(None) == model_names()
    assert check_models(["B-L", "scalar", "B-L"]) == ["B-L", "scalar"]
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        check_models(["B-L", "nope"])
    with pytest.raises(ConfigError, match="no models given"):
        check_models([])
    # every input is checked before any computation (the experiments here are not real)
    with pytest.raises(ConfigError, match="unknown data set 'xenon'; choose from csi, lar"):
        bound_table({"lar": object()}, ["B-L"], ["xenon"], progress=False)
    with pytest.raises(ConfigError, match="unknown regime 'medium'"):
        bound_table({"lar": object()}, ["B-L"], ["lar"], ["medium"], progress=False)
    with pytest.raises(ConfigError, match=r"'csi\+lar' needs the experiments \['csi'\]"):
        bound_table({"lar": object()}, ["B-L"], ["csi+lar"], progress=False)
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        bound_table({"lar": object()}, ["nope"], ["lar"], progress=False)
    with pytest.raises(ConfigError, match="unknown regime 'medium'"):
        bound_rows(None, "lar", [("B-L", "medium")])
    assert REGIMES == ("low", "high") and set(REGIME_UNITS) == set(REGIMES)


def test_bound_table_one_model_lar(lar):
    """The scalar on LAr at high mass: 5.66e-4 GeV^-1 (published 5.80e-4)."""
    rows = bound_table({"lar": lar}, ["scalar"], ["lar"], ["high"], progress=False)
    (r,) = rows
    assert r["value"] == pytest.approx(PINS[("scalar", "lar", "high")][0], rel=PIN_RTOL)
    assert abs(r["convergence"]) < CONVERGENCE_TOL
    assert (r["model"], r["data"], r["regime"], r["unit"]) == (
        "scalar",
        "lar",
        "high",
        "g/M [GeV^-1]",
    )
    assert set(r) == set(ROW_KEYS)
    assert json.loads(json.dumps(r)) == r  # plain JSON types
    assert r["published"] == PUBLISHED_BOUNDS[("scalar", "lar", "high")]
    assert r["ratio"] == pytest.approx(r["value"] / r["published"])
    assert 0.8 < r["ratio"] < 1.2
    assert not r["island"] and r["value_outer"] == r["value"] and r["closer"] == "connected"
    assert r["converged"] and r["all_converged"]
    assert (r["mass_gev"], r["check_mass_gev"]) == (10.0, 5.0)
    md = markdown_table(rows)
    assert md.count("| model | Ar |") == 1 and "| scalar | 5." in md


def test_bound_rows_of_several_models_together(lar):
    """bound_rows computes all (model, regime) pairs of a data set together: the same
    numbers as the table row by row, with the χ² curves on request."""
    lik = build_likelihood("lar", experiments={"lar": lar})
    rows = bound_rows(lik, "lar", [("B-L", "low"), ("scalar", "high")], details=True)
    assert [(r["model"], r["regime"]) for r in rows] == [("B-L", "low"), ("scalar", "high")]
    assert rows[0]["value"] == pytest.approx(PINS[("B-L", "lar", "low")][0], rel=PIN_RTOL)
    assert rows[1]["value"] == pytest.approx(PINS[("scalar", "lar", "high")][0], rel=PIN_RTOL)
    for r in rows:
        assert set(r) == set(ROW_KEYS) | {"details"} and r["data"] == "lar"
        assert r["unit"] == REGIME_UNITS[r["regime"]]
        main_, check = r["details"]
        assert main_["mass_mev"] == r["mass_gev"] * 1e3
        assert check["mass_mev"] == r["check_mass_gev"] * 1e3
        assert len(main_["chi2"]) == len(main_["log10_g"]) > 50
        assert r["converged"] and r["all_converged"]
    assert rows[0]["mass_gev"] == 1e-5 and rows[1]["mass_gev"] == 10.0


def _row(model, data, regime, value, outer=None, published=None, converged=True):
    outer = value if outer is None else outer
    return {
        "model": model, "data": data, "regime": regime, "value": value, "value_outer": outer,
        "island": outer != value, "mass_gev": 1e-5 if regime == "low" else 10.0,
        "check_mass_gev": 1e-4 if regime == "low" else 5.0, "convergence": 0.0,
        "converged": converged, "all_converged": True, "published": published,
        "ratio": None if published is None else value / published,
        "ratio_outer": None if published is None else outer / published,
    }  # fmt: skip


def test_markdown_layout():
    rows = [
        _row("universal", "csi", "high", 5e-4, 1.9e-3, 5.3e-4),
        _row("universal", "lar", "high", 6.8e-4, 1.94e-3, 8.2e-4),
        _row("B-3L_e", "lar", "low", 4e-5, converged=False),
    ]
    md = markdown_table(rows)
    assert "## high-mass regime" in md and "## low-mass regime" in md
    assert "| model | Ar | CsI |" in md  # paper column order, only columns present
    assert "| universal | 6.80e-04 (1.94e-03) [8.20e-04; 0.83, 2.37] | " in md
    assert "| B-3L_e | 4.00e-05 † | – |" in md
    assert "M = 10 GeV, checked at 5 GeV" in md


def test_markdown_shows_every_registered_data_set(monkeypatch):
    from cevns_jax import registry

    monkeypatch.setitem(registry.DATASETS, "lar-bis", ("lar",))  # a new data set
    rows = [_row("B-L", "lar", "low", 5e-5), _row("B-L", "lar-bis", "low", 4.2e-5)]
    md = markdown_table(rows)
    assert "5.00e-05" in md
    assert "4.20e-05" in md


# --- the command ------------------------------------------------------------------------------
def test_cli_table_unknown_model_exits_2(tmp_path, capsys):
    assert main(["table", "--models", "B-L", "nope", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cevns-jax table: error:" in err and "unknown model 'nope'" in err


def test_cli_table_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["table", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--models", "--data-dir", "--json", "--markdown"):
        assert option in text


@pytest.mark.slow
def test_cli_table_one_model(data_dir, tmp_path, capsys):
    """``table --models B-L``: 6 bounds on CsI, LAr, CsI+LAr, pinned."""
    out, md = tmp_path / "t.json", tmp_path / "t.md"
    argv = [
        "table",
        "--models",
        "B-L",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--markdown",
        str(md),
    ]
    assert main(argv) == 0
    assert "B-L" in capsys.readouterr().out
    res = json.loads(out.read_text(encoding="utf-8"))
    assert set(res) == {"bounds", "provenance", "elapsed_s"}
    assert len(res["bounds"]) == 6
    for r in res["bounds"]:
        assert {"model", "data", "regime", "value"} <= set(r)
        assert r["model"] == "B-L" and r["data"] in DATASETS
        assert isinstance(r["value"], float)
        value, outer = PINS[("B-L", r["data"], r["regime"])]
        assert r["value"] == pytest.approx(value, rel=PIN_RTOL), r
        assert r["value_outer"] == pytest.approx(outer, rel=PIN_RTOL), r
        assert r["converged"] and r["all_converged"], r
    assert res["provenance"]["config"]["command"] == "table"
    assert "| model | Ar | CsI | CsI+Ar |" in md.read_text(encoding="utf-8")


# --- the published part of Table II (slow: 24 bounds, ~5 min on 2 CPU cores) -------------------
#: Entries outside 20 % of the paper with the current likelihoods, with the reason.
_KNOWN_DEVIATIONS = {
    ("universal", "lar", "low"): (
        "21 % low: the paper's 3.91e-5 lies between our connected edge 3.08e-5 (ratio 0.79) "
        "and the outer edge of a marginal island 5.05e-5 (1.29): our Δχ² barrier between "
        "them peaks at ≈ 5 and the island dips only to ≈ 3.9"
    ),
    ("universal", "lar", "high"): (
        "26 % low: connected edge 6.06e-4 (ratio 0.74), outer edge of the island 1.94e-3 "
        "(2.37); the paper's 8.2e-4 lies between. Scaling our LAr SM prediction up to the "
        "released 128 events moves it only to 6.4e-4, so the difference is in the LAr "
        "likelihood details, not the rate (docs/physics.md §8: the barrier before such islands is "
        "sensitive to them)"
    ),
}


@pytest.fixture(scope="module")
def published_rows(csi, lar):
    rows = bound_table({"csi": csi, "lar": lar}, PUBLISHED_MODELS, progress=False)
    return {(r["model"], r["data"], r["regime"]): r for r in rows}


def _published_cases():
    for key in PUBLISHED_BOUNDS:
        marks = [pytest.mark.slow]
        if key in _KNOWN_DEVIATIONS:
            marks.append(pytest.mark.xfail(reason=_KNOWN_DEVIATIONS[key], strict=True))
        yield pytest.param(key, marks=marks, id="-".join(key))


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(k for k in PINS if k in PUBLISHED_BOUNDS))
def test_published_rows_regression_pins(published_rows, key):
    """Our own numbers for the published rows we pinned (also those outside 20 %)."""
    r = published_rows[key]
    assert (r["value"], r["value_outer"]) == pytest.approx(PINS[key], rel=PIN_RTOL), r


@pytest.mark.parametrize("key", list(_published_cases()))
def test_published_models_reproduce_table_ii(published_rows, key):
    """The four published models on every data set within 20 % of arXiv:2202.11002
    Table II, with whichever reading (connected / outer) the row says is closer.

    Recorded (2-core CPU; value, outer edge if an island, published, closer reading, ratio):

        universal  csi     low  2.635e-05            2.360e-05  connected 1.117
        universal  csi     high 5.467e-04 1.810e-03  5.300e-04  connected 1.032
        universal  lar     low  3.079e-05 5.046e-05  3.910e-05  connected 0.788  (xfail)
        universal  lar     high 6.059e-04 1.942e-03  8.200e-04  connected 0.739  (xfail)
        universal  csi+lar low  2.258e-05            2.070e-05  connected 1.091
        universal  csi+lar high 4.865e-04 1.818e-03  4.800e-04  connected 1.014
        B-L        csi     low  4.907e-05            5.270e-05  connected 0.931
        B-L        csi     high 8.311e-04            1.000e-03  connected 0.831
        B-L        lar     low  5.164e-05            5.350e-05  connected 0.965
        B-L        lar     high 1.613e-03            1.670e-03  connected 0.966
        B-L        csi+lar low  4.312e-05            4.420e-05  connected 0.976
        B-L        csi+lar high 8.916e-04            9.900e-04  connected 0.901
        L_mu-L_tau csi     low  1.239e-03            1.160e-03  connected 1.068
        L_mu-L_tau csi     high 2.610e-02 7.456e-02  2.660e-02  connected 0.981
        L_mu-L_tau lar     low  2.161e-03            2.340e-03  connected 0.923
        L_mu-L_tau lar     high 3.007e-02 7.820e-02  8.090e-02  outer     0.967
        L_mu-L_tau csi+lar low  1.063e-03            1.030e-03  connected 1.032
        L_mu-L_tau csi+lar high 2.295e-02 7.429e-02  2.420e-02  connected 0.949
        scalar     csi     low  1.891e-05            1.800e-05  connected 1.051
        scalar     csi     high 3.090e-04            3.100e-04  connected 0.997
        scalar     lar     low  2.362e-05            2.300e-05  connected 1.027
        scalar     lar     high 5.664e-04            5.800e-04  connected 0.977
        scalar     csi+lar low  1.894e-05            1.680e-05  connected 1.127
        scalar     csi+lar high 3.270e-04            3.000e-04  connected 1.090
    """
    r = published_rows[key]
    assert r["converged"] and r["all_converged"], r
    assert r["published"] == PUBLISHED_BOUNDS[key]
    ratio = r["ratio_outer"] if r["closer"] == "outer" else r["ratio"]
    assert 0.8 <= ratio <= 1.2, (key, r["closer"], ratio)
