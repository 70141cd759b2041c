"""Bayesian sampling of the COHERENT likelihoods with numpyro's NUTS.

The models reuse the χ² functions of the fits (:func:`~cevns_jax.likelihood.twice_nll_csi`,
:func:`~cevns_jax.likelihood.twice_nll_lar`); there is no second likelihood.

Priors and the χ² — no double counting:

* every nuisance is a ``numpyro.sample`` site with its Gaussian prior, Normal(0, σ) with σ
  from the likelihood settings (``settings.widths()``); a nuisance without prior (σ = inf,
  e.g. after ``settings.free_cevns()``) gets a wide Normal(0, ``free_width``) instead;
* the likelihood is ``numpyro.factor("loglike", -0.5 * χ²_data)`` where χ²_data is the fit's
  χ² evaluated with every prior width set to inf (:func:`likelihood_settings`), i.e.
  *without* its Gaussian prior terms, which the sample sites already carry.

Hence, at any point, log p(θ, ν | data) = −χ²_fit(θ, ν)/2 + log π(θ) + const, where χ²_fit
is the χ² of the profile-likelihood fits (priors included), π(θ) the prior of the physics
parameters and const = Σ_i (−ln σ_i − ln √(2π)) over the nuisance components (plus the
wide-prior term of free nuisances). ``tests/test_sample.py`` checks this identity.

Models (each a plain numpyro model; the arrays it reads are arguments, so with
``jit_model_args=True`` a new experiment, charge model or mass reuses the compiled sampler):

* :func:`sm_model` — the Standard Model with the CEvNS normalisation μ (counts relative to
  the nominal SM prediction, shape nuisances applied on top) as the parameter of interest,
  flat on [0, ``mu_max``], as the free normalisation of :func:`cevns_jax.fit.fit_sm`;
* :func:`mediator_model` — a light mediator of given charges, log10 g (or g) uniform, mass
  fixed or log-uniform; the CEvNS normalisation keeps its prior.

Site names: nuisances ``"<kind>_<field>"`` (e.g. ``"csi_eta_brn"``, the vector
``"csi_theta"``; kinds ``"csi"``/``"lar"``), physics ``"<kind>_mu"``, ``"log10_g"`` /
``"g"``, ``"log10_mass_mev"``; deterministic ``"<kind>_n_cevns"`` (SM), ``"g"`` /
``"log10_g"``, ``"mass_mev"`` and ``"chi2_data"``. :func:`run_nuts` runs NUTS and returns
numpy samples and diagnostics.

Example:
    >>> model = sm_model()                                            # doctest: +SKIP
    >>> res = run_nuts(model, jax.random.key(0), 300, 500,
    ...                model_args=({"csi": csi},))                     # doctest: +SKIP
    >>> res.samples["csi_n_cevns"].mean(), res.diagnostics["num_divergences"]  # doctest: +SKIP
"""

import dataclasses
import time
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import summary
from numpyro.infer import MCMC, NUTS, init_to_median

from .charges import U1Charges
from .errors import ConfigError
from .experiment import Experiment
from .likelihood import (
    default_settings,
    experiment_kind,
    twice_nll_csi,
    twice_nll_lar,
    zero_nuisances,
)
from .mediator import Mediator, standard_model
from .rates import counts_from_spectrum, recoil_spectrum

__all__ = [
    "CHAIN_METHODS",
    "FREE_WIDTH",
    "NUTSResult",
    "credible_upper",
    "data_chi2",
    "likelihood_settings",
    "mediator_model",
    "run_nuts",
    "sample_nuisances",
    "sm_model",
]

#: Prior width given to nuisances without a prior (infinite width in the settings).
FREE_WIDTH = 10.0
#: ``chain_method`` values accepted by :func:`run_nuts`.
CHAIN_METHODS = ("sequential", "vectorized", "parallel")
_TWICE_NLL = {"csi": twice_nll_csi, "lar": twice_nll_lar}


def likelihood_settings(settings):
    """The same settings with every prior width (``sigma_*`` field) set to inf.

    The χ² functions then return the data term only (their Gaussian prior terms vanish,
    with zero gradient); other options (e.g. ``ss_sample_ratio``, ``neutron_interp``)
    are kept.
    """
    names = [f.name for f in dataclasses.fields(settings) if f.name.startswith("sigma_")]
    return eqx.tree_at(
        lambda s: [getattr(s, n) for n in names],
        settings,
        [jnp.full_like(getattr(settings, n), jnp.inf) for n in names],
    )


def _settings_for(kind: str, settings: Mapping | None):
    s = None if settings is None else settings.get(kind)
    return default_settings(kind) if s is None else s


def sample_nuisances(kind: str, exp: Experiment, settings, *, free_width=FREE_WIDTH, fixed=None):
    """Sample one experiment's nuisances from their Gaussian priors (inside a model).

    One site per field of the nuisance Module, named ``f"{kind}_{field}"`` (vector fields
    such as ``theta``/``eps`` are one site with an event dimension).

    Args:
        kind: ``"csi"`` or ``"lar"`` (site-name prefix).
        exp: the experiment (sets the number of shape systematics).
        settings: its likelihood settings; σ = inf gives Normal(0, ``free_width``).
        free_width: prior width of nuisances without prior.
        fixed: optional mapping field -> value for fields not sampled (e.g. the CEvNS
            normalisation when it is the parameter of interest).

    Returns:
        The nuisances Module (:class:`~cevns_jax.likelihood.CsINuisances` or
        :class:`~cevns_jax.likelihood.LArNuisances`).
    """
    fixed = {} if fixed is None else dict(fixed)
    template = zero_nuisances(exp)
    n_vector = next(x.shape[0] for x in jax.tree.leaves(template) if x.ndim == 1)
    widths = settings.widths(n_vector)  # same pytree as the nuisances
    values = {}
    for f in dataclasses.fields(template):
        if f.name in fixed:
            values[f.name] = jnp.asarray(fixed[f.name], dtype=float)
            continue
        w = jnp.asarray(getattr(widths, f.name), dtype=float)
        scale = jnp.where(jnp.isfinite(w), w, free_width)  # traced: no Python branch
        prior = dist.Normal(jnp.zeros_like(w), scale)
        if w.ndim:
            prior = prior.to_event(w.ndim)
        values[f.name] = numpyro.sample(f"{kind}_{f.name}", prior)
    return type(template)(**values)


def data_chi2(nuisances: Mapping, spectra: Mapping, experiments: Mapping, settings=None,
              cevns_counts: Mapping | None = None):
    """χ² of the data without prior terms: the fits' χ² at :func:`likelihood_settings`.

    Args:
        nuisances, spectra, experiments: dicts keyed by kind; keys of ``nuisances`` select.
        settings: optional dict kind -> settings (only non-width options matter here).
        cevns_counts: optional dict kind -> () total CEvNS counts fixing η_CEvNS.

    Returns:
        () Σ_kind χ²_kind with all prior widths infinite.
    """
    cevns_counts = {} if cevns_counts is None else cevns_counts
    total = jnp.zeros(())
    for kind in sorted(nuisances):  # static: at most two data sets
        flat = likelihood_settings(_settings_for(kind, settings))
        total = total + _TWICE_NLL[kind](
            nuisances[kind], spectra[kind], experiments[kind], flat,
            cevns_counts=cevns_counts.get(kind),
        )  # fmt: skip
    return total


# Jitted pieces of the models. Inside NUTS (already under jit) they are inlined; when numpyro
# runs a model eagerly (initialisation, prior medians, postprocessing) each is one compiled
# call instead of hundreds of op-by-op dispatches (the first eager run of the χ² otherwise
# compiles every primitive separately, tens of seconds on a loaded CPU).
_data_chi2_jit = eqx.filter_jit(data_chi2)
_spectrum_jit = eqx.filter_jit(recoil_spectrum)


@eqx.filter_jit
def _sm_spectrum_total(exp: Experiment):
    spectrum = recoil_spectrum(exp, standard_model())
    return spectrum, jnp.sum(counts_from_spectrum(exp, spectrum))


def _check_kinds(experiments: Mapping) -> list[str]:
    if not experiments:
        raise ConfigError("experiments must be a dict with keys 'csi' and/or 'lar'")
    for kind, exp in experiments.items():
        if experiment_kind(exp) != kind:
            raise ConfigError(f"experiments[{kind!r}] is {exp.name!r}; use keys 'csi'/'lar'")
    return sorted(experiments)


def _loglike(nuisances, spectra, experiments, settings, cevns_counts=None):
    chi2 = _data_chi2_jit(nuisances, spectra, experiments, settings, cevns_counts)
    numpyro.deterministic("chi2_data", chi2)
    numpyro.factor("loglike", -0.5 * chi2)


def sm_model(*, mu_max: float = 3.0, free_width: float = FREE_WIDTH) -> Callable:
    """Numpyro model of the SM with a free CEvNS normalisation per experiment.

    The returned ``model(experiments, settings=None)`` samples, for each kind in
    ``experiments`` (dict ``"csi"``/``"lar"`` -> Experiment):

    * ``"<kind>_mu"`` ~ Uniform(0, ``mu_max``): CEvNS counts N over the nominal SM prediction
      N_SM; N = μ N_SM fixes η_CEvNS (``cevns_counts`` of the χ², so shape nuisances that
      move the CEvNS rate are compensated, exactly as in :func:`cevns_jax.fit.fit_sm`);
      the settings' ``sigma_cevns`` is not used;
    * every other nuisance from its prior (:func:`sample_nuisances`);
    * deterministic ``"<kind>_n_cevns"`` = μ N_SM, comparable with ``SMFit.cevns_fitted``.

    Args:
        mu_max: upper edge of the flat prior on μ.
        free_width: prior width of other nuisances without prior.
    """

    def model(experiments: Mapping[str, Experiment], settings: Mapping | None = None):
        kinds = _check_kinds(experiments)
        nus, spectra, counts = {}, {}, {}
        for kind in kinds:
            exp = experiments[kind]
            spectra[kind], n_sm = _sm_spectrum_total(exp)
            mu = numpyro.sample(f"{kind}_mu", dist.Uniform(0.0, mu_max))
            counts[kind] = numpyro.deterministic(f"{kind}_n_cevns", mu * n_sm)
            nus[kind] = sample_nuisances(
                kind, exp, _settings_for(kind, settings), free_width=free_width,
                fixed={"eta_cevns": 0.0},  # replaced by the value solved for N
            )  # fmt: skip
        _loglike(nus, spectra, experiments, settings, counts)

    return model


def mediator_model(
    *,
    log10_g: tuple[float, float] = (-7.0, -3.0),
    g_prior: str = "log-uniform",
    log10_mass_mev: tuple[float, float] | None = None,
    free_width: float = FREE_WIDTH,
) -> Callable:
    """Numpyro model of a light mediator with all nuisances sampled from their priors.

    The returned ``model(experiments, charges, mass_mev=None, settings=None)`` takes a
    dict of experiments (``"csi"``/``"lar"``), the model's :class:`U1Charges` (e.g.
    ``get_model("B-L")``) and, at fixed mass, the mass in MeV. Sites:

    * ``"log10_g"`` ~ Uniform(*log10_g) (``g_prior="log-uniform"``), deterministic ``"g"``;
      or ``"g"`` ~ Uniform(10**log10_g[0], 10**log10_g[1]) (``g_prior="uniform"``),
      deterministic ``"log10_g"``;
    * with ``log10_mass_mev`` given: ``"log10_mass_mev"`` ~ Uniform(*log10_mass_mev) and the
      ``mass_mev`` argument is ignored; deterministic ``"mass_mev"`` always;
    * every nuisance from its prior (the CEvNS normalisation included).

    Note that with a log-uniform prior the credible bound on g depends on the lower edge
    of the prior (the likelihood is flat as g -> 0). The posterior in log10 g is a plateau
    ending in a steep wall; run NUTS with ``target_accept_prob=0.95`` (B−L at 10 MeV on
    CsI: ~100 divergences in 1200 draws at the default 0.8, none at 0.95).

    Raises:
        ConfigError: unknown ``g_prior`` or empty ranges (at build time); a missing
            ``mass_mev`` at fixed mass (when the model runs).
    """
    if g_prior not in ("log-uniform", "uniform"):
        raise ConfigError(f"g_prior must be 'log-uniform' or 'uniform', got {g_prior!r}")
    for name, rng in (("log10_g", log10_g), ("log10_mass_mev", log10_mass_mev)):
        if rng is not None and not rng[0] < rng[1]:
            raise ConfigError(f"{name} must be an increasing pair (low, high), got {rng}")
    lo, hi = (float(x) for x in log10_g)

    def model(
        experiments: Mapping[str, Experiment],
        charges: U1Charges,
        mass_mev=None,
        settings: Mapping | None = None,
    ):
        kinds = _check_kinds(experiments)
        if g_prior == "log-uniform":
            lg = numpyro.sample("log10_g", dist.Uniform(lo, hi))
            g = numpyro.deterministic("g", 10.0**lg)
        else:
            g = numpyro.sample("g", dist.Uniform(10.0**lo, 10.0**hi))
            numpyro.deterministic("log10_g", jnp.log10(g))
        if log10_mass_mev is not None:
            lm = numpyro.sample("log10_mass_mev", dist.Uniform(*map(float, log10_mass_mev)))
            mass_mev = 10.0**lm
        elif mass_mev is None:
            raise ConfigError("mass_mev is required unless the model samples log10_mass_mev")
        mass = numpyro.deterministic("mass_mev", jnp.asarray(mass_mev, dtype=float))
        point = Mediator(charges, mass, g)
        spectra = {k: _spectrum_jit(experiments[k], point) for k in kinds}
        nus = {
            k: sample_nuisances(k, experiments[k], _settings_for(k, settings),
                                free_width=free_width)
            for k in kinds
        }  # fmt: skip
        _loglike(nus, spectra, experiments, settings)

    return model


@dataclasses.dataclass(frozen=True)
class NUTSResult:
    """Output of :func:`run_nuts` (numpy arrays).

    Attributes:
        samples: site -> (num_chains * num_samples, ...) draws, chains concatenated.
        samples_by_chain: site -> (num_chains, num_samples, ...).
        diagnostics: ``num_divergences`` (total), ``divergences_per_chain``,
            ``accept_prob`` (mean), ``num_steps`` (mean leapfrog steps per draw),
            ``step_size`` (per chain), ``summary`` (site -> mean, std, median, 5 %/95 %
            HPDI, n_eff, r_hat from :func:`numpyro.diagnostics.summary`), ``wall_s`` (run
            time including compilation), ``num_chains``, ``num_samples``, ``num_warmup``.
        mcmc: the :class:`numpyro.infer.MCMC` object (for further use).
    """

    samples: dict
    samples_by_chain: dict
    diagnostics: dict
    mcmc: MCMC = dataclasses.field(repr=False)


def run_nuts(
    model_fn: Callable,
    key,
    num_warmup: int,
    num_samples: int,
    num_chains: int = 1,
    chain_method: str = "sequential",
    *,
    model_args: tuple = (),
    model_kwargs: Mapping | None = None,
    init_strategy=init_to_median,
    jit_model_args: bool = True,
    progress_bar: bool = False,
    **nuts_kwargs,
) -> NUTSResult:
    """Sample a numpyro model with NUTS and collect numpy samples and diagnostics.

    Args:
        model_fn: the numpyro model (e.g. from :func:`sm_model` / :func:`mediator_model`).
        key: ``jax.random`` key (split into one per chain).
        num_warmup, num_samples: warm-up (adaptation) and kept draws per chain.
        num_chains: number of chains.
        chain_method: ``"sequential"``, ``"vectorized"`` (chains vmapped on one device) or
            ``"parallel"`` (one device per chain; needs
            ``numpyro.set_host_device_count`` at program start).
        model_args, model_kwargs: arguments of the model (arrays and Modules; with
            ``jit_model_args`` new values of the same shapes reuse the compilation).
        init_strategy: numpyro initialisation (default: prior medians; nuisances start at 0).
        jit_model_args: compile the sampler as a function of the model arguments.
        progress_bar: show numpyro's progress bar.
        **nuts_kwargs: passed to :class:`numpyro.infer.NUTS` (``target_accept_prob``,
            ``max_tree_depth``, ``dense_mass``, ...).

    Returns:
        :class:`NUTSResult`.

    Raises:
        ConfigError: unknown ``chain_method`` or non-positive counts.
    """
    if chain_method not in CHAIN_METHODS:
        raise ConfigError(f"chain_method must be one of {CHAIN_METHODS}, got {chain_method!r}")
    if num_samples < 1 or num_warmup < 0 or num_chains < 1:
        raise ConfigError("need num_samples >= 1, num_warmup >= 0 and num_chains >= 1")
    kernel = NUTS(model_fn, init_strategy=init_strategy, **nuts_kwargs)
    mcmc = MCMC(
        kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
        chain_method=chain_method, progress_bar=progress_bar, jit_model_args=jit_model_args,
    )  # fmt: skip
    start = time.perf_counter()
    mcmc.run(
        key, *model_args, extra_fields=("accept_prob", "num_steps"),
        **({} if model_kwargs is None else dict(model_kwargs)),
    )  # fmt: skip
    by_chain = jax.tree.map(np.asarray, mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - start
    extra = jax.tree.map(np.asarray, mcmc.get_extra_fields(group_by_chain=True))
    div = extra["diverging"].reshape(num_chains, -1)
    step = np.asarray(mcmc.last_state.adapt_state.step_size).reshape(-1)
    diagnostics = {
        "num_divergences": int(div.sum()),
        "divergences_per_chain": div.sum(axis=1).tolist(),
        "accept_prob": float(extra["accept_prob"].mean()),
        "num_steps": float(extra["num_steps"].mean()),
        "step_size": step.tolist(),
        "summary": _summary(by_chain),
        "wall_s": wall,
        "num_chains": num_chains,
        "num_samples": num_samples,
        "num_warmup": num_warmup,
    }
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in by_chain.items()}
    return NUTSResult(flat, by_chain, diagnostics, mcmc)


def _summary(by_chain: dict) -> dict:
    # constant sites (e.g. a fixed mass recorded as deterministic) have n_eff/r_hat NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        table = summary(by_chain)
    return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in table.items()}


def credible_upper(x, level: float = 0.95, weights=None) -> float:
    """One-sided upper credible bound: the ``level`` quantile of (weighted) samples.

    Args:
        x: (n,) samples of a scalar (e.g. ``samples["log10_g"]``).
        level: credibility, e.g. 0.95.
        weights: optional (n,) non-negative importance weights (prior reweighting).
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    if weights is None:
        return float(np.quantile(x, level))
    w = np.asarray(weights, dtype=float).reshape(-1)
    order = np.argsort(x)
    cdf = np.cumsum(w[order])
    cdf /= cdf[-1]
    return float(x[order][np.searchsorted(cdf, level)])
