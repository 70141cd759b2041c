"""Standard-Model fits of one data set: fitted CEvNS counts, their interval and significance.

As in the COHERENT analyses, the CEvNS normalisation is free (no prior) and every other
nuisance keeps its prior. :func:`fit_sm`:

1. profiles χ² over all nuisances at the SM signal: χ²_min and the best fit; the fitted
   CEvNS counts N̂ are the CEvNS component summed over the analysis bins at the best fit
   (normalisation *and* shape nuisances applied);
2. finds the Δχ² = 1 interval of the CEvNS counts by profiling χ² at fixed total CEvNS
   counts N (the CEvNS factor solved for N inside the fit, so shape nuisances that move
   the CEvNS rate are profiled too). On each side the distance d = |N − N̂| is iterated as
   d ← d / √Δχ²(N̂ ± d), exact for a parabolic profile, until |Δχ² − 1| < ``tol_interval``;
3. profiles χ² without CEvNS (zero signal): the significance is √(χ²_0 − χ²_min).

Every profile is one call of :func:`profile_at_cevns_counts` (one compilation per
likelihood type); the interval search is a short host-side loop over its calls.
"""

import math
from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .experiment import Experiment
from .likelihood import AbstractLikelihood
from .mediator import Mediator, standard_model
from .profile import ProfileResult
from .rates import recoil_spectrum
from .registry import likelihood_for

__all__ = ["SMFit", "fit_sm", "nuisance_table", "profile_at_cevns_counts"]


@dataclass(frozen=True)
class SMFit:
    """Result of :func:`fit_sm` (plain Python numbers, plus the best-fit arrays).

    Attributes:
        experiment: experiment name (``"csi2021"`` or ``"lar2020"``).
        cevns_predicted: SM CEvNS counts at nominal nuisances.
        cevns_fitted: best-fit CEvNS counts N̂ in the analysis region.
        cevns_fitted_err: half width of the Δχ² = 1 interval, (N₊ − N₋)/2.
        cevns_fitted_err_minus, cevns_fitted_err_plus: N̂ − N₋ and N₊ − N̂.
        significance_sigma: √(χ²(no CEvNS) − χ²_min), both profiled.
        chi2_min: χ² at the best fit (including prior terms).
        chi2_no_cevns: profiled χ² without CEvNS.
        ndof: number of analysis bins minus the parameters without prior (1: the CEvNS
            normalisation); constrained nuisances are balanced by their prior terms.
        nuisances: name -> {"value", "pull", "prior_width"}; pull = (value − nominal) /
            prior width (``None`` for the free CEvNS normalisation).
        converged: every profile converged and the interval equations are solved.
        best_fit: :class:`~cevns_jax.profile.ProfileResult` of the best fit.
        fitted_components: component name -> (n_e, n_t) numpy counts at the best fit.
        likelihood: the likelihood used (CEvNS normalisation free).
        signal: its signal at the fitted physics point.
        details: diagnostics (gradient norms, interval iterations and residuals).
    """

    experiment: str
    cevns_predicted: float
    cevns_fitted: float
    cevns_fitted_err: float
    cevns_fitted_err_minus: float
    cevns_fitted_err_plus: float
    significance_sigma: float
    chi2_min: float
    chi2_no_cevns: float
    ndof: int
    nuisances: dict
    converged: bool
    best_fit: ProfileResult = field(repr=False)
    fitted_components: dict = field(repr=False)
    likelihood: AbstractLikelihood = field(repr=False)
    signal: Array = field(repr=False)
    details: dict = field(default_factory=dict, repr=False)


@eqx.filter_jit
def profile_at_cevns_counts(lik: AbstractLikelihood, signal: Array, n_cevns) -> ProfileResult:
    """χ² profiled over all nuisances at fixed total CEvNS counts (jitted).

    Args:
        lik: the likelihood.
        signal: its signal (sets the CEvNS shape).
        n_cevns: () CEvNS counts in the analysis region (NaN: free normalisation).
    """
    return lik.profile(signal, cevns_counts=n_cevns)


@eqx.filter_jit
def _summary(lik: AbstractLikelihood, nu: Array, signal: Array):
    comps = lik.components(nu, signal)
    return comps, jnp.sum(lik.components(lik.nominal(), signal)["cevns"])


def _interval_side(sign, n_hat, chi2_min, lik, signal, tol, max_iter):
    """Δχ² = 1 crossing on one side: returns (N, |Δχ² − 1|, converged, iterations)."""
    d = max(math.sqrt(max(n_hat, 1.0)), 1.0)
    delta = math.nan
    for it in range(1, max_iter + 1):
        res = profile_at_cevns_counts(lik, signal, jnp.asarray(n_hat + sign * d))
        delta = float(res.value) - chi2_min
        if abs(delta - 1.0) < tol or not np.isfinite(delta):
            return n_hat + sign * d, abs(delta - 1.0), bool(res.converged), it
        d = d / math.sqrt(delta) if delta > 0.0 else 2.0 * d
    return n_hat + sign * d, abs(delta - 1.0), False, max_iter


def nuisance_table(lik: AbstractLikelihood, nu) -> dict[str, dict]:
    """name -> {"value", "pull", "prior_width"} (pull = (value − nominal) / width, None
    without prior)."""
    out = {}
    for name, v, c, w in zip(lik.names, np.asarray(nu), np.asarray(lik.nominal()),
                             np.asarray(lik.widths()), strict=True):  # fmt: skip
        finite = bool(np.isfinite(w))
        out[name] = {
            "value": float(v),
            "pull": float((v - c) / w) if finite else None,
            "prior_width": float(w) if finite else None,
        }
    return out


def fit_sm(
    likelihood: AbstractLikelihood | Experiment,
    *,
    model: Mediator | None = None,
    tol_interval: float = 1e-4,
    max_interval_iter: int = 30,
) -> SMFit:
    """Fit the CEvNS counts of one data set with a free CEvNS normalisation.

    Args:
        likelihood: the data set's likelihood (or a built experiment: its registered
            likelihood with default settings); the CEvNS normalisation prior is always
            removed (``settings.free_cevns()``).
        model: physics point giving the CEvNS shape (default the Standard Model).
        tol_interval: |Δχ²(N±) − 1| required to end the interval search.
        max_interval_iter: maximal profiles per side of the interval.

    Returns:
        :class:`SMFit`.
    """
    lik = likelihood if isinstance(likelihood, AbstractLikelihood) else likelihood_for(likelihood)
    lik = lik.replace_settings(lik.settings.free_cevns())
    model = standard_model() if model is None else model
    signal = _signal(lik, model)
    free = jnp.asarray(jnp.nan)
    best = profile_at_cevns_counts(lik, signal, free)
    none = profile_at_cevns_counts(lik, jnp.zeros_like(signal), free)
    comps, predicted = _summary(lik, best.nuisances, signal)
    n_hat = float(jnp.sum(comps["cevns"]))
    chi2_min, chi2_0 = float(best.value), float(none.value)
    args = (n_hat, chi2_min, lik, signal, tol_interval, max_interval_iter)
    n_lo, r_lo, c_lo, it_lo = _interval_side(-1.0, *args)
    n_hi, r_hi, c_hi, it_hi = _interval_side(+1.0, *args)
    converged = bool(best.converged) and bool(none.converged) and c_lo and c_hi
    converged = converged and max(r_lo, r_hi) < tol_interval
    return SMFit(
        experiment=lik.experiment.name,
        cevns_predicted=float(predicted),
        cevns_fitted=n_hat,
        cevns_fitted_err=0.5 * (n_hi - n_lo),
        cevns_fitted_err_minus=n_hat - n_lo,
        cevns_fitted_err_plus=n_hi - n_hat,
        significance_sigma=math.sqrt(max(chi2_0 - chi2_min, 0.0)),
        chi2_min=chi2_min,
        chi2_no_cevns=chi2_0,
        ndof=int(np.size(comps["cevns"])) - 1,  # the likelihood's bins
        nuisances=nuisance_table(lik, best.nuisances),
        converged=converged,
        best_fit=best,
        fitted_components={k: np.asarray(v) for k, v in comps.items()},
        likelihood=lik,
        signal=signal,
        details={
            "grad_norm_best": float(best.grad_norm),
            "grad_norm_no_cevns": float(none.grad_norm),
            "interval_profiles": [it_lo, it_hi],
            "interval_residuals": [r_lo, r_hi],
        },
    )


@eqx.filter_jit
def _signal(lik: AbstractLikelihood, model: Mediator) -> Array:
    return lik.signal(recoil_spectrum(lik.experiment, model))
