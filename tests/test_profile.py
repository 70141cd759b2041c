"""Profiling with optax L-BFGS in lax.while_loop: iminuit cross-check, vmap, no retrace,
gradients of the profiled χ², status reporting."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import cevns_jax.profile as profile_mod
from cevns_jax.errors import ConfigError
from cevns_jax.likelihood import (
    CsINuisances,
    CsISettings,
    LArSettings,
    twice_nll_csi,
    twice_nll_lar,
)
from cevns_jax.mediator import mediator, standard_model
from cevns_jax.profile import ProfileOptions, minimise, profile, profiled_chi2
from cevns_jax.rates import recoil_spectrum

iminuit = pytest.importorskip("iminuit")

NLL = {"csi": twice_nll_csi, "lar": twice_nll_lar}
SETTINGS = {"csi": CsISettings, "lar": LArSettings}
SPECTRUM = eqx.filter_jit(recoil_spectrum)
#: physics points: SM, a B-L vector and a scalar mediator that change the CEvNS rate visibly
POINTS = {
    "SM": standard_model(),
    "B-L": mediator("B-L", 0.02, 8e-5),
    "scalar": mediator("scalar", 0.005, 3e-5),
}



@pytest.fixture(scope="module")
def exps(csi, lar):
    return {"csi": csi, "lar": lar}


@pytest.fixture(scope="module")
def spectra(exps):
    return {k: {p: SPECTRUM(e, m) for p, m in POINTS.items()} for k, e in exps.items()}


@pytest.fixture
def count_traces(monkeypatch):
    """Counts traces of the per-experiment profilers behind :func:`profile`."""
    counts = {"csi": 0, "lar": 0}
    for kind in counts:
        original = getattr(profile_mod, f"profile_{kind}")

        def counting(*args, _kind=kind, _original=original, **kwargs):
            counts[_kind] += 1  # runs only while tracing
            return _original(*args, **kwargs)

        monkeypatch.setattr(profile_mod, f"profile_{kind}", counting)
    return counts


def _migrad(kind, spectrum, exp, settings):
    nll = NLL[kind]
    x0, unravel = ravel_pytree(jax.tree.map(jnp.zeros_like, settings.widths()))
    vg = jax.jit(jax.value_and_grad(lambda x, s: nll(unravel(x), s, exp, settings)))
    last = {}

    def evaluate(x):  # iminuit asks for value and gradient at the same points: one call
        key = np.asarray(x).tobytes()
        if key not in last:
            last.clear()
            last[key] = vg(jnp.asarray(x), spectrum)
        return last[key]

    m = iminuit.Minuit(
        lambda x: float(evaluate(x)[0]), np.asarray(x0), grad=lambda x: np.asarray(evaluate(x)[1])
    )
    m.errordef = iminuit.Minuit.LEAST_SQUARES
    m.strategy = 2
    m.tol = 1e-6
    m.migrad()
    assert m.valid
    return m.fval, np.asarray(m.values)


@pytest.mark.parametrize("kind", ["csi", "lar"])
def test_profile_matches_iminuit(kind, exps, spectra, count_traces):
    exp, settings = exps[kind], SETTINGS[kind]()
    values = []
    for point in POINTS:
        res = profile(spectra[kind][point], exp, settings)
        assert bool(res.converged), (point, res.grad_norm, res.n_iter)
        assert 0 < int(res.n_iter) < ProfileOptions().max_iter
        fval, xmin = _migrad(kind, spectra[kind][point], exp, settings)
        assert float(res.value) == pytest.approx(fval, abs=1e-4)
        np.testing.assert_allclose(ravel_pytree(res.nuisances)[0], xmin, atol=5e-3)
        values.append(float(res.value))
    assert len(set(np.round(values, 3))) == len(POINTS)  # the points really differ
    # at most one trace (none if an earlier test compiled it) served every physics point,
    # other settings values, a fixed CEvNS count and a warm start
    res = profile(spectra[kind]["SM"], exp, SETTINGS[kind]().free_cevns(), cevns_counts=100.0)
    res = profile(spectra[kind]["B-L"], exp, settings, init=res.nuisances)
    assert bool(res.converged)
    assert count_traces[kind] <= 1


def test_vmap_equals_loop(exps, spectra):
    exp, settings = exps["lar"], LArSettings()
    batch = jnp.stack([spectra["lar"][p] for p in POINTS] + [0.5 * spectra["lar"]["SM"]])
    vm = eqx.filter_jit(jax.vmap(lambda s: profile(s, exp, settings)))(batch)
    assert vm.value.shape == (4,) and vm.converged.shape == (4,)
    for i in range(batch.shape[0]):
        one = profile(batch[i], exp, settings)
        assert float(vm.value[i]) == pytest.approx(float(one.value), rel=1e-10, abs=1e-8)
        np.testing.assert_allclose(
            ravel_pytree(jax.tree.map(lambda x, i=i: x[i], vm.nuisances))[0],
            ravel_pytree(one.nuisances)[0], atol=1e-5,
        )  # fmt: skip
        assert bool(vm.converged[i])


def test_profiled_chi2_gradient_and_no_retrace(exps, monkeypatch):
    """d χ²_prof / d g is finite and equals a finite difference of profiled values
    (envelope theorem); changing the model does not retrace."""
    calls = []
    original = profile_mod.profile_combined

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(profile_mod, "profile_combined", counting)
    base = mediator("B-L", 0.02, 0.0)
    at = lambda g: eqx.tree_at(lambda m: m.coupling, base, jnp.asarray(g, dtype=float))  # noqa: E731
    chi2 = lambda g: profiled_chi2(at(g), exps, "lar").value  # noqa: E731
    g0, h = 6e-5, 1e-7
    grad = float(jax.grad(chi2)(jnp.asarray(g0)))
    fd = (float(chi2(g0 + h)) - float(chi2(g0 - h))) / (2 * h)
    assert np.isfinite(grad) and grad != 0.0
    assert grad == pytest.approx(fd, rel=1e-3)
    before = len(calls)
    for name, g in (("universal", 3e-5), ("L_mu-L_tau", 1e-3), ("scalar", 2e-5)):
        res = profiled_chi2(mediator(name, 0.01, g), exps, "lar")
        assert bool(res.converged)
    assert len(calls) == before  # served by the cached compilation
    with pytest.raises(ConfigError, match="data must be one of"):
        profiled_chi2(base, exps, "csi+xe")
    with pytest.raises(ConfigError, match="needs experiments"):
        profiled_chi2(base, {"lar": exps["lar"]}, "csi+lar")


def test_minimise_status_and_mask():
    """Status is reported, not hidden; masked parameters stay fixed."""

    def rosen(x, a):
        return (a - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2 + (x[2] - 3.0) ** 2

    run = eqx.filter_jit(minimise)
    res = run(rosen, jnp.array([-1.2, 1.0, 0.0]), 1.0)
    assert bool(res.converged) and float(res.grad_norm) < 1e-6
    np.testing.assert_allclose(res.nuisances, [1.0, 1.0, 3.0], atol=1e-6)
    short = run(rosen, jnp.array([-1.2, 1.0, 0.0]), 1.0, options=ProfileOptions(max_iter=3))
    assert not bool(short.converged) and int(short.n_iter) == 3
    fixed = run(rosen, jnp.array([-1.2, 1.0, 0.0]), 1.0, free=jnp.array([1.0, 1.0, 0.0]))
    assert float(fixed.nuisances[2]) == 0.0 and bool(fixed.converged)
    assert float(fixed.value) == pytest.approx(9.0, abs=1e-10)


def test_nuisance_zeros_structure():
    z = CsINuisances.zeros(3)
    assert jax.tree.structure(z) == jax.tree.structure(CsISettings().widths(3))
    assert all(float(jnp.sum(jnp.abs(x))) == 0.0 for x in jax.tree.leaves(z))
