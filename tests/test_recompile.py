"""One compilation serves every model, mass and coupling (and the SM): predictions and
profiles (the grid engine's own compilation count is in tests/test_engine.py)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from cevns_jax.charges import get_model, model_names
from cevns_jax.experiment import ShapeParams
from cevns_jax.mediator import Mediator, mediator, standard_model
from cevns_jax.rates import counts_polynomial, expected_counts, recoil_spectrum


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


def test_profile_compiles_once_per_likelihood_type(csi_lik, lar_lik):
    """One trace per likelihood type serves every model, mass, coupling and settings value
    (prior widths are arrays, not static)."""

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=2)  # CsI and LAr
    def profiled(lik, model):
        return lik.profile(lik.signal(recoil_spectrum(lik.experiment, model))).value

    values = []
    for lik in (csi_lik, lar_lik):
        for name, mass, g in (
            ("B-L", 0.01, 5e-5),
            ("scalar", 0.005, 3e-5),
            ("universal", 10, 5e-3),
        ):
            values.append(float(profiled(lik, mediator(name, mass, g))))
        values.append(float(profiled(lik, standard_model())))
        free = lik.replace_settings(lik.settings.free_cevns())
        values.append(float(profiled(free, standard_model())))
    assert len(set(np.round(values, 6))) == len(values)  # every call computed something new


def test_fixed_count_profile_compiles_once(lar_lik):
    """Profiles at fixed CEvNS counts (the SM fit's interval search) and with free counts
    (NaN) share one trace."""
    from cevns_jax.fit import profile_at_cevns_counts

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def at(lik, signal, n):
        return profile_at_cevns_counts(lik, signal, n).value

    sm_signal = eqx.filter_jit(
        lambda lik: lik.signal(recoil_spectrum(lik.experiment, standard_model()))
    )
    signal = sm_signal(lar_lik)
    values = [float(at(lar_lik, signal, jnp.asarray(n))) for n in (jnp.nan, 100.0, 150.0, 200.0)]
    assert len(set(np.round(values, 6))) == 4
