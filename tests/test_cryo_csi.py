"""Cryo-CsI future detectors: design inputs, SM counts vs a hand estimate, Asimov likelihood,
registry/CLI entry, (g−2)_μ band coverage."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from cevns_jax import constants as c
from cevns_jax.cryo_csi import CSI2021_QF, build_cryo_csi_1, build_cryo_experiment, veto_survival
from cevns_jax.cryo_design import (
    BACKGROUND_SOURCES,
    CryoDesign,
    cryo_csi_1,
    cryo_csi_2,
    nu_per_pot,
    protons_on_target,
    with_values,
)
from cevns_jax.errors import ConfigError
from cevns_jax.nuclei import AbstractFormFactor


@pytest.fixture(scope="module")
def exp1():
    return build_cryo_csi_1()


def test_background_rates_and_quenching_from_the_csi2021_release(data_dir):
    """The design's SS and BRN rates and QF coefficients are those of the CsI 2021 release."""
    from cevns_jax.datasets import load_csi2021
    from cevns_jax.response import csi_efficiency

    rel = load_csi2021(data_dir)
    np.testing.assert_allclose(CSI2021_QF, rel.qf_coeffs[:3], rtol=0, atol=0)
    src, d = BACKGROUND_SOURCES, CryoDesign(mass_kg=1.0)
    ly, kg = src["csi2021_light_yield"], src["csi2021_mass_kg"]
    ac = rel.events_ac
    n_ss = np.sum((ac[:, 1] < 6.0) & (ac[:, 0] >= 20.0) & (ac[:, 0] < 60.0))
    eff = np.mean(np.asarray(csi_efficiency(np.arange(20.5, 60.0), rel.eff_coeffs[0])))
    ss = n_ss / (40.0 / ly) / eff / kg / src["csi2021_beam_hours"]
    assert float(d.ss_rate) == pytest.approx(ss, rel=5e-3)
    pe_eff = np.asarray(csi_efficiency(np.arange(0.5, 60.0), rel.eff_coeffs[0]))
    corr = np.sum(rel.brn_pe[:60] / np.maximum(pe_eff, 1e-3)) / np.sum(rel.brn_pe[:60])
    brn = 27.63 / 1.498 * corr / (60.0 / ly) / kg / src["csi2021_beam_gwh"]
    assert float(d.brn_rate) == pytest.approx(brn, rel=5e-3)


def test_exposure_numbers():
    d = cryo_csi_1()
    # 2 MW at 1.3 GeV: 9.6e15 protons per second (docs)
    per_second = 2e6 / (1.3 * 1.602176634e-10)
    assert float(protons_on_target(d)) == pytest.approx(per_second * 3 * 5000 * 3600, rel=1e-12)
    assert float(nu_per_pot(d)) == pytest.approx(0.132, rel=1e-12)
    assert float(nu_per_pot(with_values(d, {"proton_energy_gev": 0.984}))) == pytest.approx(
        0.08776, rel=1e-12
    )  # the formula vs COHERENT's Geant4 0.0848 at 0.984 GeV: within 3.5 %
    assert np.asarray(cryo_csi_2().years).tolist() == [0.0, 3.0]


def test_with_values_and_errors():
    d = with_values(cryo_csi_1(), {"mass_kg": "20", "years": "1,2", "years_2p8mw": 4})
    assert float(d.mass_kg) == 20.0 and np.asarray(d.years).tolist() == [1.0, 4.0]
    for bad in ({"massy": 1}, {"mass_kg": "x"}, {"years": "1"}, {"light_yield": "nan"}):
        with pytest.raises(ConfigError):
            with_values(cryo_csi_1(), bad)


class _Unit(AbstractFormFactor):
    def __call__(self, q2, r_rms):
        return jnp.ones_like(jnp.asarray(q2) * jnp.asarray(r_rms))


def _window_fraction(delayed: bool, window_us: float, pulse) -> float:
    """Fraction of neutrinos arriving before ``window_us``: Gaussian pulse, then the pion
    lifetime (prompt) or the pion and muon lifetimes (delayed), by quadrature."""
    tp, tm = c.TAU_PION, c.TAU_MUON

    def inside(t0):
        x = max(window_us - t0, 0.0)
        if delayed:
            tail = (tm * np.exp(-x / tm) - tp * np.exp(-x / tp)) / (tm - tp)
        else:
            tail = np.exp(-x / tp)
        gauss = np.exp(-0.5 * ((t0 - pulse[0]) / pulse[1]) ** 2) / (pulse[1] * np.sqrt(2 * np.pi))
        return gauss * (1.0 - tail)

    return integrate.quad(inside, pulse[0] - 10 * pulse[1], pulse[0] + 10 * pulse[1])[0]


def _hand_estimate(design, window_us=6.0, pulse=(0.565, 0.15)):
    """Σ_iso n_iso × fluence × Σ_sources (fraction in the window) × <σ>_source, with F = 1:
    σ(E) = G_F² Q² M/π ∫_0^Tmax (1 − M T/(2E²)) dT (ħc)², Q = Z g_p(ν_l) + N g_n."""
    fluence = float(nu_per_pot(design) * protons_on_target(design)) / (
        4 * np.pi * (float(design.distance_m) * 100.0) ** 2
    )
    n_mol = float(design.mass_kg) * 1e3 / 259.81 * c.AVOGADRO
    m_mu, m_pi = c.M_MUON, 139.57039
    e_prompt = (m_pi**2 - m_mu**2) / (2 * m_pi)
    nue = lambda e: 192 / m_mu**3 * e**2 * (0.5 - e / m_mu)  # noqa: E731
    numubar = lambda e: 64 / m_mu**3 * e**2 * (0.75 - e / m_mu)  # noqa: E731
    gp = {"e": 0.0401, "mu": 0.0318}
    total = 0.0
    for Z, N, mass in ((55, 78, 132.905452), (53, 74, 126.904473)):
        M = mass * c.ATOMIC_MASS_UNIT - Z * c.M_ELECTRON

        def sigma(e, flavour, Z=Z, N=N, M=M):
            q = Z * gp[flavour] + N * (-0.5094)
            tmax = 2 * e**2 / (M + 2 * e)
            integral = tmax - M * tmax**2 / (4 * e**2)
            return c.G_FERMI**2 * q**2 * M / np.pi * integral * c.HBARC2_MEV2_CM2

        s_e = integrate.quad(lambda e: nue(e) * sigma(e, "e"), 0, m_mu / 2)[0]
        s_mb = integrate.quad(lambda e: numubar(e) * sigma(e, "mu"), 0, m_mu / 2)[0]
        s_p = sigma(e_prompt, "mu")
        delayed, prompt = (
            _window_fraction(True, window_us, pulse),
            _window_fraction(False, window_us, pulse),
        )
        total += n_mol * fluence * (delayed * (s_e + s_mb) + prompt * s_p)
    return total


def test_sm_counts_agree_with_exposure_flux_cross_section():
    """Threshold far below 1 PE: every recoil is counted; the prediction is then exposure ×
    fluence × flux-averaged cross section (hand estimate with F = 1, quadrature)."""
    from cevns_jax.mediator import standard_model
    from cevns_jax.rates import expected_counts

    d = with_values(
        cryo_csi_1(), {"threshold_kevnr": 0.002, "threshold_width_pe": 0.01, "veto_window_us": 0}
    )
    # one wide bin: the response is then P(0 < PE < 250) = 1 for every recoil
    exp = build_cryo_experiment(
        d, form_factor=_Unit(), pe_edges=(0.0, 250.0), n_recoil=800, sub_width=5.0
    )
    counts = float(jnp.sum(eqx.filter_jit(expected_counts)(exp, standard_model())))
    assert counts == pytest.approx(_hand_estimate(d), rel=2e-3)


def test_sm_counts_per_year_pinned(exp1, capsys):
    """Our numbers (regression): Cryo-CsI-I SM counts and backgrounds over its 3 years, and
    what ``cevns-jax predict -e cryo-csi-1`` prints per year."""
    from cevns_jax.cli import main

    assert main(["predict", "-e", "cryo-csi-1"]) == 0
    out = capsys.readouterr().out
    total = next(ln for ln in out.splitlines() if ln.startswith("CEvNS total"))
    sm = float(total.split()[-1].replace(",", ""))
    assert sm == pytest.approx(2489.77, abs=0.006)
    assert f"SM CEvNS per year: {sm / 3:,.1f}" in out and "Asimov" in out
    bkg = {k: float(jnp.sum(v)) for k, v in exp1.backgrounds.templates(exp1).items()}
    assert bkg == pytest.approx({"brn": 54.542, "ss": 1855.943, "noise": 36.912}, rel=1e-4)
    # the accidental veto: 10 % at the nominal threshold, growing as it falls
    survival = [float(veto_survival(with_values(cryo_csi_1(), {"threshold_kevnr": t})))
                for t in (0.5, 1.4, 2.0)]  # fmt: skip
    assert survival == pytest.approx([0.67944, 0.89987, 0.96869], abs=2e-5)


@pytest.mark.slow  # compiles the engine's block (~40 s on 2 shared cores)
def test_asimov_likelihood_and_engine(exp1):
    from cevns_jax.charges import get_model
    from cevns_jax.engine import profile_rows, profiled_chi2
    from cevns_jax.mediator import standard_model
    from cevns_jax.registry import likelihood_for

    lik = likelihood_for(exp1)
    assert lik.names == ("norm_cevns", "norm_brn", "norm_ss", "norm_noise", "theta_qf")
    assert float(lik.widths()[0]) == 0.047
    sm = profiled_chi2(standard_model(), lik)
    assert abs(float(sm.value)) < 1e-9 and bool(sm.converged)
    chi2, ok = profile_rows(lik, get_model("B-L"), [10.0, 100.0], np.geomspace(1e-5, 1e-3, 5))
    assert ok.all() and np.all(np.isfinite(chi2)) and np.all(np.diff(chi2, axis=1) > 0)


def test_g2_band_fraction():
    """Constant bound: far below the band -> 1, far above -> 0, at the band's geometric
    middle -> 1/2 (the band has constant width in log g)."""
    from cevns_jax.charges import get_model
    from cevns_jax.g2 import g2_band
    from cevns_jax.projection import g2_band_excluded_fraction

    m = np.geomspace(1.0, 1e4, 40)
    b = g2_band(m, get_model("L_mu-L_tau"), n_sigma=(2.0,))
    mid = np.sqrt(np.asarray(b.lower)[:, 0] * np.asarray(b.upper)[:, 0])
    f = lambda g: g2_band_excluded_fraction("L_mu-L_tau", m, g)  # noqa: E731
    assert f(np.full(40, 1e-9)) == pytest.approx(1.0)
    assert f(np.full(40, 1.0)) == 0.0
    assert f(mid) == pytest.approx(0.5, abs=2e-3)
    with pytest.raises(ConfigError):
        g2_band_excluded_fraction("L_mu-L_tau", m[5:], mid[5:])


def test_design_is_a_pytree_of_float_arrays():
    import dataclasses

    import jax

    d = cryo_csi_2()
    leaves = jax.tree.leaves(d)
    assert len(leaves) == len(dataclasses.fields(d))
    assert all(isinstance(x, jax.Array) and x.dtype == jnp.float64 for x in leaves)
