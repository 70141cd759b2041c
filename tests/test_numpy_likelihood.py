"""Second-method validation of the likelihoods and the profile: cevns_jax vs NumPy + iminuit.

``tests/oracles/numpy_likelihood.py`` re-implements the CsI and LAr χ² (docs/physics.md §8,
with the nuisances, priors, response morphing, CEvNS and neutron timing shifts of cevns_jax) in
NumPy/SciPy on top of the independent CEvNS reference ``tests/oracles/numpy_reference.py``, and
profiles it with iminuit's Migrad. Required:

* χ² at fixed nuisances: 1e-8 relative (observed: ~1e-15 for the SM, ~1e-10 with the
  lepton loop, whose quadrature in the reference limits it);
* profiled χ²: 1e-3 absolute against :func:`cevns_jax.profile.profiled_chi2` (observed
  ≲ 2e-6, Migrad's EDM tolerance), with the minimising nuisances within 0.01 prior σ.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from cevns_jax.charges import get_model
from cevns_jax.likelihood import CsINuisances, LArNuisances, twice_nll_csi, twice_nll_lar
from cevns_jax.mediator import mediator, standard_model
from cevns_jax.profile import profiled_chi2
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
NLL = {"csi": eqx.filter_jit(twice_nll_csi), "lar": eqx.filter_jit(twice_nll_lar)}
SPECTRUM = eqx.filter_jit(recoil_spectrum)
ZEROS = {"csi": CsINuisances.zeros(), "lar": LArNuisances.zeros()}


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
def inputs(exps, data_dir):
    return {"csi": nl.csi_data(data_dir, exps["csi"]), "lar": nl.lar_data(data_dir, exps["lar"])}


def _nuisance_vectors(kind):
    """Nominal, a typical and a large pull: |θ| > 1 (linear morphing branch), timing shifts
    across several 10-ns knots, negative and positive normalisations."""
    rng = np.random.default_rng(7)
    widths = nl.CSI_WIDTHS if kind == "csi" else nl.LAR_WIDTHS
    typical = rng.normal(size=widths.size) * widths
    large = 2.5 * np.sign(typical) * widths
    return [np.zeros(widths.size), typical, large]


def test_csi_response_variants_match(exps, inputs):
    np.testing.assert_allclose(inputs["csi"].response, np.asarray(exps["csi"].response),
                               rtol=1e-9, atol=1e-14)  # fmt: skip


@pytest.mark.parametrize("kind", ["csi", "lar"])
@pytest.mark.parametrize("point", list(POINTS))
def test_chi2_at_fixed_nuisances(kind, point, exps, inputs):
    model, np_model = _models(point)
    exp, data = exps[kind], inputs[kind]
    spectrum = SPECTRUM(exp, model)
    unravel = ravel_pytree(ZEROS[kind])[1]
    if kind == "csi":
        prepared, chi2 = nl.csi_point(data, np_model), nl.chi2_csi
    else:
        prepared, chi2 = nl.lar_point(data, np_model), nl.chi2_lar
    for x in _nuisance_vectors(kind):
        ours = float(NLL[kind](unravel(jnp.asarray(x)), spectrum, exp))
        assert chi2(x, prepared, data) == pytest.approx(ours, rel=RTOL_FIXED, abs=0.0)


@pytest.mark.parametrize("point", list(POINTS))
def test_profiled_chi2_matches_iminuit(point, exps, inputs):
    """One compiled ``profiled_chi2(..., "csi+lar")`` (the nuisances of the two data sets are
    profiled independently) against Migrad on each data set and on the sum."""
    model, np_model = _models(point)
    ours = profiled_chi2(model, exps, "csi+lar")
    assert bool(ours.converged)
    total = 0.0
    for kind in ("csi", "lar"):
        theirs = nl.profiled_chi2(np_model, inputs, kind)
        assert theirs.valid, kind
        value = float(NLL[kind](ours.nuisances[kind], SPECTRUM(exps[kind], model), exps[kind]))
        assert value == pytest.approx(theirs.fval, abs=ATOL_PROFILED), kind
        widths = inputs[kind].widths
        x = np.asarray(ravel_pytree(ours.nuisances[kind])[0])
        np.testing.assert_allclose(x / widths, theirs.x / widths, atol=1e-2, err_msg=kind)
        total += theirs.fval
    assert float(ours.value) == pytest.approx(total, abs=ATOL_PROFILED)
