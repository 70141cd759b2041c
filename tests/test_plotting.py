"""Figures that do not mislead: each class of problem found in review has a check here."""

import re

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from cevns_jax import plotting
from cevns_jax.errors import ConfigError

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
    fig = plotting.plot_scan(
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
    fig = plotting.plot_scan(
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
    fig = plotting.plot_compare(
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
    plotting.plot_compare(
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
        plotting.plot_compare(
            tmp_path / "f.xyz",
            title="t",
            e_edges=E_EDGES,
            t_edges=T_EDGES,
            e_unit="PE",
            sm=np.ones((9, 11)),
            models={},
        )


def test_predict_figure_subtracts_the_fitted_backgrounds(tmp_path, lar, lar_sm_fit):
    """LAr: the data points are data minus the *fitted* backgrounds, and the figure says so."""
    from cevns_jax.cli.predict import _plot_prediction

    sm = np.ones((3,) + tuple(np.asarray(lar.observed).shape))
    nominal = {k: np.asarray(v) for k, v in lar.backgrounds.templates(lar, 0.0).items()}
    fig = _plot_prediction(
        tmp_path / "p.png",
        "LAr",
        lar_sm_fit.likelihood,
        sm,
        None,
        None,
        nominal,
        None,
        lar_sm_fit,
    )
    fitted = sum(v for k, v in lar_sm_fit.fitted_components.items() if k != "cevns")
    expected = float(np.sum(np.asarray(lar.observed) - fitted))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    pattern = rf"data − fitted bkg\s+{expected:.1f}\b"  # the label column is padded
    assert any(re.search(pattern, t) for t in texts), texts
    assert "backgrounds from the SM fit" in fig._suptitle.get_text()
