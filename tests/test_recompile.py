"""One compilation serves every model, mass and coupling (and the SM)."""

import equinox as eqx
import jax.numpy as jnp

from cevns_jax.charges import get_model, model_names
from cevns_jax.experiment import ShapeParams
from cevns_jax.mediator import Mediator, standard_model
from cevns_jax.rates import counts_polynomial, expected_counts


def test_no_retrace_when_model_mass_or_coupling_change(csi, lar):
    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def csi_total(model, shape):
        return expected_counts(csi, model, shape).sum()

    shape = ShapeParams.nominal(csi)
    csi_total(standard_model(), shape)
    for i, name in enumerate(model_names()):
        csi_total(Mediator(get_model(name), 10.0 ** (i - 3), 10.0 ** (-7 + i / 2)), shape)
    csi_total(standard_model(), ShapeParams(jnp.array([0.5, -0.5, 1.0]), 0.1))

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def lar_poly(model):
        return counts_polynomial(lar, model)

    for name in ("B-L", "scalar", "L_e-L_tau"):
        for mass in (1e-3, 1.0, 1e4):
            lar_poly(Mediator(get_model(name), mass, 1.0))


def test_no_retrace_when_experiment_arrays_change(csi):
    """Changing array content of the experiment (radii, flux settings) reuses the trace."""

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(exp):
        return expected_counts(exp, standard_model()).sum()

    f(csi)
    f(eqx.tree_at(lambda e: e.target.r_n, csi, csi.target.r_n * 1.02))
    f(eqx.tree_at(lambda e: e.flux.pulse_mean_us, csi, jnp.asarray(0.5, dtype=float)))
