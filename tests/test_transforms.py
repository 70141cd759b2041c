"""Every public physics function under jit, vmap and grad; gradients vs a second method."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.charges import get_model, stack_charges
from cevns_jax.experiment import ShapeParams
from cevns_jax.mediator import Mediator
from cevns_jax.rates import counts_polynomial, expected_counts


def total(exp, model, shape=None):
    return expected_counts(exp, model, shape).sum()


@pytest.fixture(scope="module")
def fns(csi):
    counts = jax.jit(lambda ch, m, g: total(csi, Mediator(ch, m, g)))
    grad = jax.jit(jax.grad(lambda ch, m, g: total(csi, Mediator(ch, m, g)), argnums=(1, 2)))
    poly = jax.jit(lambda ch, m: counts_polynomial(csi, Mediator(ch, m, 1.0)).sum(axis=(1, 2, 3)))
    return counts, grad, poly


def test_jit_matches_eager(csi):
    m = Mediator(get_model("B-L"), 10.0, 1e-4)
    assert float(jax.jit(total)(csi, m)) == pytest.approx(float(total(csi, m)), rel=1e-13)


def test_vmap_over_masses_couplings_and_models(csi, fns):
    counts, _, _ = fns
    masses = jnp.array([1.0, 10.0, 100.0])
    gs = jnp.array([1e-5, 1e-4, 1e-3])
    ch = get_model("B-L")
    batched = jax.vmap(counts, in_axes=(None, 0, 0))(ch, masses, gs)
    assert np.allclose(
        batched, [counts(ch, m, g) for m, g in zip(masses, gs, strict=True)], rtol=1e-12
    )
    names = ["universal", "B-L", "L_mu-L_tau", "scalar"]
    stacked = stack_charges([get_model(n) for n in names])
    per_model = jax.vmap(counts, in_axes=(0, None, None))(stacked, 10.0, 1e-4)
    assert np.allclose(per_model, [counts(get_model(n), 10.0, 1e-4) for n in names], rtol=1e-12)


@pytest.mark.parametrize("name", ["universal", "B-L", "L_mu-L_tau", "scalar"])
def test_gradients_in_mass_and_coupling_across_range(fns, name):
    """1 keV ≤ M ≤ 10 GeV, 1e-7 ≤ g ≤ 1e-2: autodiff gradients are finite and equal the
    derivative of the exact polynomial N0 + g^2 N1(M) + g^4 N2(M), with dN_k/dM by central
    finite differences of the (well-conditioned) coefficients."""
    counts, grad, poly = fns
    ch = get_model(name)
    for mass in (1e-3, 1.0, 1e2, 1e4):  # MeV
        h = 1e-4 * mass
        dpoly = (poly(ch, mass + h) - poly(ch, mass - h)) / (2 * h)
        n = poly(ch, mass)
        for g in (1e-7, 1e-5, 1e-3, 1e-2):
            dm, dg = grad(ch, mass, g)
            assert np.isfinite(dm) and np.isfinite(dg)
            assert float(dg) == pytest.approx(
                float(2 * g * n[1] + 4 * g**3 * n[2]), rel=1e-8, abs=1e-300
            )
            expected_dm = float(g**2 * dpoly[1] + g**4 * dpoly[2])
            # round-off of the finite difference: where N_k hardly depend on M (M << |q|)
            noise = 1e-12 * float(g**2 * abs(n[1]) + g**4 * abs(n[2])) / h
            assert float(dm) == pytest.approx(expected_dm, rel=1e-4, abs=noise)


def test_direct_finite_differences_at_large_coupling(fns):
    counts, grad, _ = fns
    ch = get_model("B-L")
    m, g = 20.0, 3e-4
    dm, dg = grad(ch, m, g)
    fd_m = (counts(ch, m * (1 + 1e-6), g) - counts(ch, m * (1 - 1e-6), g)) / (2e-6 * m)
    fd_g = (counts(ch, m, g * (1 + 1e-6)) - counts(ch, m, g * (1 - 1e-6))) / (2e-6 * g)
    assert float(dm) == pytest.approx(float(fd_m), rel=1e-5)
    assert float(dg) == pytest.approx(float(fd_g), rel=1e-5)


def test_grad_wrt_shape_nuisances_and_nuclear_radius(csi):
    model = Mediator(get_model("B-L"), 10.0, 1e-4)

    def f(theta, dt, r_n):
        exp = eqx.tree_at(lambda e: e.target.r_n, csi, r_n)
        return total(exp, model, ShapeParams(theta, dt))

    args = (jnp.array([0.3, -0.2, 0.5]), jnp.array(0.05), csi.target.r_n)
    grads = jax.grad(f, argnums=(0, 1, 2))(*args)
    assert all(np.all(np.isfinite(g)) for g in grads)
    eps = 1e-6
    fd = (f(args[0], args[1] + eps, args[2]) - f(args[0], args[1] - eps, args[2])) / (2 * eps)
    assert float(grads[1]) == pytest.approx(float(fd), rel=1e-6)
    # a larger neutron radius means a smaller form factor and fewer events
    assert np.all(grads[2] < 0)
