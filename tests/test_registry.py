"""The registry of experiments and data sets: entries, look-ups, errors, build_likelihood,
and an experiment added at run time getting its own likelihood."""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

from cevns_jax.charges import get_model
from cevns_jax.cli import _common
from cevns_jax.datasets import REGISTRY as DATA_FILES
from cevns_jax.engine import profile_rows
from cevns_jax.errors import ConfigError
from cevns_jax.experiment import Experiment
from cevns_jax.likelihood import AbstractLikelihood, JointLikelihood
from cevns_jax.likelihood_csi import CsILikelihood, CsISettings
from cevns_jax.likelihood_lar import LArLikelihood, LArSettings
from cevns_jax.profile import AbstractSolver, DampedNewton
from cevns_jax.published import COHERENT
from cevns_jax.rates import counts_from_spectrum
from cevns_jax.registry import (
    DATASETS,
    EXPERIMENTS,
    ExperimentEntry,
    build_likelihood,
    data_set,
    data_set_title,
    entry,
    likelihood_for,
)
from cevns_jax.stats import poisson_chi2


def test_entries():
    assert list(EXPERIMENTS) == ["csi2021", "lar2020", "cryo-csi-1", "cryo-csi-2"]
    csi, lar = EXPERIMENTS["csi2021"], EXPERIMENTS["lar2020"]
    assert (csi.name, csi.key, csi.short_title) == ("csi2021", "csi", "CsI")
    assert (lar.name, lar.key, lar.short_title) == ("lar2020", "lar", "Ar")
    assert "CsI" in csi.title and "LAr" in lar.title
    assert csi.published is COHERENT["csi2021"] and lar.published is COHERENT["lar2020"]
    for e in (csi, lar):
        assert entry(e.name) is e and entry(e.key) is e
        assert e.data_files and all(f.startswith(f"{e.name}/") for f in e.data_files)
        assert all(f in DATA_FILES and not DATA_FILES[f].optional for f in e.data_files)
    assert isinstance(csi.settings(), CsISettings) and isinstance(lar.settings(), LArSettings)
    assert _common.EXPERIMENTS is EXPERIMENTS  # the CLI lists the registry's experiments


def test_data_sets():
    assert DATASETS == {"csi": ("csi",), "lar": ("lar",), "csi+lar": ("csi", "lar")}
    assert data_set("csi+lar") == (EXPERIMENTS["csi2021"], EXPERIMENTS["lar2020"])
    assert data_set("lar") == (EXPERIMENTS["lar2020"],)
    assert [data_set_title(d) for d in DATASETS] == ["CsI", "Ar", "CsI+Ar"]


@pytest.mark.parametrize(
    ("call", "valid"),
    [
        (lambda: entry("xenon"), ("csi2021", "lar2020", "csi", "lar")),
        (lambda: data_set("xenon"), ("csi", "lar", "csi+lar")),
        (lambda: data_set_title("xenon"), ("csi", "lar", "csi+lar")),
        (lambda: build_likelihood("xenon"), ("csi", "lar", "csi+lar")),
        (lambda: build_likelihood("lar+csi"), ("csi", "lar", "csi+lar")),
    ],
)
def test_unknown_names_raise_config_error_naming_the_valid_ones(call, valid):
    with pytest.raises(ConfigError, match="xenon|lar\\+csi") as err:
        call()
    for name in valid:
        assert name in str(err.value)


def test_build_likelihood_parts(csi, lar, csi_lik):
    joint = build_likelihood("csi+lar", experiments={"csi": csi, "lar": lar})
    assert isinstance(joint, JointLikelihood) and len(joint.parts) == 2
    assert isinstance(joint.parts[0], CsILikelihood) and isinstance(joint.parts[1], LArLikelihood)
    assert joint.parts[0].experiment is csi and joint.parts[1].experiment is lar
    assert joint.parts[0].names == csi_lik.names
    # experiments and settings may be keyed by name as well as by key
    settings = {"lar2020": LArSettings(sigma_eps=0.5), "csi": CsISettings().free_cevns()}
    other = build_likelihood("csi+lar", experiments={"csi2021": csi, "lar": lar},
                             settings=settings)  # fmt: skip
    assert np.isinf(np.asarray(other.parts[0].widths())[0])
    np.testing.assert_allclose(other.parts[1].widths()[4:], 0.5)
    single = build_likelihood("lar", experiments={"lar": lar, "csi": csi})
    assert len(single.parts) == 1 and isinstance(single.parts[0], LArLikelihood)
    assert isinstance(likelihood_for(lar), LArLikelihood)
    assert isinstance(likelihood_for(lar, LArSettings(sigma_ss=0.01)).settings, LArSettings)


def test_build_likelihood_builds_missing_experiments(data_dir):
    joint = build_likelihood("lar", data_dir)
    (part,) = joint.parts
    assert isinstance(part, LArLikelihood) and part.experiment.name == "lar2020"


# --- an experiment registered at run time -------------------------------------------------
class FakeSettings(eqx.Module):
    sigma_bkg: Array = eqx.field(converter=lambda x: jnp.asarray(x, dtype=float), default=0.3)

    def free_cevns(self) -> "FakeSettings":
        return self


class FakeLikelihood(AbstractLikelihood):
    """Two nuisances (CEvNS factor, free; one background factor), Poisson χ², autodiff
    defaults for every derivative: what docs/adding_an_experiment.md says is enough."""

    experiment: Experiment
    settings: FakeSettings
    solver: AbstractSolver
    log_cevns = True
    component_labels = {"cevns": "CEvNS", "ss": "steady state"}

    def __init__(self, experiment, settings=None, solver=None):
        self.experiment = experiment
        self.settings = FakeSettings() if settings is None else settings
        self.solver = DampedNewton() if solver is None else solver

    @property
    def names(self):
        return ("norm_cevns", "norm_bkg")

    def nominal(self):
        return jnp.ones(2)

    def widths(self):
        return jnp.stack([jnp.asarray(jnp.inf), self.settings.sigma_bkg])

    def signal(self, spectrum):
        return counts_from_spectrum(self.experiment, spectrum).sum(axis=-3)

    def components(self, nu, signal):
        bkg = sum(self.experiment.backgrounds.templates(self.experiment).values())
        return {"cevns": nu[0] * signal, "ss": nu[1] * bkg}

    def data_chi2(self, expected):
        return poisson_chi2(self.experiment.observed, expected)

    def subtracted_variance(self):
        return self.experiment.observed


@pytest.fixture
def fake(monkeypatch, lar):
    """A third experiment, "fake2025" (key "fake"): the LAr release under another name, with
    its own likelihood; registered for one test."""
    exp = dataclasses.replace(lar, name="fake2025")
    e = ExperimentEntry(
        name="fake2025", key="fake", title="A fake experiment", short_title="Fake",
        builder=lambda data_dir=None: exp, likelihood=FakeLikelihood, settings=FakeSettings,
        data_files=(),
    )  # fmt: skip
    monkeypatch.setitem(EXPERIMENTS, e.name, e)
    monkeypatch.setitem(DATASETS, "fake", ("fake",))
    monkeypatch.setitem(DATASETS, "lar+fake", ("lar", "fake"))
    return e, exp


def test_registered_experiment_is_found_by_key(fake, lar):
    e, exp = fake
    assert entry("fake2025") is e
    assert entry("fake") is e
    assert data_set("lar+fake") == (EXPERIMENTS["lar2020"], e)
    assert data_set_title("lar+fake") == "Ar+Fake"
    assert isinstance(build_likelihood("fake").parts[0], FakeLikelihood)


def test_registered_experiment_gets_its_own_likelihood(fake, lar, monkeypatch):
    """build_likelihood uses the entry's likelihood: the fake experiment (LAr data under
    another name) is not silently given the LAr nuisances, and the grid engine profiles it
    with the autodiff defaults."""
    e, exp = fake
    joint = build_likelihood("lar+fake", experiments={"lar": lar})
    lar_part, part = joint.parts
    assert isinstance(lar_part, LArLikelihood) and isinstance(part, FakeLikelihood)
    assert not isinstance(part, LArLikelihood)
    assert part.names == ("norm_cevns", "norm_bkg") and len(lar_part.names) == 12
    assert part.experiment.name == "fake2025"
    assert isinstance(likelihood_for(exp), FakeLikelihood)
    assert isinstance(build_likelihood("fake", settings={"fake": FakeSettings(0.5)}).parts[0],
                      FakeLikelihood)  # fmt: skip
    chi2, conv = profile_rows(part, get_model("B-L"), [10.0, 1e3], [1e-6, 1e-4, 1e-3],
                              block_rows=2, block_couplings=3)  # fmt: skip
    assert conv.all() and np.all(np.isfinite(chi2))
    assert chi2[0, 2] > chi2[0, 0] + 4.0  # excluded at large coupling
