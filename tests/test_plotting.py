"""Figures that do not mislead: each class of problem found in review has a check here."""

import re

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from cevns_jax.errors import ConfigError
from cevns_jax.plotting_bounds import plot_bound_rows
from cevns_jax.plotting_compare import plot_compare, plot_compare_models
from cevns_jax.plotting_prediction import plot_prediction_vs_data, plot_sm_fit
from cevns_jax.plotting_scan import g2_band_curves, plot_scan, plot_scan_result
from cevns_jax.scan_result import ScanResult

E_EDGES, T_EDGES = np.linspace(0, 60, 10), np.linspace(0, 6, 12)


def _scan_inputs(n_mass):
    masses = np.geomspace(1e-3, 10.0, n_mass)
    couplings = np.geomspace(1e-6, 1.0, 40)
    lg = np.log10(couplings)[None, :]
    delta = 40.0 * np.clip(lg + 4.0 + 0.3 * np.log10(masses)[:, None], 0, None) ** 2
    band = {
        "mass_gev": masses if n_mass > 1 else np.array([1e-3, 10.0]),
        "central": np.full(max(n_mass, 2), 3e-4),
        "bands": {
            1.0: (np.full(max(n_mass, 2), 2e-4), np.full(max(n_mass, 2), 4e-4)),
            2.0: (np.full(max(n_mass, 2), 1e-4), np.full(max(n_mass, 2), 6e-4)),
        },
    }
    return masses, couplings, delta, band


def test_one_mass_scan_is_not_an_empty_plane(tmp_path):
    masses, couplings, delta, band = _scan_inputs(1)
    fig = plot_scan(
        tmp_path / "s.png",
        title="t",
        masses_gev=masses,
        couplings=couplings,
        delta_chi2=delta,
        threshold=6.18,
        g2_band=band,
    )
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert hi - lo == pytest.approx(1.0)  # one decade around the mass, not a zero-width axis
    assert lo < np.log10(masses[0]) < hi
    filled = [c for c in ax.collections if len(c.get_paths()) and c.get_paths()[0].vertices.size]
    assert filled, "the excluded part of the column is drawn"
    assert any("one mass" in t.get_text() for t in ax.get_legend().get_texts())


def test_g2_band_colour_matches_its_legend(tmp_path):
    masses, couplings, delta, band = _scan_inputs(20)
    fig = plot_scan(
        tmp_path / "s.png",
        title="t",
        masses_gev=masses,
        couplings=couplings,
        delta_chi2=delta,
        threshold=6.18,
        g2_band=band,
    )
    ax = fig.axes[0]
    legend = {
        t.get_text(): h
        for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True)
    }
    patches = [v for k, v in legend.items() if "(g-2)" in k]
    assert len(patches) == 2
    fills = [c for c in ax.collections if c.get_zorder() == 2.5]
    assert len(fills) == 2
    for fill in fills:
        face = tuple(fill.get_facecolor()[0])
        assert face[3] == 1.0, "opaque: the colour over the excluded region is the legend's"
        assert any(np.allclose(face, to_rgba(p.get_facecolor())) for p in patches)


def test_compare_draws_the_sm_on_top_of_coinciding_models(tmp_path):
    sm = np.ones((9, 11))
    fig = plot_compare(
        tmp_path / "c.png",
        title="t",
        e_edges=E_EDGES,
        t_edges=T_EDGES,
        e_unit="PE",
        sm=sm,
        models={"L_mu-L_tau": sm * 1.0001, "B-L": sm * 1.3},
    )
    top = fig.axes[0]
    labels = {p.get_label(): p for p in top.patches}
    sm_line = next(p for k, p in labels.items() if k.startswith("SM ("))
    assert all(
        sm_line.get_zorder() > p.get_zorder()
        for k, p in labels.items()
        if not k.startswith("SM (")
    )
    assert any("≈ SM" in k for k in labels), "a model indistinguishable from the SM says so"


@pytest.mark.parametrize("name", ["figure.png", "figure.pdf", "figure.svg", "figure"])
def test_figure_written_exactly_where_named(tmp_path, name):
    path = tmp_path / name
    plot_compare(
        path,
        title="t",
        e_edges=E_EDGES,
        t_edges=T_EDGES,
        e_unit="PE",
        sm=np.ones((9, 11)),
        models={},
    )
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_unknown_figure_format_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown format '.xyz'"):
        plot_compare(
            tmp_path / "f.xyz",
            title="t",
            e_edges=E_EDGES,
            t_edges=T_EDGES,
            e_unit="PE",
            sm=np.ones((9, 11)),
            models={},
        )


def _lines(ax):
    """Step lines (unfilled stairs) and plotted lines of one axis."""
    return [p for p in ax.patches if not p.get_fill()] + list(ax.lines)


def test_predict_figure_subtracts_the_fitted_backgrounds(lar, lar_sm_fit):
    """LAr: the data points are data minus the *fitted* backgrounds, and the figure says so."""
    sm = np.ones((3,) + tuple(np.asarray(lar.observed).shape))
    nominal = {k: np.asarray(v) for k, v in lar.backgrounds.templates(lar, 0.0).items()}
    fig = plot_prediction_vs_data(
        None, lar_sm_fit.likelihood, title="LAr", sm=sm, backgrounds=nominal, fit=lar_sm_fit
    )
    fitted = sum(v for k, v in lar_sm_fit.fitted_components.items() if k != "cevns")
    expected = float(np.sum(np.asarray(lar.observed) - fitted))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    pattern = rf"data − fitted bkg\s+{expected:.1f}\b"  # the label column is padded
    assert any(re.search(pattern, t) for t in texts), texts
    assert "backgrounds from the SM fit" in fig._suptitle.get_text()


def test_predict_figure_of_a_mediator_with_nominal_backgrounds(tmp_path, lar, lar_lik):
    """Energy and time panels; the mediator is stacked, the SM and the released template
    are lines; the figure is written where named."""
    shape = (3,) + tuple(np.asarray(lar.observed).shape)
    sm, bl = np.ones(shape), 1.5 * np.ones(shape)
    nominal = {k: np.asarray(v) for k, v in lar.backgrounds.templates(lar, 0.0).items()}
    path = tmp_path / "p.png"
    fig = plot_prediction_vs_data(
        path, lar_lik, title="LAr", sm=sm, backgrounds=nominal, released=sm.sum(axis=0),
        model=("B-L", 0.01, 5e-5), model_counts=bl,
    )  # fmt: skip
    assert path.is_file() and len(fig.axes) == 2
    for ax in fig.axes:
        labels = [p.get_label() for p in _lines(ax)]
        assert sum(k.startswith(("SM prediction", "COHERENT CEvNS template")) for k in labels) == 2
    title = fig._suptitle.get_text()
    assert "M = 10 MeV, g = 5e-05" in title and "nominal (unfitted) backgrounds" in title
    assert any(f"{bl.sum():8.1f}" in t.get_text() for t in fig.axes[0].texts)


def test_sm_fit_figure(lar_sm_fit):
    fig = plot_sm_fit(None, lar_sm_fit, title="LAr")
    assert len(fig.axes) == 2 and fig._suptitle.get_text() == "LAr: SM fit"
    labels = [p.get_label() for p in _lines(fig.axes[0])]
    assert sum(k.startswith("SM CEvNS (") for k in labels) == 1
    assert any(f"{lar_sm_fit.cevns_fitted:7.1f}" in t.get_text() for t in fig.axes[0].texts)


def test_compare_figure_of_models(lar, lar_lik):
    shape = (3,) + tuple(np.asarray(lar.observed).shape)
    nominal = {k: np.asarray(v) for k, v in lar.backgrounds.templates(lar, 0.0).items()}
    models = {"B-L": 1.2 * np.ones(shape), "scalar": 0.9 * np.ones(shape)}
    fig = plot_compare_models(
        None, lar_lik, title="LAr", sm=np.ones(shape), models=models, mass_gev=0.01,
        coupling=1e-4, backgrounds=nominal,
    )  # fmt: skip
    assert len(fig.axes) == 4  # counts and ratios, energy and time
    labels = [p.get_label() for p in fig.axes[0].patches]
    assert len(labels) == 3 and sum(k.startswith("SM (") for k in labels) == 1
    assert len(fig.axes[2].patches) == 2, "one ratio line per model"
    assert "(M = 10 MeV, g = 0.0001)" in fig._suptitle.get_text()


def _bound_row(regime, value, island):
    details = [
        {
            "mass_mev": m,
            "log10_g": np.linspace(-6, -2, 30),
            "chi2": 100.0 + np.linspace(0, 20, 30) ** 2 / 10,
            "chi2_min": 100.0,
            "delta_chi2_sm": 0.0,
        }
        for m in ((0.01, 0.1) if regime == "low" else (1e5, 1e6))
    ]
    return {"regime": regime, "details": details, "value": value,
            "value_outer": 2 * value if island else None, "island": island, "published": None,
            "convergence": 1e-3}  # fmt: skip


def test_bound_figure_has_a_panel_per_regime(tmp_path):
    rows = [_bound_row("low", 1e-5, False), _bound_row("high", 1e-3, True)]
    fig = plot_bound_rows(tmp_path / "b.png", rows, model="L_mu-L_tau", data="lar")
    assert len(fig.axes) == 2
    for ax, island in zip(fig.axes, (False, True), strict=True):
        assert len([ln for ln in ax.lines if ln.get_label().startswith("M = ")]) == 2
        outer = [ln for ln in ax.lines if ln.get_label().startswith("outer edge")]
        assert len(outer) == int(island)
    assert fig._suptitle.get_text().startswith(r"$L_\mu-L_\tau$ on ")


def _scan_result(best_g_index):
    masses_mev = np.geomspace(1.0, 1e4, 8)
    couplings = np.geomspace(1e-6, 1.0, 20)
    _, _, delta, _ = _scan_inputs(8)
    chi2 = 50.0 + delta[:, ::2].copy()
    chi2[3, best_g_index] = 49.0
    shape = chi2.shape
    return ScanResult(masses_mev, couplings, chi2, np.ones(shape, bool), np.ones(8, bool), {})


@pytest.mark.parametrize(("model", "best_g_index"), [("B-L", 5), ("L_e-L_tau", 0)])
def test_scan_figure_of_a_result(model, best_g_index):
    """Best fit marked only away from the SM limit; the band only with a muon coupling."""
    fig = plot_scan_result(None, _scan_result(best_g_index), model, data_title="LAr")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    assert len(stars) == (best_g_index > 0)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    couples_mu = model == "B-L"
    assert sum("(g-2)_\\mu$ at" in k for k in legend) == (2 if couples_mu else 0)
    assert any("no muon coupling" in k for k in legend) == (not couples_mu)
    assert ax.get_title().endswith("LAr: 2σ exclusion")


def test_g2_band_curves():
    from cevns_jax.charges import get_model

    band = g2_band_curves(get_model("L_mu-L_tau"), np.array([1e-3, 1.0]), n_masses=5)
    assert band["mass_gev"].shape == band["central"].shape == (5,)
    lo, hi = band["bands"][2.0]
    assert np.all(lo < band["central"]) and np.all(band["central"] < hi)
    assert g2_band_curves(get_model("L_e-L_tau"), np.array([1e-3, 1.0])) is None


def test_projection_figure_against_today():
    from cevns_jax.cryo_plots import plot_projection_vs_today

    masses = np.geomspace(1.0, 1e4, 4)
    curve = {"g_connected": 1e-4 * masses**0.5}
    curves = {"cryo-csi-1": curve, "cryo-csi-2": {"g_connected": 0.3 * curve["g_connected"]}}
    observed = {"g_connected": 3 * curve["g_connected"]}
    fig = plot_projection_vs_today(
        None, "L_mu-L_tau", masses, curves, observed, g2=True, fraction={"value": 0.42}
    )
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.lines) == 3  # observed and two expected edges
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "CsI+LAr observed (today)" and any("(g-2)" in k for k in legend)
    assert any("excludes 42 %" in t.get_text() for t in ax.texts)
    fig = plot_projection_vs_today(None, "B-L", masses, curves, observed, g2=False)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not any("(g-2)" in k for k in legend) and not fig.axes[0].texts


def test_posterior_figure_against_the_profile(lar_lik):
    from types import SimpleNamespace

    from cevns_jax.charges import get_model
    from cevns_jax.plotting_stats import plot_posterior_vs_profile

    rng = np.random.default_rng(0)
    draws = {
        "log10_mass_mev": rng.uniform(0, 2, (2, 200)),
        "log10_g": rng.uniform(-6, -3, (2, 200)),
    }
    fig = plot_posterior_vs_profile(
        None, SimpleNamespace(posterior=draws), lar_lik, get_model("B-L"),
        mass_range_gev=(1e-3, 0.1), log10_g_range=(-6.0, -3.0), title="B-L on lar",
    )  # fmt: skip
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_title() == "B-L on lar"
    assert len(ax.get_legend().get_texts()) == 2  # credible region and profile contour
