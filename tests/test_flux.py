"""SNS flux: normalised spectra, exact moments, arrival-time distributions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import exponnorm

from cevns_jax import constants as c
from cevns_jax.flux import SNSFlux, energy_moments, energy_spectrum, fluence_per_flavour, time_cdf

FLUX = SNSFlux(3.198e23, 0.0848, 19.3, 0.565, 0.15)


def test_prompt_line_energy():
    assert c.E_NU_PROMPT == pytest.approx(29.79, abs=0.01)


@pytest.mark.parametrize("source", [0, 2])
def test_delayed_spectra_normalised_and_moments(source):
    f = lambda E: float(energy_spectrum(E)[source])  # noqa: E731
    assert quad(f, 0, c.E_NU_MAX_DELAYED)[0] == pytest.approx(1.0, rel=1e-12)
    for e_min in (0.0, 12.0, 40.0, 60.0):
        lo = min(e_min, c.E_NU_MAX_DELAYED)
        a0 = quad(f, lo, c.E_NU_MAX_DELAYED)[0]
        a2 = quad(lambda E: f(E) / E**2, max(lo, 1e-9), c.E_NU_MAX_DELAYED)[0]
        m = energy_moments(e_min)[source]
        assert float(m[0]) == pytest.approx(a0, rel=1e-10, abs=1e-14)
        assert float(m[1]) == pytest.approx(a2, rel=1e-8, abs=1e-14)


def test_prompt_moments_are_a_line():
    below, above = energy_moments(jnp.array([10.0, 35.0]))[1].T
    assert below.tolist() == [1.0, pytest.approx(1 / c.E_NU_PROMPT**2)]
    assert above.tolist() == [0.0, 0.0]


def test_fluence():
    expected = 0.0848 * 3.198e23 / (4 * np.pi * 1930.0**2)
    assert float(fluence_per_flavour(FLUX)) == pytest.approx(expected)


def test_prompt_time_is_exponentially_modified_gaussian():
    t = np.linspace(-0.5, 3.0, 15)
    ref = exponnorm.cdf(t, c.TAU_PION / 0.15, loc=0.565, scale=0.15)
    assert np.allclose(time_cdf(FLUX, t)[1], ref, atol=1e-12)


def test_delayed_time_against_numerical_convolution():
    """CDF of pulse + Exp(tau_pi) + Exp(tau_mu): compare with a numerical convolution of the
    prompt (EMG) density with the muon exponential."""
    K = c.TAU_PION / 0.15
    for t in (0.3, 1.0, 3.0, 8.0):

        def integrand(s, t=t):
            return (
                exponnorm.cdf(t - s, K, loc=0.565, scale=0.15)
                * np.exp(-s / c.TAU_MUON)
                / c.TAU_MUON
            )

        ref = quad(integrand, 0, 60, limit=200)[0]
        assert float(time_cdf(FLUX, t)[0]) == pytest.approx(ref, abs=1e-9)


def test_time_cdf_limits_offset_and_gradient():
    cdf = time_cdf(FLUX, jnp.array([-5.0, 100.0]))
    assert np.allclose(cdf[:, 0], 0.0, atol=1e-20) and np.allclose(cdf[:, 1], 1.0)
    # an offset is a pure shift
    assert np.allclose(time_cdf(FLUX, 1.2, 0.1), time_cdf(FLUX, 1.1))
    g = jax.grad(lambda dt: time_cdf(FLUX, 0.7, dt).sum())(0.0)
    eps = 1e-6
    fd = (time_cdf(FLUX, 0.7, eps).sum() - time_cdf(FLUX, 0.7, -eps).sum()) / (2 * eps)
    assert float(g) == pytest.approx(float(fd), rel=1e-6)
