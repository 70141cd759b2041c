"""Charged-lepton loop function, ε_{αβ} and the loop-induced proton-coupling shift."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from cevns_jax import constants as c
from cevns_jax.charges import get_model, stack_charges
from cevns_jax.loops import (
    epsilon_ab,
    lepton_loop,
    lepton_loop_mixing,
    loop_proton_coupling_shift,
)

R_SWITCH = 0.5  # series / closed-form switch of lepton_loop (r = q^2/m^2)

# jitted once: eager dispatch of the 20-term series op by op is slow
F = jax.jit(lepton_loop)
dF = jax.jit(jax.grad(lepton_loop))
EPS = jax.jit(epsilon_ab)
MIX = jax.jit(lepton_loop_mixing)
SHIFT = jax.jit(loop_proton_coupling_shift)


def _quad_half(fun, r):
    """2 ∫_0^{1/2} fun(x) dx (the integrands are symmetric under x -> 1 − x)."""
    pts = [min(1.0 / r, 0.25)] if r > 0 else None
    val, _ = quad(fun, 0.0, 0.5, epsabs=0.0, epsrel=1e-13, limit=400, points=pts)
    return 2.0 * val


def f_ref(r):
    return _quad_half(lambda x: x * (1 - x) * np.log1p(x * (1 - x) * r), r)


def dfdr_ref(r):
    return _quad_half(lambda x: (x * (1 - x)) ** 2 / (1 + x * (1 - x) * r), r)


R_GRID = np.concatenate([np.logspace(-12, 12, 25), [R_SWITCH, 0.3, 0.7, 1.0, 3.7]])


def test_F_against_quad():
    m2 = 2.5  # MeV^2: the function depends on q2/m2 only
    vals = np.asarray(F(R_GRID * m2, m2))
    ref = np.array([f_ref(r) for r in R_GRID])
    np.testing.assert_allclose(vals, ref, rtol=1e-10, atol=0)


def test_F_limits():
    assert float(F(0.0, 1.0)) == 0.0
    for r in [1e-12, 1e-8, 1e-4]:
        series = r / 30 - r**2 / 280 + r**3 / 1890
        np.testing.assert_allclose(float(F(r, 1.0)), series, rtol=1e-12)
    for r in [1e8, 1e10, 1e12]:
        asym = (math.log(r) - 5.0 / 3.0) / 6.0
        np.testing.assert_allclose(float(F(r, 1.0)), asym, rtol=20 * math.log(r) / r)
    # monotone and positive across the switch
    r = jnp.linspace(0.4, 0.6, 2001)
    f = F(r, 1.0)
    assert bool(jnp.all(f > 0)) and bool(jnp.all(jnp.diff(f) > 0))


def test_F_gradient_against_quad():
    m2 = 4.0
    grad = jax.jit(jax.vmap(jax.grad(lepton_loop), in_axes=(0, None)))
    r = np.concatenate([[0.0], R_GRID[R_GRID < 1e9]])
    d = np.asarray(grad(jnp.asarray(r * m2), m2)) * m2  # dF/dr
    ref = np.array([dfdr_ref(x) for x in r])
    np.testing.assert_allclose(d, ref, rtol=1e-9, atol=0)
    assert float(d[0]) == pytest.approx(1.0 / 30.0, rel=1e-15)


@pytest.mark.parametrize("r0", [0.0, R_SWITCH, 1e-3, 10.0])
def test_F_gradient_finite_differences(r0):
    m2 = c.M_MUON**2
    q2 = r0 * m2
    g = float(dF(q2, m2))
    assert np.isfinite(g)
    h = 1e-4 * m2
    if r0 == 0.0:  # one-sided (q2 >= 0), second order
        fd = (-3 * F(0.0, m2) + 4 * F(h, m2) - F(2 * h, m2)) / (2 * h)
    else:
        fd = (F(q2 + h, m2) - F(q2 - h, m2)) / (2 * h)
    np.testing.assert_allclose(g, float(fd), rtol=1e-7)
    # gradient w.r.t. the mass is finite as well
    assert np.isfinite(float(jax.jit(jax.grad(lepton_loop, argnums=1))(q2, m2)))


def test_F_gradient_continuous_at_switch():
    grad = dF
    lo = float(grad(R_SWITCH * (1 - 1e-13), 1.0))
    hi = float(grad(R_SWITCH * (1 + 1e-13), 1.0))
    at = float(grad(R_SWITCH, 1.0))
    np.testing.assert_allclose([lo, at], hi, rtol=1e-12)
    # second derivative finite on both sides
    hess = jax.jit(jax.grad(jax.grad(lepton_loop)))
    assert np.all(np.isfinite([float(hess(x, 1.0)) for x in (0.0, 0.49, 0.51, 1e6)]))


def test_F_broadcasting_and_jit():
    q2 = jnp.linspace(0.0, 1e4, 7)
    m2 = jnp.array([c.M_ELECTRON, c.M_MUON, c.M_TAU]) ** 2
    out = jax.jit(lepton_loop)(q2[:, None], m2[None, :])
    assert out.shape == (7, 3) and out.dtype == jnp.float64
    assert bool(jnp.all(jnp.isfinite(out)))


def test_epsilon():
    q2 = jnp.array([0.0, 1.0, 1e2, 1e4, 1e6])
    e_mt = EPS(q2, c.M_MUON, c.M_TAU)
    e_tm = EPS(q2, c.M_TAU, c.M_MUON)
    np.testing.assert_allclose(e_mt, -e_tm, rtol=1e-14)
    np.testing.assert_allclose(float(e_tm[0]), math.log(c.M_TAU**2 / c.M_MUON**2) / 6, rtol=1e-14)
    # against the defining integral
    for qq, val in zip(np.asarray(q2), np.asarray(e_tm), strict=True):
        ref, _ = quad(
            lambda x, qq=qq: (
                x
                * (1 - x)
                * np.log((c.M_TAU**2 + x * (1 - x) * qq) / (c.M_MUON**2 + x * (1 - x) * qq))
            ),
            0.0,
            1.0,
            epsabs=0.0,
            epsrel=1e-13,
        )
        np.testing.assert_allclose(val, ref, rtol=1e-11)
    # |epsilon| decreases with |q| (the heavier loop catches up)
    assert bool(jnp.all(jnp.diff(e_tm) < 0))


@pytest.mark.parametrize(
    "name,alpha,beta",
    [("L_mu-L_tau", 1, 2), ("L_e-L_mu", 0, 1), ("L_e-L_tau", 0, 2)],
)
def test_mixing_is_epsilon_and_scale_free(name, alpha, beta):
    masses = (c.M_ELECTRON, c.M_MUON, c.M_TAU)
    ch = get_model(name)
    q2 = jnp.logspace(-2, 5, 9)
    pi_default = MIX(q2, ch.lepton)
    pi_other = MIX(q2, ch.lepton, mu_ref=1.0e3)
    np.testing.assert_allclose(pi_default, pi_other, rtol=1e-13)
    np.testing.assert_allclose(pi_default, EPS(q2, masses[alpha], masses[beta]), rtol=1e-13)


def test_mixing_scale_dependence_when_charges_do_not_sum_to_zero():
    ch = get_model("B-L")  # sum Q'_l = -3
    q2 = jnp.array([0.0, 1e3])
    d = MIX(q2, ch.lepton, mu_ref=10.0) - MIX(q2, ch.lepton, 1e3)
    np.testing.assert_allclose(d, -3.0 * math.log(1e3**2 / 10.0**2) / 6.0, rtol=1e-13)


def _physics_md_shift(q2, mass, g, eps):
    return c.SQRT2 * c.ALPHA_EM * g**2 * eps / (math.pi * c.G_FERMI * (q2 + mass**2))


def test_proton_shift_l_mu_minus_l_tau():
    q2 = jnp.linspace(0.0, 2500.0, 11)  # |q| up to 50 MeV
    mass, g = 20.0, 3e-4
    shift = SHIFT(q2, mass, g, get_model("L_mu-L_tau"))
    assert shift.shape == (11, 3)
    np.testing.assert_array_equal(shift[:, 0], 0.0)
    e_tm = EPS(q2, c.M_TAU, c.M_MUON)  # alpha = mu, beta = tau
    np.testing.assert_allclose(shift[:, 1], _physics_md_shift(q2, mass, g, e_tm), rtol=1e-13)
    np.testing.assert_allclose(shift[:, 2], _physics_md_shift(q2, mass, g, -e_tm), rtol=1e-13)
    assert bool(jnp.all(shift[:, 1] > 0))


def test_proton_shift_other_models_and_transforms():
    q2 = jnp.array([10.0, 400.0])
    ch = get_model("L_e-L_mu")
    shift = SHIFT(q2, 5.0, 1e-4, ch)
    e_me = EPS(q2, c.M_MUON, c.M_ELECTRON)
    np.testing.assert_allclose(shift[:, 0], _physics_md_shift(q2, 5.0, 1e-4, e_me), rtol=1e-13)
    np.testing.assert_allclose(shift[:, 1], _physics_md_shift(q2, 5.0, 1e-4, -e_me), rtol=1e-13)
    np.testing.assert_array_equal(shift[:, 2], 0.0)
    # scalar model: no vector charges -> no shift
    np.testing.assert_array_equal(SHIFT(q2, 5.0, 1.0, get_model("scalar")), 0)
    # vmap over stacked models, grad w.r.t. mass and g
    stacked = stack_charges([get_model(n) for n in ("L_mu-L_tau", "L_e-L_mu", "B-L")])
    out = jax.jit(jax.vmap(loop_proton_coupling_shift, in_axes=(None, None, None, 0)))(
        q2, 5.0, 1e-4, stacked
    )
    assert out.shape == (3, 2, 3)
    np.testing.assert_allclose(out[1], shift, rtol=1e-14)

    def f(mass, g):
        return SHIFT(100.0, mass, g, ch)[0]

    dm, dg = jax.grad(f, argnums=(0, 1))(5.0, 1e-4)
    np.testing.assert_allclose(dg, 2 * f(5.0, 1e-4) / 1e-4, rtol=1e-12)
    fd = (f(5.0 + 1e-4, 1e-4) - f(5.0 - 1e-4, 1e-4)) / 2e-4
    np.testing.assert_allclose(dm, fd, rtol=1e-7)
