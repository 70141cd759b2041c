"""Piecewise-polynomial tables (:class:`cevns_jax.polytable.PolyTable`): the CsI time folds
against their direct evaluation, exactness for polynomials, derivatives, and the linear
continuation outside the tabulated range."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.polytable import PolyTable
from cevns_jax.rates import time_fractions

#: Timing offsets (μs) inside the ±1 μs tables: random, the ends, a cell edge, zero.
DTS = np.concatenate([np.random.default_rng(0).uniform(-1.0, 1.0, 40), [-1.0, 0.0, 1.0, 0.0075]])


def _rel(a, b):
    """Largest deviation relative to each row's (time bins') largest entry: tiny entries
    (a fraction ~1e-15 in the first time bin) do not dominate."""
    a, b = np.asarray(a), np.asarray(b)
    scale = np.max(np.abs(b), axis=-1, keepdims=True)
    return float(np.max(np.abs(a - b) / scale))


def _direct(lik, which):
    exp = lik.experiment
    if which == "cevns":
        return lambda dt: time_fractions(exp, dt)
    interp = lik.settings.neutron_interp
    return lambda dt: exp.backgrounds.neutron_time_counts(exp, dt, interp)


@eqx.filter_jit
def _compare(lik, which, dts):
    """Table (value, d1, d2) and direct fold (value, jacfwd, jacfwd²) at ``dts``."""
    fn = _direct(lik, which)
    table = lik.cevns_time if which == "cevns" else lik.neutron_time
    ours = jax.vmap(table.derivatives)(dts)
    theirs = (
        jax.vmap(fn)(dts),
        jax.vmap(jax.jacfwd(fn))(dts),
        jax.vmap(jax.jacfwd(jax.jacfwd(fn)))(dts),
    )
    return ours, theirs


def test_cevns_time_table_equals_direct_fold(csi_lik):
    """CEvNS time fractions vs δt_CEvNS: the EMG fold is smooth, values, slopes and
    curvatures all agree (measured 3e-14, 2e-10, 2e-7)."""
    (v, d1, d2), (fv, fd1, fd2) = _compare(csi_lik, "cevns", jnp.asarray(DTS))
    assert v.shape == fv.shape == (DTS.size, 3, csi_lik.experiment.observed.shape[1])
    assert _rel(v, fv) < 1e-9
    assert _rel(d1, fd1) < 1e-9
    assert _rel(d2, fd2) < 1e-5


def test_neutron_time_table_equals_direct_fold(csi_lik):
    """BRN/NIN time counts vs δt_n: values agree to 1e-9 (measured 7e-11). The Hermite fold
    is only C¹ (its second derivative jumps where a fine time edge crosses a 10-ns knot),
    so slopes agree less well (measured 9e-8) and curvatures not pointwise."""
    (v, d1, _), (fv, fd1, _) = _compare(csi_lik, "neutron", jnp.asarray(DTS))
    assert v.shape == fv.shape == (DTS.size, 2, csi_lik.experiment.observed.shape[1])
    assert _rel(v, fv) < 1e-9
    assert _rel(d1, fd1) < 1e-6
    # the BRN counts in the analysis region at δt = 0 (tests/test_regression_sm.py)
    pe = csi_lik.experiment.backgrounds.pe_fraction
    brn = jnp.sum(pe[0][:, None] * csi_lik.neutron_time(jnp.asarray(0.0))[0][None, :])
    assert float(brn) == pytest.approx(18.309632533716368, rel=1e-9)


@pytest.mark.parametrize("which", ["cevns", "neutron"])
def test_time_tables_continue_linearly_outside(csi_lik, which):
    """Outside ±1 μs (20 prior σ) the tables continue with the end point's value and slope,
    zero curvature: finite, and a profile wandering out feels a smooth χ²."""
    table = csi_lik.cevns_time if which == "cevns" else csi_lik.neutron_time
    for end, outside in ((1.0, (1.2, 3.0)), (-1.0, (-1.5, -4.0))):
        v_end, d1_end, _ = table.derivatives(jnp.asarray(end))
        assert float(jnp.max(jnp.abs(d1_end))) > 0.0
        for x in outside:
            v, d1, d2 = table.derivatives(jnp.asarray(x))
            np.testing.assert_allclose(v, v_end + d1_end * (x - end), rtol=1e-12, atol=1e-15)
            np.testing.assert_array_equal(d1, d1_end)
            np.testing.assert_array_equal(d2, 0.0)


def test_table_of_analytic_function():
    """sin on [0, 2] with 40 cells of degree 5: values and derivatives to 1e-9; outside, the
    linear continuation; the derivatives are those of the table (autodiff agrees)."""
    table = PolyTable.build(jnp.sin, 0.0, 2.0, 40)
    assert table.coeffs.shape == (40, 6)
    x = jnp.asarray(np.sort(np.random.default_rng(1).uniform(0.0, 2.0, 301)))  # off cell edges
    v, d1, d2 = jax.vmap(table.derivatives)(x)
    np.testing.assert_allclose(v, np.sin(x), atol=1e-9)
    np.testing.assert_allclose(d1, np.cos(x), atol=1e-7)
    np.testing.assert_allclose(d2, -np.sin(x), atol=1e-4)
    # the table's own derivatives: autodiff of __call__ gives the same
    np.testing.assert_allclose(jax.vmap(jax.grad(table))(x), d1, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jax.vmap(jax.grad(jax.grad(table)))(x), d2, rtol=1e-9, atol=1e-9)
    # continuous across cell edges (the Lobatto nodes include both ends of each cell)
    edges = jnp.linspace(0.0, 2.0, 41)[1:-1]
    below = jax.vmap(table)(edges - 1e-13)
    above = jax.vmap(table)(edges + 1e-13)
    np.testing.assert_allclose(below, above, atol=1e-12)
    # linear continuation
    for x_out, end in ((2.5, 2.0), (-0.7, 0.0)):
        v_out, d1_out, d2_out = table.derivatives(jnp.asarray(x_out))
        assert float(v_out) == pytest.approx(np.sin(end) + np.cos(end) * (x_out - end), abs=1e-9)
        assert float(d1_out) == pytest.approx(np.cos(end), abs=1e-7)
        assert float(d2_out) == 0.0


@pytest.mark.parametrize(("which", "x"), [("sin", 0.05), ("sin", 1.0), ("sin", 2.0), ("csi", 0.0)])
def test_table_second_autodiff_derivative_at_cell_edges(which, x, csi_lik):
    """At a cell edge the curvature from autodiff equals the table's own (``derivatives``)."""
    table = PolyTable.build(jnp.sin, 0.0, 2.0, 40) if which == "sin" else csi_lik.cevns_time
    x = jnp.asarray(x)
    d2 = np.asarray(table.derivatives(x)[2])
    assert np.max(np.abs(d2)) > 0.01
    if which == "sin":
        assert float(d2) == pytest.approx(-np.sin(float(x)), abs=1e-4)
    auto = np.asarray(jax.jacfwd(jax.jacfwd(table))(x))
    assert _rel(auto, d2) < 1e-9


def test_table_is_exact_for_polynomials_and_vector_valued():
    """A polynomial of the table's degree is reproduced to round-off; values may be arrays."""

    def fn(x):
        return jnp.stack([x**5 - 2.0 * x**3 + 0.5, 3.0 * x**2 - x])

    table = PolyTable.build(fn, -1.0, 1.0, 7, degree=5)
    assert table.coeffs.shape == (7, 6, 2)
    x = jnp.linspace(-1.0, 1.0, 57)
    v, d1, d2 = jax.vmap(table.derivatives)(x)
    assert v.shape == (57, 2)
    np.testing.assert_allclose(v, jax.vmap(fn)(x), atol=1e-13)
    np.testing.assert_allclose(d1, jax.vmap(jax.jacfwd(fn))(x), atol=1e-11)
    np.testing.assert_allclose(d2, jax.vmap(jax.jacfwd(jax.jacfwd(fn)))(x), atol=1e-8)
    # a lower degree cannot represent it: the test above can fail
    low = PolyTable.build(fn, -1.0, 1.0, 7, degree=3)
    assert float(jnp.max(jnp.abs(jax.vmap(low)(x) - jax.vmap(fn)(x)))) > 1e-6
