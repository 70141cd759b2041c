"""Bayesian sampling of the COHERENT likelihoods with numpyro's NUTS.

The models reuse the likelihoods of the fits (:class:`~cevns_jax.likelihood.AbstractLikelihood`);
there is no second likelihood.

Priors and the χ² — no double counting:

* every nuisance is a ``numpyro.sample`` site with its Gaussian prior, Normal(nominal, σ)
  with σ from the likelihood (``lik.widths()``); a nuisance without prior (σ = inf, e.g.
  after ``settings.free_cevns()``) gets a wide Normal(nominal, ``free_width``) instead;
* the likelihood is ``numpyro.factor("loglike", -0.5 * χ²_data)`` with χ²_data the
  likelihood's data term (:meth:`~cevns_jax.likelihood.AbstractLikelihood.data_chi2` of the
  predicted counts), i.e. the fit's χ² *without* its prior terms, which the sample sites
  already carry.

Hence, at any point, log p(θ, ν | data) = −χ²_fit(θ, ν)/2 + log π(θ) + const, where χ²_fit
is the χ² of the profile-likelihood fits (priors included), π(θ) the prior of the physics
parameters and const = Σ_i (−ln σ_i − ln √(2π)) over the nuisances (plus the wide-prior
term of free nuisances). ``tests/test_sample.py`` checks this identity.

Models (plain numpyro models; the arrays they read are arguments, so with
``jit_model_args=True`` a new likelihood of the same kinds, charge model or mass reuses the
compiled sampler):

* :func:`sm_model` — the Standard Model with the CEvNS normalisation μ (counts relative to
  the nominal SM prediction, shape nuisances applied on top) as the parameter of interest,
  flat on [0, ``mu_max``], as the free normalisation of :func:`cevns_jax.fit.fit_sm`;
* :func:`mediator_model` — a light mediator of given charges, log10 g (or g) uniform, mass
  fixed or log-uniform; the CEvNS normalisation keeps its prior.

Both take a dict ``key -> likelihood`` (registry keys ``"csi"``, ``"lar"``; e.g.
``{p: ...}`` from :func:`cevns_jax.registry.build_likelihood`'s parts). Site names:
nuisances ``"<key>_<nuisance name>"`` (e.g. ``"csi_norm_brn"``, ``"csi_theta_eff"``),
physics ``"<key>_mu"``, ``"log10_g"`` / ``"g"``, ``"log10_mass_mev"``; deterministic
``"<key>_n_cevns"`` (SM), ``"g"`` / ``"log10_g"``, ``"mass_mev"``, ``"chi2_data"`` and its
parts ``"<key>_chi2_data"``.
:func:`run_nuts` runs NUTS and returns numpy samples and diagnostics.

Example:
    >>> model = sm_model()                                            # doctest: +SKIP
    >>> res = run_nuts(model, jax.random.key(0), 300, 500,
    ...                model_args=({"csi": csi_lik},))                 # doctest: +SKIP
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
from .likelihood import CEVNS, AbstractLikelihood
from .mediator import Mediator, standard_model
from .rates import recoil_spectrum

__all__ = [
    "CHAIN_METHODS",
    "FREE_WIDTH",
    "NUTSResult",
    "credible_upper",
    "data_chi2",
    "mediator_model",
    "run_nuts",
    "sample_nuisances",
    "sm_model",
]

#: Prior width given to nuisances without a prior (infinite width).
FREE_WIDTH = 10.0
#: ``chain_method`` values accepted by :func:`run_nuts`.
CHAIN_METHODS = ("sequential", "vectorized", "parallel")


def sample_nuisances(key: str, lik: AbstractLikelihood, *, free_width=FREE_WIDTH, fixed=None):
    """Sample one likelihood's nuisances from their Gaussian priors (inside a model).

    One site per nuisance, named ``f"{key}_{name}"``.

    Args:
        key: site-name prefix (the experiment's registry key).
        lik: the likelihood (names, nominal values, prior widths).
        free_width: prior width of nuisances without prior.
        fixed: optional mapping name -> value for nuisances not sampled.

    Returns:
        (n,) nuisance vector.
    """
    fixed = {} if fixed is None else dict(fixed)
    centre, widths = lik.nominal(), lik.widths()
    values = []
    for i, name in enumerate(lik.names):  # a static loop over ~10 names, not over bins
        if name in fixed:
            values.append(jnp.asarray(fixed[name], dtype=float))
            continue
        w = widths[i]
        scale = jnp.where(jnp.isfinite(w), w, free_width)  # traced: no Python branch
        values.append(numpyro.sample(f"{key}_{name}", dist.Normal(centre[i], scale)))
    return jnp.stack(values)


def data_chi2(nuisances: Mapping, signals: Mapping, likelihoods: Mapping, cevns_counts=None):
    """χ² of the data without prior terms, summed over the likelihoods.

    Args:
        nuisances, signals, likelihoods: dicts keyed alike; keys of ``nuisances`` select.
        cevns_counts: optional dict key -> () total CEvNS counts fixing the CEvNS factor.

    Returns:
        () Σ_key χ²_data.
    """
    cevns_counts = {} if cevns_counts is None else cevns_counts
    total = jnp.zeros(())
    for key in sorted(nuisances):  # static: at most a few data sets
        lik, nu, sig = likelihoods[key], nuisances[key], signals[key]
        if key in cevns_counts:
            nu = lik.fix_cevns_counts(nu, sig, jnp.asarray(cevns_counts[key], dtype=float))
        total = total + lik.data_chi2(sum(lik.components(nu, sig).values()))
    return total


# Jitted pieces of the models. Inside NUTS (already under jit) they are inlined; when numpyro
# runs a model eagerly (initialisation, prior medians, postprocessing) each is one compiled
# call instead of hundreds of op-by-op dispatches.
_data_chi2_jit = eqx.filter_jit(data_chi2)


@eqx.filter_jit
def _signal(lik: AbstractLikelihood, model: Mediator):
    return lik.signal(recoil_spectrum(lik.experiment, model))


@eqx.filter_jit
def _sm_signal_total(lik: AbstractLikelihood):
    sig = lik.signal(recoil_spectrum(lik.experiment, standard_model()))
    return sig, lik.cevns_total(lik.nominal(), sig)


def _check(likelihoods: Mapping) -> list[str]:
    if not likelihoods or not all(isinstance(v, AbstractLikelihood) for v in likelihoods.values()):
        raise ConfigError(
            "likelihoods must be a non-empty dict key -> AbstractLikelihood, e.g. "
            "{'csi': CsILikelihood(build_csi2021())}"
        )
    return sorted(likelihoods)


def _loglike(nuisances, signals, likelihoods, cevns_counts=None):
    parts = [
        _data_chi2_jit({k: v}, signals, likelihoods, cevns_counts) for k, v in nuisances.items()
    ]
    for key, value in zip(nuisances, parts, strict=True):  # per data set, for ArviZ
        numpyro.deterministic(f"{key}_chi2_data", value)
    chi2 = numpyro.deterministic("chi2_data", sum(parts))
    numpyro.factor("loglike", -0.5 * chi2)


def sm_model(*, mu_max: float = 3.0, free_width: float = FREE_WIDTH) -> Callable:
    """Numpyro model of the SM with a free CEvNS normalisation per data set.

    The returned ``model(likelihoods)`` samples, for each key of ``likelihoods``:

    * ``"<key>_mu"`` ~ Uniform(0, ``mu_max``): CEvNS counts N over the nominal SM prediction
      N_SM; N = μ N_SM fixes the CEvNS factor (so shape nuisances that move the CEvNS rate
      are compensated, exactly as in :func:`cevns_jax.fit.fit_sm`); its prior width is not
      used;
    * every other nuisance from its prior (:func:`sample_nuisances`);
    * deterministic ``"<key>_n_cevns"`` = μ N_SM, comparable with ``SMFit.cevns_fitted``.

    Args:
        mu_max: upper edge of the flat prior on μ.
        free_width: prior width of other nuisances without prior.
    """

    def model(likelihoods: Mapping[str, AbstractLikelihood]):
        keys = _check(likelihoods)
        nus, signals, counts = {}, {}, {}
        for key in keys:
            lik = likelihoods[key]
            signals[key], n_sm = _sm_signal_total(lik)
            mu = numpyro.sample(f"{key}_mu", dist.Uniform(0.0, mu_max))
            counts[key] = numpyro.deterministic(f"{key}_n_cevns", mu * n_sm)
            nus[key] = sample_nuisances(
                key, lik, free_width=free_width, fixed={lik.names[CEVNS]: 1.0}
            )  # the CEvNS factor is replaced by the value solved for N
        _loglike(nus, signals, likelihoods, counts)

    return model


def mediator_model(
    *,
    log10_g: tuple[float, float] = (-7.0, -3.0),
    g_prior: str = "log-uniform",
    log10_mass_mev: tuple[float, float] | None = None,
    free_width: float = FREE_WIDTH,
) -> Callable:
    """Numpyro model of a light mediator with all nuisances sampled from their priors.

    The returned ``model(likelihoods, charges, mass_mev=None)`` takes a dict of likelihoods,
    the model's :class:`U1Charges` (e.g. ``get_model("B-L")``) and, at fixed mass, the mass
    in MeV. Sites:

    * ``"log10_g"`` ~ Uniform(*log10_g) (``g_prior="log-uniform"``), deterministic ``"g"``;
      or ``"g"`` ~ Uniform(10**log10_g[0], 10**log10_g[1]) (``g_prior="uniform"``),
      deterministic ``"log10_g"``;
    * with ``log10_mass_mev`` given: ``"log10_mass_mev"`` ~ Uniform(*log10_mass_mev) and the
      ``mass_mev`` argument is ignored; deterministic ``"mass_mev"`` always;
    * every nuisance from its prior (the CEvNS normalisation included).

    With a log-uniform prior the credible bound on g depends on the lower edge of the prior
    (the likelihood is flat as g -> 0). The posterior in log10 g is a plateau ending in a
    steep wall; run NUTS with ``target_accept_prob=0.95``.

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

    def model(likelihoods: Mapping[str, AbstractLikelihood], charges: U1Charges, mass_mev=None):
        keys = _check(likelihoods)
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
        signals = {k: _signal(likelihoods[k], point) for k in keys}
        nus = {k: sample_nuisances(k, likelihoods[k], free_width=free_width) for k in keys}
        _loglike(nus, signals, likelihoods)

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
