"""Standard-Model fits of the COHERENT data sets: fitted CEvNS counts and significance.

As in the COHERENT analyses, the CEvNS normalisation is a free parameter (no prior) and
every other nuisance keeps its prior. For one experiment :func:`fit_sm`:

1. profiles χ² over all nuisances at the SM recoil spectrum: χ²_min and the best fit;
   the fitted CEvNS counts N̂ are the CEvNS component summed over the analysis bins at the
   best fit (normalisation *and* shape nuisances applied);
2. finds the Δχ² = 1 interval of the CEvNS counts by profiling χ² at fixed total CEvNS
   counts N (η_CEvNS is solved for N inside the fit, so shape nuisances that move the
   CEvNS rate, e.g. the CsI efficiency, are profiled too; ``cevns_counts`` of
   :func:`~cevns_jax.profile.profile_csi`). On each side the distance d = |N − N̂| is
   iterated as d ← d / √Δχ²(N̂ ± d), which is exact for a parabolic profile and converges
   in a few steps otherwise, until |Δχ² − 1| < ``tol_interval``.
   ``cevns_fitted_err`` is the half width (N₊ − N₋)/2; the asymmetric errors are kept too;
3. profiles χ² without CEvNS (the CEvNS prediction set to zero, i.e. η_CEvNS = −1; for
   LAr this also makes the CEvNS shape systematics inert): the significance is
   √(χ²_0 − χ²_min).

All profiles go through :func:`cevns_jax.profile.profile`, one compilation per
experiment reused by every step; the interval search is a short host-side loop over its
calls.
"""

import math
from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .experiment import Experiment
from .lar2020 import LAR_SYSTEMATICS
from .likelihood import components, default_settings, experiment_kind, zero_nuisances
from .mediator import Mediator, standard_model
from .profile import ProfileOptions, ProfileResult, profile
from .rates import counts_from_spectrum, recoil_spectrum

__all__ = ["SMFit", "fit_sm", "nuisance_table", "profile_at_cevns_counts"]

#: Jitted recoil spectrum (one compile instead of op-by-op dispatch).
_spectrum = eqx.filter_jit(recoil_spectrum)


@dataclass(frozen=True)
class SMFit:
    """Result of :func:`fit_sm` (plain Python numbers, plus the best-fit pytrees).

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
        nuisances: name -> {"value", "pull", "prior_width"}; pull = value / prior width
            (``None`` for the free CEvNS normalisation).
        converged: every profile converged and the interval equations are solved.
        best_fit: :class:`~cevns_jax.profile.ProfileResult` of the best fit.
        spectrum: (3, n_T) recoil spectrum used (SM by default).
        settings: likelihood settings used (CEvNS normalisation free).
        details: diagnostics (iterations, gradient norms, interval iterations).
        fitted_components: component name -> (n_e, n_t) numpy counts at the best fit
            (``"cevns"`` and every background).
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
    spectrum: Array = field(repr=False)
    settings: object = field(repr=False)
    details: dict = field(default_factory=dict, repr=False)
    fitted_components: dict = field(default_factory=dict, repr=False)


def profile_at_cevns_counts(
    n_cevns,
    spectrum: Array,
    exp: Experiment,
    settings=None,
    *,
    init=None,
    options: ProfileOptions | None = None,
) -> ProfileResult:
    """χ² profiled over all nuisances at fixed total CEvNS counts (jitted).

    Args:
        n_cevns: () CEvNS counts in the analysis region (NaN: free normalisation).
        spectrum: (3, n_T) recoil spectrum (sets the CEvNS shape).
        exp: the experiment.
        settings: likelihood settings (default: defaults with the CEvNS prior removed).
        init: starting nuisances (default zero).
        options: minimiser options.

    Returns:
        :class:`~cevns_jax.profile.ProfileResult`, its ``eta_cevns`` the solved value.
    """
    kind = experiment_kind(exp)
    settings = default_settings(kind).free_cevns() if settings is None else settings
    return profile(spectrum, exp, settings, init=init, cevns_counts=n_cevns, options=options)


def _profile_at(n_cevns, spectrum, exp, settings, init, options):
    return profile(spectrum, exp, settings, init=init, cevns_counts=n_cevns, options=options)


@eqx.filter_jit
def _totals(nu, spectrum, exp, settings):
    fitted = jnp.sum(components(nu, spectrum, exp, settings)["cevns"])
    return fitted, jnp.sum(counts_from_spectrum(exp, spectrum))


def _interval_side(sign, n_hat, chi2_min, spectrum, exp, settings, init, options, tol, max_iter):
    """Δχ² = 1 crossing on one side: returns (N, |Δχ² − 1|, converged, iterations)."""
    d, nu = max(math.sqrt(max(n_hat, 1.0)), 1.0), init
    for it in range(1, max_iter + 1):
        res = _profile_at(jnp.asarray(n_hat + sign * d), spectrum, exp, settings, nu, options)
        delta = float(res.value) - chi2_min
        if abs(delta - 1.0) < tol or not np.isfinite(delta):
            return n_hat + sign * d, abs(delta - 1.0), bool(res.converged), it
        d = d / math.sqrt(delta) if delta > 0.0 else 2.0 * d
        nu = res.nuisances
    return n_hat + sign * d, abs(delta - 1.0), False, max_iter


def nuisance_table(nuisances, exp: Experiment, settings) -> dict[str, dict]:
    """name -> {"value", "pull", "prior_width"} (pull = value / width, None if no prior)."""
    if experiment_kind(exp) == "csi":
        names = exp.shape_names
        values, widths = nuisances.named(names), settings.widths(len(names)).named(names)
    else:
        names = tuple(LAR_SYSTEMATICS)
        values, widths = nuisances.named(names), settings.widths(len(names)).named(names)
    out = {}
    for k, v in values.items():
        w = float(widths[k])
        finite = np.isfinite(w)
        out[k] = {
            "value": float(v),
            "pull": float(v) / w if finite else None,
            "prior_width": w if finite else None,
        }
    return out


def fit_sm(
    exp: Experiment,
    settings=None,
    *,
    model: Mediator | None = None,
    options: ProfileOptions | None = None,
    tol_interval: float = 1e-4,
    max_interval_iter: int = 30,
) -> SMFit:
    """Fit the CEvNS counts of one experiment with a free CEvNS normalisation.

    Args:
        exp: the CsI or LAr experiment.
        settings: likelihood settings (default: the defaults); the CEvNS normalisation
            prior is always removed (``settings.free_cevns()``).
        model: physics point giving the CEvNS shape (default the Standard Model).
        options: minimiser options.
        tol_interval: |Δχ²(N±) − 1| required to end the interval search.
        max_interval_iter: maximal profiles per side of the interval.

    Returns:
        :class:`SMFit`.
    """
    kind = experiment_kind(exp)
    settings = (default_settings(kind) if settings is None else settings).free_cevns()
    model = standard_model() if model is None else model
    spectrum = _spectrum(exp, model)
    init = zero_nuisances(exp)
    free = jnp.asarray(jnp.nan)
    best = _profile_at(free, spectrum, exp, settings, init, options)
    none = _profile_at(free, jnp.zeros_like(spectrum), exp, settings, init, options)
    n_hat, predicted = (float(x) for x in _totals(best.nuisances, spectrum, exp, settings))
    chi2_min, chi2_0 = float(best.value), float(none.value)
    args = (n_hat, chi2_min, spectrum, exp, settings, best.nuisances, options)
    n_lo, r_lo, c_lo, it_lo = _interval_side(-1.0, *args, tol_interval, max_interval_iter)
    n_hi, r_hi, c_hi, it_hi = _interval_side(+1.0, *args, tol_interval, max_interval_iter)
    converged = bool(best.converged) and bool(none.converged) and c_lo and c_hi
    converged = converged and max(r_lo, r_hi) < tol_interval
    return SMFit(
        experiment=exp.name,
        cevns_predicted=predicted,
        cevns_fitted=n_hat,
        cevns_fitted_err=0.5 * (n_hi - n_lo),
        cevns_fitted_err_minus=n_hat - n_lo,
        cevns_fitted_err_plus=n_hi - n_hat,
        significance_sigma=math.sqrt(max(chi2_0 - chi2_min, 0.0)),
        chi2_min=chi2_min,
        chi2_no_cevns=chi2_0,
        ndof=int(np.prod(exp.observed.shape)) - 1,
        nuisances=nuisance_table(best.nuisances, exp, settings),
        converged=converged,
        best_fit=best,
        spectrum=spectrum,
        settings=settings,
        details={
            "n_iter_best": int(best.n_iter),
            "grad_norm_best": float(best.grad_norm),
            "n_iter_no_cevns": int(none.n_iter),
            "interval_profiles": [it_lo, it_hi],
            "interval_residuals": [r_lo, r_hi],
        },
        fitted_components={
            k: np.asarray(v)
            for k, v in components(best.nuisances, spectrum, exp, settings).items()
        },
    )
