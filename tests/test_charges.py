"""U(1)' charge assignments and the model registry."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.charges import (
    MODELS,
    ModelSpec,
    U1Charges,
    anomaly_free,
    get_model,
    model_names,
    stack_charges,
)
from cevns_jax.errors import ConfigError

NAMES = [
    "universal",
    "B-L",
    "B_y+L_mu+L_tau",
    "B-3L_e",
    "B-3L_mu",
    "B-2L_e-L_mu",
    "B-L_e-2L_mu",
    "L_e-L_mu",
    "L_e-L_tau",
    "L_mu-L_tau",
    "scalar",
]

# name: (quark per generation, nu = lepton (e, mu, tau), scalar, anomaly free)
EXPECTED = {
    "universal": (1.0, (1, 1, 1), 0.0, False),
    "B-L": (1 / 3, (-1, -1, -1), 0.0, True),
    "B_y+L_mu+L_tau": (1 / 3, (0, 1, 1), 0.0, False),
    "B-3L_e": (1 / 3, (-3, 0, 0), 0.0, True),
    "B-3L_mu": (1 / 3, (0, -3, 0), 0.0, True),
    "B-2L_e-L_mu": (1 / 3, (-2, -1, 0), 0.0, True),
    "B-L_e-2L_mu": (1 / 3, (-1, -2, 0), 0.0, True),
    "L_e-L_mu": (0.0, (1, -1, 0), 0.0, True),
    "L_e-L_tau": (0.0, (1, 0, -1), 0.0, True),
    "L_mu-L_tau": (0.0, (0, 1, -1), 0.0, True),
    "scalar": (0.0, (0, 0, 0), 1.0, True),
}


def test_registry_names_and_specs():
    assert model_names() == NAMES
    assert list(MODELS) == NAMES
    for name, spec in MODELS.items():
        assert isinstance(spec, ModelSpec) and spec.name == name
        assert spec.kind == ("scalar" if name == "scalar" else "vector")
        assert spec.description
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.name = "other"


@pytest.mark.parametrize("name", NAMES)
def test_preset_charges(name):
    quark, lep, scalar, free = EXPECTED[name]
    ch = get_model(name)
    for leaf in (ch.quark, ch.nu, ch.lepton, ch.scalar):
        assert leaf.dtype == jnp.float64
    np.testing.assert_allclose(ch.quark, [quark] * 3, rtol=1e-15)
    np.testing.assert_allclose(ch.nu, lep, rtol=1e-15)
    np.testing.assert_allclose(ch.lepton, lep, rtol=1e-15)
    np.testing.assert_allclose(ch.scalar, scalar)
    assert ch.scalar.shape == ()
    assert anomaly_free(ch) is free


def test_interference_signs():
    # B-L adds constructively to the negative SM weak charge: nu * quark < 0
    bl = get_model("B-L")
    assert np.all(bl.nu * bl.quark[0] < 0)
    by = get_model("B_y+L_mu+L_tau")
    assert by.nu[0] == 0 and np.all(by.nu[1:] * by.quark[0] > 0)
    lmt = get_model("L_mu-L_tau")
    assert lmt.lepton[1] == 1 and lmt.lepton[2] == -1
    lem = get_model("L_e-L_mu")
    assert lem.lepton[0] == 1 and lem.lepton[1] == -1


def test_from_generator():
    ch = U1Charges.from_generator(1, 1, 1, 1)
    assert ch.quark.dtype == jnp.float64
    np.testing.assert_allclose(ch.quark, [1 / 3] * 3)
    np.testing.assert_allclose(ch.nu, [-1] * 3)
    assert anomaly_free(ch)
    with pytest.raises(ConfigError, match=r"not anomaly free.*3 c_B = c_e \+ c_mu \+ c_tau"):
        U1Charges.from_generator(1.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError):  # ConfigError is a ValueError too
        U1Charges.from_generator(0.0, 1.0, 0.0, 0.0)
    # opt out of the check
    bad = U1Charges.from_generator(1.0, 1.0, 1.0, 0.0, check=False)
    assert not anomaly_free(bad)


def test_from_generator_traced():
    @jax.jit
    def muon_charge(c_mu):
        return U1Charges.from_generator(0.0, -c_mu, c_mu, 0.0).lepton[1]

    assert float(muon_charge(2.0)) == -2.0


def test_general_and_anomaly_report():
    # per-generation baryon number: B_3 - L_mu - L_tau... c = (0, 0, 3) vs c_mu = c_tau = 1
    ch = U1Charges.general([0.0, 0.0, 1.0], [0.0, -1.0, -1.0], [0.0, -1.0, -1.0])
    assert not anomaly_free(ch)
    ch = U1Charges.general([0.0, 0.0, 2 / 3], [0.0, -1.0, -1.0], [0.0, -1.0, -1.0])
    assert anomaly_free(ch)
    # nu != lepton is reported, not raised
    ch = U1Charges.general([0.0] * 3, [1.0, -1.0, 0.0], [0.0] * 3)
    assert anomaly_free(ch) is False
    ints = U1Charges.general([1, 1, 1], [1, 1, 1], [1, 1, 1], 0)
    assert ints.quark.dtype == jnp.float64 and ints.scalar.dtype == jnp.float64


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(quark=[1.0, 1.0], nu=[0.0] * 3, lepton=[0.0] * 3),
        dict(quark=[0.0] * 3, nu=[[0.0] * 3] * 2, lepton=[[0.0] * 3] * 3),
        dict(quark=[0.0] * 3, nu=[0.0] * 3, lepton=1.0),
    ],
)
def test_shape_checks(kwargs):
    with pytest.raises(ConfigError, match="U1Charges"):
        U1Charges.general(**kwargs)


def test_unknown_model():
    with pytest.raises(ConfigError, match=r"unknown model 'B\+L'.*L_mu-L_tau"):
        get_model("B+L")


def test_stack_vmap_and_no_retrace():
    models = [get_model(n) for n in NAMES]
    stacked = stack_charges(models)
    assert stacked.quark.shape == (len(NAMES), 3)
    assert stacked.scalar.shape == (len(NAMES),)
    np.testing.assert_array_equal(anomaly_free(stacked), [EXPECTED[n][3] for n in NAMES])

    def tree_coupling(ch):
        return ch.nu * ch.quark[0] + ch.scalar

    out = jax.vmap(tree_coupling)(stacked)
    assert out.shape == (len(NAMES), 3)
    np.testing.assert_allclose(out[1], -np.ones(3) / 3)

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def f(ch):
        return tree_coupling(ch)

    for m in models:
        f(m)
    with pytest.raises(ConfigError):
        stack_charges([])
