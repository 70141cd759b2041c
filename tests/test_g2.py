"""(g−2)_μ from a light vector or scalar: limits, quadrature accuracy, transforms, band."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from cevns_jax import constants as c
from cevns_jax.charges import get_model, stack_charges
from cevns_jax.g2 import G2Band, delta_a_mu, delta_a_mu_scalar, delta_a_mu_vector, g2_band

M_MU = c.M_MUON
VEC = jax.jit(delta_a_mu_vector)
SCA = jax.jit(delta_a_mu_scalar)
TOTAL = jax.jit(delta_a_mu)


def reference(mass, kind):
    """δa_μ / g_μ^2 by scipy quad in log variables on each half of [0, 1]."""
    rho = (mass / M_MU) ** 2

    def q(x, y):
        return 2 * x * x * y if kind == "vector" else x * x * (1 + y)

    def half(near_zero):
        def integrand(t):
            u = math.exp(t)
            x, y = (u, 1 - u) if near_zero else (1 - u, u)
            return q(x, y) / (x * x + y * rho) * u

        val, _ = quad(integrand, -80.0, math.log(0.5), epsabs=0.0, epsrel=1e-13, limit=500)
        return val

    return (half(True) + half(False)) / (8 * math.pi**2)


RATIOS = [0.0, 1e-6, 1e-4, 1e-2, 0.5, 1.0, 2.0, 3.9, 30.0, 1e3, 1e4]


@pytest.mark.parametrize("kind,fn", [("vector", VEC), ("scalar", SCA)])
def test_against_quad(kind, fn):
    masses = np.array(RATIOS + [1e5 / M_MU]) * M_MU  # includes M = 1e5 MeV
    got = np.asarray(fn(jnp.asarray(masses), 1.0))
    ref = np.array([reference(m, kind) for m in masses])
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)


def test_light_limits():
    g = 0.3
    np.testing.assert_allclose(VEC(0.0, g), g**2 / (8 * math.pi**2), rtol=1e-14)
    np.testing.assert_allclose(SCA(0.0, g), 3 * g**2 / (16 * math.pi**2), rtol=1e-14)
    # approach to the limit: 1 − O(M/m_mu)
    np.testing.assert_allclose(VEC(1e-6 * M_MU, g), g**2 / (8 * math.pi**2), rtol=1e-5)
    # docs/physics.md §7 check: g_mu = 4.45e-4 gives the central Delta a_mu for a light vector
    np.testing.assert_allclose(VEC(1e-3, 4.45e-4), c.DELTA_A_MU, rtol=0.01)


def test_heavy_limits():
    g = 1e-2
    for ratio in (1e3, 1e4):
        mass = ratio * M_MU
        vec = g**2 * M_MU**2 / (12 * math.pi**2 * mass**2)
        np.testing.assert_allclose(VEC(mass, g), vec, rtol=10 / ratio**2 * math.log(ratio))
        # scalar: g^2 m^2/(8 pi^2 M^2) (ln(M^2/m^2) − 7/6); the constant is checked by quad
        sca = g**2 * M_MU**2 / (8 * math.pi**2 * mass**2) * (math.log(ratio**2) - 7.0 / 6.0)
        np.testing.assert_allclose(SCA(mass, g), sca, rtol=10 / ratio**2 * math.log(ratio) ** 2)
        np.testing.assert_allclose(reference(mass, "scalar") * g**2, sca, rtol=1e-5)
    # the direct integral excludes other constants (e.g. −11/6, −3/2) at M/m = 1e4
    ref = reference(1e4 * M_MU, "scalar") * 8 * math.pi**2 * 1e8
    assert abs(ref - (math.log(1e8) - 7.0 / 6.0)) < 1e-4
    for const in (11.0 / 6.0, 1.5, 0.5):
        assert abs(ref - (math.log(1e8) - const)) > 0.3


def test_model_totals():
    mass, g = 50.0, 1e-3
    one = float(VEC(mass, g))
    for name in ("L_mu-L_tau", "B-L", "B-2L_e-L_mu", "L_e-L_mu"):
        q_mu = float(get_model(name).lepton[1])
        np.testing.assert_allclose(TOTAL(mass, g, get_model(name)), q_mu**2 * one, rtol=1e-14)
    assert float(TOTAL(mass, g, get_model("L_e-L_tau"))) == 0.0
    np.testing.assert_allclose(TOTAL(mass, g, get_model("scalar")), SCA(mass, g), rtol=1e-14)


def test_vmap_masses_and_models():
    masses = jnp.logspace(-3, 5, 17)
    out = jax.jit(jax.vmap(delta_a_mu_vector, in_axes=(0, None)))(masses, 1e-3)
    np.testing.assert_allclose(out, VEC(masses, 1e-3), rtol=1e-14)
    assert bool(jnp.all(jnp.diff(out) < 0))  # decreasing in the mass
    grid = VEC(masses[:, None], jnp.array([[1e-4, 1e-3]]))
    assert grid.shape == (17, 2)
    names = ("B-L", "L_mu-L_tau", "L_e-L_tau", "scalar")
    stacked = stack_charges([get_model(n) for n in names])
    by_model = jax.jit(jax.vmap(delta_a_mu, in_axes=(None, None, 0)))(masses, 1e-3, stacked)
    assert by_model.shape == (4, 17)
    np.testing.assert_allclose(by_model[1], out, rtol=1e-14)
    np.testing.assert_array_equal(by_model[2], 0.0)
    np.testing.assert_allclose(by_model[3], SCA(masses, 1e-3), rtol=1e-14)
    both = jax.vmap(jax.vmap(delta_a_mu, in_axes=(0, None, None)), in_axes=(None, None, 0))
    np.testing.assert_allclose(both(masses, 1e-3, stacked), by_model, rtol=1e-14)


@pytest.mark.parametrize("fn", [delta_a_mu_vector, delta_a_mu_scalar])
@pytest.mark.parametrize("ratio", [1e-3, 0.7, 5.0, 300.0])
def test_gradients(fn, ratio):
    mass, g = ratio * M_MU, 2e-3
    dm, dg = jax.jit(jax.grad(fn, argnums=(0, 1)))(mass, g)
    np.testing.assert_allclose(dg, 2 * fn(mass, g) / g, rtol=1e-13)
    h = 1e-5 * mass
    fd = (fn(mass + h, g) - fn(mass - h, g)) / (2 * h)
    np.testing.assert_allclose(dm, fd, rtol=1e-6)


def test_gradient_finite_at_zero_mass():
    for fn in (delta_a_mu_vector, delta_a_mu_scalar):
        dm, dg = jax.grad(fn, argnums=(0, 1))(0.0, 1.0)
        assert np.isfinite(float(dm)) and np.isfinite(float(dg))
    d = jax.grad(lambda m: delta_a_mu(m, 1e-3, get_model("L_mu-L_tau")))(1e5)
    assert np.isfinite(float(d)) and float(d) < 0


def test_band():
    masses = jnp.array([1.0, 100.0, 1e4])
    ch = get_model("L_mu-L_tau")
    band = jax.jit(g2_band)(masses, ch)
    assert isinstance(band, G2Band)
    assert band.central.shape == (3,) and band.lower.shape == (3, 2)
    np.testing.assert_array_equal(band.n_sigma, [1.0, 2.0])
    np.testing.assert_allclose(TOTAL(masses, band.central, ch), c.DELTA_A_MU, rtol=1e-12)
    for i, k in enumerate((1, 2)):
        lo = TOTAL(masses, band.lower[:, i], ch)
        hi = TOTAL(masses, band.upper[:, i], ch)
        np.testing.assert_allclose(lo, c.DELTA_A_MU - k * c.DELTA_A_MU_ERR, rtol=1e-12)
        np.testing.assert_allclose(hi, c.DELTA_A_MU + k * c.DELTA_A_MU_ERR, rtol=1e-12)
    assert bool(jnp.all(band.lower[:, 1] < band.lower[:, 0]))
    assert bool(jnp.all(band.upper[:, 1] > band.upper[:, 0]))
    # light vector: central g = sqrt(8 pi^2 Delta a)
    light = g2_band(0.0, ch)
    np.testing.assert_allclose(light.central, math.sqrt(8 * math.pi**2 * c.DELTA_A_MU))
    # clipped lower target -> 0, gradient finite
    wide = g2_band(masses, ch, n_sigma=(5.0,))
    np.testing.assert_array_equal(wide.lower, 0.0)
    grads = jax.grad(lambda m: jnp.sum(g2_band(m, ch, n_sigma=(5.0,)).lower))(10.0)
    assert float(grads) == 0.0
    dc = jax.grad(lambda m: g2_band(m, ch).central)(100.0)
    assert np.isfinite(float(dc)) and float(dc) > 0


def test_band_without_muon_coupling():
    band = g2_band(jnp.array([1.0, 100.0]), get_model("L_e-L_tau"))
    for leaf in (band.central, band.lower, band.upper):
        assert bool(jnp.all(jnp.isposinf(leaf)))
    d = jax.grad(lambda m: g2_band(m, get_model("L_e-L_tau")).central)(10.0)
    assert not np.isnan(float(d))
    # the scalar model couples through its scalar weight
    sband = g2_band(0.0, get_model("scalar"))
    np.testing.assert_allclose(sband.central, math.sqrt(16 * math.pi**2 * c.DELTA_A_MU / 3))
