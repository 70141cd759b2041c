"""Likelihoods of the COHERENT data sets (PHYSICS.md §8): public entry points.

The per-experiment pieces live in :mod:`cevns_jax.likelihood_csi` (Poissonian χ²) and
:mod:`cevns_jax.likelihood_lar` (Gaussian χ²) and are re-exported here. All χ² functions
take the nuisances first and the per-source recoil spectrum of the physics point
(:func:`cevns_jax.rates.recoil_spectrum`, the expensive part) second, so a profile
computes the spectrum once and varies only the nuisances.

Combined fits use dicts keyed by data-set kind, ``"csi"`` and ``"lar"``, for the
nuisances, spectra, experiments and settings; the χ² is the sum with independent nuisances.

Example:
    >>> nu = {"csi": CsINuisances.zeros(), "lar": LArNuisances.zeros()}  # doctest: +SKIP
    >>> twice_nll(standard_model(), nu, {"csi": csi, "lar": lar})        # doctest: +SKIP
"""

from collections.abc import Mapping

from jaxtyping import Array

from .errors import ConfigError
from .experiment import Experiment
from .likelihood_csi import (
    CSI_COMPONENTS as CSI_COMPONENTS,
)
from .likelihood_csi import (
    CsINuisances as CsINuisances,
)
from .likelihood_csi import (
    CsISettings as CsISettings,
)
from .likelihood_csi import (
    components_csi as components_csi,
)
from .likelihood_csi import (
    gaussian_prior_chi2 as gaussian_prior_chi2,
)
from .likelihood_csi import (
    poisson_chi2 as poisson_chi2,
)
from .likelihood_csi import (
    solve_eta_cevns as solve_eta_cevns,
)
from .likelihood_csi import (
    solved_nuisances_csi as solved_nuisances_csi,
)
from .likelihood_csi import (
    twice_nll_csi as twice_nll_csi,
)
from .likelihood_lar import (
    LAR_COMPONENTS as LAR_COMPONENTS,
)
from .likelihood_lar import (
    LArNuisances as LArNuisances,
)
from .likelihood_lar import (
    LArSettings as LArSettings,
)
from .likelihood_lar import (
    components_lar as components_lar,
)
from .likelihood_lar import (
    lar_relative_shifts as lar_relative_shifts,
)
from .likelihood_lar import (
    lar_variance as lar_variance,
)
from .likelihood_lar import (
    solved_nuisances_lar as solved_nuisances_lar,
)
from .likelihood_lar import (
    twice_nll_lar as twice_nll_lar,
)
from .mediator import Mediator
from .rates import recoil_spectrum

__all__ = [
    "CSI_COMPONENTS",
    "LAR_COMPONENTS",
    "KINDS",
    "CsINuisances",
    "CsISettings",
    "LArNuisances",
    "LArSettings",
    "components",
    "components_csi",
    "components_lar",
    "default_settings",
    "experiment_kind",
    "gaussian_prior_chi2",
    "lar_relative_shifts",
    "lar_variance",
    "poisson_chi2",
    "solve_eta_cevns",
    "solved_nuisances",
    "solved_nuisances_csi",
    "solved_nuisances_lar",
    "twice_nll",
    "twice_nll_combined",
    "twice_nll_csi",
    "twice_nll_lar",
    "zero_nuisances",
]

#: Data-set kinds and the experiment names that belong to them.
KINDS = {"csi": "csi2021", "lar": "lar2020"}
_TWICE_NLL = {"csi": twice_nll_csi, "lar": twice_nll_lar}
_COMPONENTS = {"csi": components_csi, "lar": components_lar}
_SOLVED = {"csi": solved_nuisances_csi, "lar": solved_nuisances_lar}


def experiment_kind(exp: Experiment) -> str:
    """``"csi"`` or ``"lar"`` for a built experiment (from its static name).

    Raises:
        ConfigError: for an experiment this module has no likelihood for.
    """
    for kind, name in KINDS.items():
        if exp.name == name:
            return kind
    raise ConfigError(
        f"no likelihood for experiment {exp.name!r}; known: {', '.join(KINDS.values())}"
    )


def default_settings(kind: str) -> CsISettings | LArSettings:
    """Default settings of a data-set kind (``"csi"`` or ``"lar"``)."""
    return {"csi": CsISettings, "lar": LArSettings}[kind]()


def zero_nuisances(exp: Experiment) -> CsINuisances | LArNuisances:
    """Nominal nuisances matching an experiment."""
    if experiment_kind(exp) == "csi":
        return CsINuisances.zeros(len(exp.shape_names))
    return LArNuisances.zeros()


def components(
    nuisances, spectrum: Array, exp: Experiment, settings=None, *, cevns_counts=None
) -> dict[str, Array]:
    """Per-component predicted counts (n_e, n_t) of either experiment."""
    fn = _COMPONENTS[experiment_kind(exp)]
    return fn(nuisances, spectrum, exp, settings, cevns_counts=cevns_counts)


def solved_nuisances(
    nuisances, spectrum: Array, exp: Experiment, settings=None, *, cevns_counts=None
):
    """Nuisances with η_CEvNS solved for ``cevns_counts`` (either experiment)."""
    fn = _SOLVED[experiment_kind(exp)]
    return fn(nuisances, spectrum, exp, settings, cevns_counts=cevns_counts)


def twice_nll_combined(
    nuisances: Mapping, spectra: Mapping, experiments: Mapping, settings: Mapping | None = None
) -> Array:
    """Sum of the χ² of several data sets with independent nuisances.

    Args:
        nuisances, spectra, experiments: dicts keyed by kind (``"csi"``, ``"lar"``); the
            keys of ``nuisances`` select the data sets.
        settings: optional dict of per-kind settings (missing kinds use defaults).
    """
    settings = {} if settings is None else settings
    total = 0.0
    for kind in sorted(nuisances):  # static: at most two data sets
        total = total + _TWICE_NLL[kind](
            nuisances[kind], spectra[kind], experiments[kind], settings.get(kind)
        )
    return total


def twice_nll(model: Mediator, nuisances, experiments, settings=None) -> Array:
    """χ² at a physics point given as a :class:`~cevns_jax.mediator.Mediator`.

    Args:
        model: the physics point.
        nuisances: nuisances of one experiment, or a dict keyed by kind for a combination.
        experiments: one :class:`~cevns_jax.experiment.Experiment`, or a dict keyed by kind.
        settings: settings of that experiment, or a dict keyed by kind (default: defaults).

    Returns:
        () χ². Differentiable in ``model`` and ``nuisances``.
    """
    if isinstance(experiments, Experiment):
        kind = experiment_kind(experiments)
        return _TWICE_NLL[kind](
            nuisances, recoil_spectrum(experiments, model), experiments, settings
        )
    spectra = {k: recoil_spectrum(experiments[k], model) for k in nuisances}
    return twice_nll_combined(nuisances, spectra, experiments, settings)
