"""Form factors: exact normalisation, NaN-free q -> 0, and independent Fourier transforms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from cevns_jax import constants as c
from cevns_jax.nuclei import Helm, KleinNystrand, SymmetrizedFermi, ar40, cs133, i127, momentum_fm

FORM_FACTORS = [Helm(), KleinNystrand(), SymmetrizedFermi()]


@pytest.mark.parametrize("ff", FORM_FACTORS, ids=lambda f: type(f).__name__)
def test_unit_at_zero_and_finite_gradient(ff):
    assert ff(0.0, 4.8) == 1.0
    # dF/dq^2 at 0 is -<r^2>/6, finite and exact
    assert float(jax.grad(lambda q2: ff(q2, 4.8))(0.0)) == pytest.approx(-(4.8**2) / 6, rel=1e-12)
    # dF/dq at q = 0 vanishes; gradients finite on both sides of the series switch
    assert float(jax.grad(lambda q: ff(q * q, 4.8))(0.0)) == 0.0
    for q2 in (1e-12, 4e-6, 4.4e-6, 0.09):
        assert np.isfinite(jax.grad(ff, argnums=(0, 1))(q2, 4.8)).all()


@pytest.mark.parametrize("ff", FORM_FACTORS, ids=lambda f: type(f).__name__)
def test_rms_radius_from_small_q(ff):
    """F = 1 - q^2 <r^2>/6 + O(q^4): every form factor reproduces the rms radius it is given."""
    q = 0.02
    r2 = 6 * (1 - ff(q * q, 4.8)) / q**2
    assert r2 == pytest.approx(4.8**2, rel=2e-3)


def _fourier(density, q):
    """F(q) = ∫ ρ(r) sin(qr)/(qr) 4π r^2 dr / ∫ ρ 4π r^2 dr by quadrature."""
    num = quad(lambda r: density(r) * np.sinc(q * r / np.pi) * r * r, 0, 30, limit=400)[0]
    den = quad(lambda r: density(r) * r * r, 0, 30, limit=400)[0]
    return num / den


def test_symmetrized_fermi_matches_numerical_transform():
    a, r_rms = 0.52, 4.8
    cc = np.sqrt(5 / 3 * (r_rms**2 - 7 / 5 * np.pi**2 * a**2))
    rho = lambda r: np.sinh(cc / a) / (np.cosh(r / a) + np.cosh(cc / a))  # noqa: E731
    for q in (0.1, 0.4, 0.8):
        assert float(SymmetrizedFermi(a)(q * q, r_rms)) == pytest.approx(
            _fourier(rho, q), rel=1e-7, abs=1e-10
        )


def test_helm_matches_numerical_transform():
    """Helm = hard sphere of radius R0 folded with a Gaussian of width s (quadrature of the
    folded density's transform = product of the two transforms)."""
    s, r_rms = 0.9, 4.8
    r0 = np.sqrt(5 / 3 * (r_rms**2 - 3 * s**2))
    sphere = lambda r: 1.0 * (r < r0)  # noqa: E731
    for q in (0.1, 0.4, 0.8):
        expected = _fourier(sphere, q) * np.exp(-0.5 * q * q * s * s)
        assert float(Helm(s)(q * q, r_rms)) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_nuclear_masses_and_momentum():
    # Cs-133 nuclear mass from the atomic mass minus 55 electrons (MeV)
    assert float(cs133().mass) == pytest.approx(132.905452 * 931.49410242 - 55 * 0.51099895)
    assert float(i127().Z) == 53 and float(ar40().N) == 22
    # |q| = sqrt(2MT + T^2)/hbar c
    m, T = float(ar40().mass), 0.05
    assert float(momentum_fm(T, m)) == pytest.approx(np.sqrt(2 * m * T + T * T) / c.HBARC_MEV_FM)
    assert jnp.all(jnp.isfinite(jax.grad(lambda t: momentum_fm(t, m))(1e-3)))
