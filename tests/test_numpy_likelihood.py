"""Second-method validation of the likelihoods and the profile: cevns_jax vs NumPy + iminuit.

``tests/oracles/numpy_likelihood.py`` re-implements the CsI and LAr χ² (docs/physics.md §8,
with the nuisances, priors, response morphing, CEvNS and neutron timing shifts of cevns_jax) in
NumPy/SciPy on top of the independent CEvNS reference ``tests/oracles/numpy_reference.py``, and
profiles it with iminuit's Migrad. Required:

* χ² at fixed nuisances: 1e-8 relative (observed: ~1e-15 for the SM, ~1e-10 with the
  lepton loop, whose quadrature in the reference limits it);
* profiled χ²: 1e-3 absolute against :func:`cevns_jax.engine.profiled_chi2` (observed
  ≲ 2e-6, Migrad's EDM tolerance), with the minimising nuisances within 0.01 prior σ.

The oracle evaluates the timing shifts directly; cevns_jax reads them from its tables
(:mod:`cevns_jax.polytable`), so this also checks the tables inside the full χ².
"""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.charges import get_model
from cevns_jax.engine import profiled_chi2
from cevns_jax.likelihood import JointLikelihood
from cevns_jax.mediator import mediator, standard_model
from cevns_jax.rates import recoil_spectrum

pytest.importorskip("iminuit")

from oracles import numpy_likelihood as nl
from oracles import numpy_reference as ref

RTOL_FIXED = 1e-8
ATOL_PROFILED = 1e-3
#: (model name or None for the SM, mass in GeV, coupling)
POINTS = {
    "SM": (None, 1.0, 0.0),
    "B-L": ("B-L", 0.01, 5e-5),
    "universal": ("universal", 10.0, 5e-3),
}
NLL = eqx.filter_jit(lambda lik, nu, s: lik.twice_nll(nu, s))
SIGNAL = eqx.filter_jit(lambda lik, model: lik.signal(recoil_spectrum(lik.experiment, model)))


def _models(point):
    name, mass_gev, g = POINTS[point]
    if name is None:
        return standard_model(), ref.SM
    np_model = ref.NewPhysics.from_charges(get_model(name), mass_gev * 1e3, g)
    return mediator(name, mass_gev, g), np_model


@pytest.fixture(scope="module")
def exps(csi, lar):
    return {"csi": csi, "lar": lar}


@pytest.fixture(scope="module")
def liks(csi_lik, lar_lik):
    return {"csi": csi_lik, "lar": lar_lik}


@pytest.fixture(scope="module")
def inputs(exps, data_dir):
    return {"csi": nl.csi_data(data_dir, exps["csi"]), "lar": nl.lar_data(data_dir, exps["lar"])}


def _nuisance_vectors(kind):
    """Nominal, a typical and a large pull: |θ| > 1 (linear morphing branch), timing shifts
    across several 10-ns knots, normalisation factors below and above 1."""
    rng = np.random.default_rng(7)
    widths = nl.CSI_WIDTHS if kind == "csi" else nl.LAR_WIDTHS
    nominal = nl.CSI_NOMINAL if kind == "csi" else nl.LAR_NOMINAL
    typical = rng.normal(size=widths.size) * widths
    large = 2.5 * np.sign(typical) * widths
    return [nominal.copy(), nominal + typical, nominal + large]


def test_oracle_names_and_priors_are_the_likelihoods(liks):
    """The oracle's parameter vectors are the likelihoods' flat nuisance vectors."""
    cases = (("csi", nl.CSI_NAMES, nl.CSI_NOMINAL, nl.CSI_WIDTHS),
             ("lar", nl.LAR_NAMES, nl.LAR_NOMINAL, nl.LAR_WIDTHS))  # fmt: skip
    for kind, names, nominal, widths in cases:
        assert liks[kind].names == names
        np.testing.assert_array_equal(liks[kind].nominal(), nominal)
        np.testing.assert_allclose(liks[kind].widths(), widths, rtol=1e-15)


def test_csi_response_variants_match(exps, inputs):
    np.testing.assert_allclose(inputs["csi"].response, np.asarray(exps["csi"].response),
                               rtol=1e-9, atol=1e-14)  # fmt: skip


@pytest.mark.parametrize("kind", ["csi", "lar"])
@pytest.mark.parametrize("point", list(POINTS))
def test_chi2_at_fixed_nuisances(kind, point, liks, inputs):
    model, np_model = _models(point)
    lik, data = liks[kind], inputs[kind]
    signal = SIGNAL(lik, model)
    if kind == "csi":
        prepared, chi2 = nl.csi_point(data, np_model), nl.chi2_csi
    else:
        prepared, chi2 = nl.lar_point(data, np_model), nl.chi2_lar
    values = []
    for x in _nuisance_vectors(kind):
        ours = float(NLL(lik, jnp.asarray(x), signal))
        assert chi2(x, prepared, data) == pytest.approx(ours, rel=RTOL_FIXED, abs=0.0)
        values.append(ours)
    assert values[2] > values[0] + 10.0  # the large pulls really move χ²


def test_chi2_with_the_ac_histogram_as_template(liks, data_dir, exps):
    """``csi.steady_state=template``: the AC (PE, t) histogram itself as the SS prediction."""
    lik = liks["csi"].replace_settings(
        dataclasses.replace(liks["csi"].settings, steady_state="template")
    )
    data = nl.csi_data(data_dir, exps["csi"], steady_state="template")
    model, np_model = _models("B-L")
    signal = SIGNAL(lik, model)
    prepared = nl.csi_point(data, np_model)
    for x in _nuisance_vectors("csi"):
        ours = float(NLL(lik, jnp.asarray(x), signal))
        assert nl.chi2_csi(x, prepared, data) == pytest.approx(ours, rel=RTOL_FIXED, abs=0.0)


@pytest.mark.parametrize("point", list(POINTS))
def test_profiled_chi2_matches_iminuit(point, liks, inputs):
    """One compiled ``profiled_chi2`` of the joint CsI + LAr likelihood (the nuisances of the
    two data sets are profiled independently) against Migrad on each data set and on the
    sum."""
    model, np_model = _models(point)
    joint = JointLikelihood((liks["csi"], liks["lar"]))
    ours = profiled_chi2(model, joint)
    assert bool(ours.converged)
    total = 0.0
    for k, kind in enumerate(("csi", "lar")):
        theirs = nl.profiled_chi2(np_model, inputs, kind)
        assert theirs.valid, kind
        nu = ours.nuisances[k]
        value = float(NLL(liks[kind], nu, SIGNAL(liks[kind], model)))
        assert value == pytest.approx(theirs.fval, abs=ATOL_PROFILED), kind
        widths = inputs[kind].widths
        np.testing.assert_allclose(np.asarray(nu) / widths, theirs.x / widths, atol=1e-2,
                                   err_msg=kind)  # fmt: skip
        total += theirs.fval
    assert float(ours.value) == pytest.approx(total, abs=ATOL_PROFILED)
