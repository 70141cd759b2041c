"""NUTS posteriors the ecosystem way: ArviZ InferenceData, diagnostics, netCDF.

:func:`to_inference_data` turns a :class:`~cevns_jax.sample.NUTSResult` into an
:class:`arviz.InferenceData` with the groups

* ``posterior``: every sampled and deterministic site (chains × draws), except the χ²;
* ``sample_stats``: numpyro's (``diverging``, ``acceptance_rate``, ``step_size``, ``tree
  depth`` ...; from :func:`arviz.from_numpyro`);
* ``log_likelihood``: one variable per data set, ``<key>`` = −χ²_data/2 of that data set
  (the sampler's own ``<key>_chi2_data``; whole data sets, not bins — the χ² of the binned
  likelihoods is not split per bin in the package);
* ``observed_data``: the observed counts ``<key>_observed`` (energy bin × time bin);

and :func:`diagnostics` computes r̂, bulk and tail ESS and divergences with ArviZ (stored
as JSON in the posterior's ``attrs`` by :func:`save_netcdf`, with the provenance).
"""

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from .sample import NUTSResult

__all__ = ["PHYSICS_SITES", "diagnostics", "load_netcdf", "save_netcdf", "to_inference_data"]

#: Sampled physics parameters of :func:`cevns_jax.sample.mediator_model` (where present).
PHYSICS_SITES = ("log10_g", "g", "log10_mass_mev")


def to_inference_data(result: NUTSResult, likelihoods: Mapping):
    """The run as :class:`arviz.InferenceData` (groups: see the module docstring).

    Args:
        result: :func:`cevns_jax.sample.run_nuts` output of a model of this package.
        likelihoods: the ``key -> likelihood`` dict the model ran on (observed counts).
    """
    import arviz as az
    import xarray as xr

    idata = az.from_numpyro(result.mcmc, log_likelihood=False)
    chi2 = [f"{k}_chi2_data" for k in likelihoods]
    loglike = xr.Dataset({
        k: -0.5 * idata.posterior[f"{k}_chi2_data"] for k in likelihoods
    })  # fmt: skip
    observed = xr.Dataset({
        f"{k}_observed": ((f"{k}_energy_bin", f"{k}_time_bin"), np.asarray(v.experiment.observed))
        for k, v in likelihoods.items()
    })  # fmt: skip
    return az.InferenceData(
        posterior=idata.posterior.drop_vars([*chi2, "chi2_data"], errors="ignore"),
        sample_stats=idata.sample_stats,
        log_likelihood=loglike,
        observed_data=observed,
    )


def diagnostics(idata, var_names: Sequence[str] | None = None) -> dict:
    """r̂, bulk/tail ESS and MCSE of the physics parameters, and divergences.

    Args:
        idata: :func:`to_inference_data` output.
        var_names: variables (default: the :data:`PHYSICS_SITES` present, else all).

    Returns:
        ``{"parameters": {name: {"r_hat", "ess_bulk", "ess_tail", "mcse_mean", "mean",
        "sd"}}, "divergences", "num_chains", "num_draws"}``.
    """
    import arviz as az

    post = idata.posterior
    names = list(var_names or [v for v in PHYSICS_SITES if v in post] or list(post))
    table = az.summary(idata, var_names=names, kind="all")
    cols = ("r_hat", "ess_bulk", "ess_tail", "mcse_mean", "mean", "sd")
    params = {n: {c: float(table.loc[n, c]) for c in cols} for n in names}
    return {
        "parameters": params,
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "num_chains": int(post.sizes["chain"]),
        "num_draws": int(post.sizes["draw"]),
    }


def save_netcdf(idata, path: str | os.PathLike, *, attrs: Mapping | None = None) -> None:
    """Write ``idata`` to netCDF, with ``attrs`` (JSON-encoded: diagnostics, provenance) on
    the posterior group; read back with :func:`load_netcdf` or :func:`arviz.from_netcdf`."""
    for key, value in (attrs or {}).items():
        idata.posterior.attrs[key] = json.dumps(value, default=str)
    idata.to_netcdf(str(path))


def load_netcdf(path: str | os.PathLike):
    """(InferenceData, attrs decoded from JSON) of a file written by :func:`save_netcdf`."""
    import arviz as az

    idata = az.from_netcdf(str(path))
    attrs = {}
    for key, value in idata.posterior.attrs.items():
        try:
            attrs[key] = json.loads(value)
        except (TypeError, ValueError):
            attrs[key] = value
    return idata, attrs
