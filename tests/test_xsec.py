"""Cross sections against hand computations written independently in NumPy/SciPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from cevns_jax import constants as c
from cevns_jax.charges import get_model
from cevns_jax.mediator import Mediator, standard_model
from cevns_jax.nuclei import Helm, cs133
from cevns_jax.xsec import dsigma_dT, e_min, radiative_couplings, t_max, tree_level_couplings

GF = 1.1663788e-11  # MeV^-2
HBARC_CM = 197.3269804e-13  # MeV cm
NUC = cs133()
M, Z, N = float(NUC.mass), 55, 78


def helm(q, r, s=0.9):
    r0 = np.sqrt(5 / 3 * (r * r - 3 * s * s))
    x = q * r0
    return 3 * (np.sin(x) - x * np.cos(x)) / x**3 * np.exp(-0.5 * (q * s) ** 2)


def pieces(T):
    q2 = 2 * M * T + T * T
    q = np.sqrt(q2) / 197.3269804
    return q2, Z * helm(q, 4.821), N * helm(q, 5.01)


def sm_xsec(E, T, gvp):
    _, zf, nf = pieces(T)
    Q = gvp * zf - 0.5094 * nf
    return GF**2 * M / np.pi * (1 - M * T / (2 * E * E)) * Q**2 * HBARC_CM**2


def xs(E, T, model, couplings=None):
    couplings = radiative_couplings() if couplings is None else couplings
    return np.asarray(dsigma_dT(E, T, NUC, Helm(), couplings, model))


def test_sm_cross_section_hand_computation():
    E, T = 30.0, 0.010
    out = xs(E, T, standard_model())
    assert out[0] == pytest.approx(sm_xsec(E, T, 0.0401), rel=1e-12)
    assert out[1] == pytest.approx(sm_xsec(E, T, 0.0318), rel=1e-12)
    # magnitude: a few 1e-37 cm^2/MeV (1e-40 cm^2/keV) for Cs at 30 MeV, 10 keV
    assert 1e-38 < out[1] < 1e-35  # cm^2/MeV


def test_tree_level_option():
    cp = tree_level_couplings()
    assert float(cp.gv_p[0]) == pytest.approx(0.5 - 2 * 0.23857)
    assert float(cp.gv_n) == -0.5
    rad = radiative_couplings()
    assert rad.gv_p.tolist()[:2] == [0.0401, 0.0318] and float(rad.gv_n) == -0.5094
    # nu_tau charge-radius extrapolation lies below nu_mu
    assert float(rad.gv_p[2]) < 0.0318


def test_kinematic_endpoint():
    E = 30.0
    tm = float(t_max(E, M))
    assert tm == pytest.approx(2 * E * E / (M + 2 * E))
    assert float(e_min(tm, M)) == pytest.approx(E, rel=1e-12)
    vals = xs(E, jnp.array([tm * (1 - 1e-9), tm * (1 + 1e-9)]), standard_model())
    assert np.all(vals[:, 0] > 0) and np.all(vals[:, 1] == 0)


def loop_eps(q2, ma, mb):
    f = lambda x: x * (1 - x) * np.log((ma**2 + x * (1 - x) * q2) / (mb**2 + x * (1 - x) * q2))  # noqa: E731
    return quad(f, 0, 1, epsabs=1e-14)[0]


def loop_pi(q2, lepton_charges, mu=c.M_MUON):
    """Σ_l Q'_l ∫ x(1-x) ln((m_l^2 + x(1-x) q^2)/mu^2) dx by quadrature."""
    ms = (c.M_ELECTRON, c.M_MUON, c.M_TAU)
    return sum(
        ql * quad(lambda x, m=m: x * (1 - x) * np.log((m * m + x * (1 - x) * q2) / mu**2), 0, 1)[0]
        for ql, m in zip(lepton_charges, ms, strict=True)
    )


@pytest.mark.parametrize("name", ["B-L", "universal"])
def test_hadrophilic_weak_charge_shift(name):
    """Q_l = Q_SM + g^2 Q'_nu/(√2 G_F (q^2+M^2)) 3 Q'_q (Z F_Z + N F_N) + loop term."""
    E, T, g, mz = 30.0, 0.012, 3e-5, 20.0
    ch = get_model(name)
    q2, zf, nf = pieces(T)
    qnu = float(ch.nu[1])
    tree = g * g * qnu / (np.sqrt(2) * GF * (q2 + mz**2)) * 3 * float(ch.quark[0]) * (zf + nf)
    loop = (
        np.sqrt(2)
        * c.ALPHA_EM
        * g
        * g
        * qnu
        * (-loop_pi(q2, np.asarray(ch.lepton)))
        / (np.pi * GF * (q2 + mz**2))
        * zf
    )
    Q = 0.0318 * zf - 0.5094 * nf + tree + loop
    expected = GF**2 * M / np.pi * (1 - M * T / (2 * E * E)) * Q**2 * HBARC_CM**2
    out = xs(E, T, Mediator(ch, mz, g))
    assert out[1] == pytest.approx(expected, rel=1e-9)
    # B-L interferes constructively (|Q| grows), universal destructively
    grows = abs(Q) > abs(0.0318 * zf - 0.5094 * nf)
    assert grows == (name == "B-L")


def test_l_mu_minus_l_tau_loop_matches_physics_formula():
    """g_V^p(ν_μ) shift √2 α g^2 ε_τμ(|q|)/(π G_F (q^2 + M^2)).

    docs/physics.md §5, L_α−L_β with α = μ."""
    E, T, g, mz = 30.0, 0.012, 1e-3, 5.0
    q2, zf, nf = pieces(T)
    shift = (
        np.sqrt(2)
        * c.ALPHA_EM
        * g
        * g
        * loop_eps(q2, c.M_TAU, c.M_MUON)
        / (np.pi * GF * (q2 + mz**2))
    )
    expected_mu = sm_xsec(E, T, 0.0318 + shift)
    expected_e = sm_xsec(E, T, 0.0401)  # nu_e has no L_mu - L_tau charge
    out = xs(E, T, Mediator(get_model("L_mu-L_tau"), mz, g))
    assert out[1] == pytest.approx(expected_mu, rel=1e-9)
    assert out[0] == pytest.approx(expected_e, rel=1e-12)


def test_scalar_term_hand_computation():
    E, T, g, mphi = 30.0, 0.012, 2e-5, 15.0
    q2, zf, nf = pieces(T)
    scalar = (
        M
        * M
        * T
        / (4 * np.pi * E * E)
        * g**4
        / (q2 + mphi**2) ** 2
        * (59.1 / 3.42) ** 2
        * (zf + nf) ** 2
    )
    out = xs(E, T, Mediator(get_model("scalar"), mphi, g))
    assert out[1] == pytest.approx(sm_xsec(E, T, 0.0318) + scalar * HBARC_CM**2, rel=1e-12)


def test_cross_section_gradients_finite_at_threshold_and_zero_recoil():
    model = Mediator(get_model("B-L"), 10.0, 1e-4)

    def f(T, mass):
        return dsigma_dT(
            30.0, T, NUC, Helm(), radiative_couplings(), Mediator(model.charges, mass, 1e-4)
        ).sum()

    for T in (0.0, 1e-6, 0.02):
        g = jax.grad(f, argnums=(0, 1))(T, 10.0)
        assert all(np.isfinite(v) for v in g)
