"""CsI 2021 likelihood: nuisances, their priors and the Poissonian χ² (PHYSICS.md §8).

    χ²_CsI = 2 Σ_ij [N^th_ij − N^exp_ij + N^exp_ij ln(N^exp_ij / N^th_ij)] + priors
    N^th  = (1+η_CEvNS) N^CEvNS(θ, δt_CEvNS) + (1+η_BRN) N^BRN(δt_n) + (1+η_NIN) N^NIN(δt_n)
            + (1+η_SS) N^SS

Bins with N^exp = 0 contribute exactly 2 N^th (``xlogy``). All functions are pure and
differentiable in the nuisances and in the recoil spectrum (hence in the physics
parameters); they can be jitted and vmapped by the caller.

Timing of the neutron backgrounds: the released BRN/NIN arrival-time distributions are
10-ns histograms. Shifting them by δt_n with a piecewise-linear CDF (what
:meth:`~cevns_jax.csi2021.CsIBackgrounds.neutron_templates` with ``interp="linear"``) makes χ² only C⁰ in δt_n:
its derivative jumps whenever a shifted time-bin edge crosses a 10-ns knot, which happens
at δt_n = 0 (the edges at 0, 0.25, 0.5, 1, 2, 4, 6 μs sit on knots), where the prior puts
the minimum, so no gradient-based minimiser can meet a gradient tolerance there. By
default we therefore interpolate the cumulative distribution with a monotone cubic Hermite
spline (Fritsch–Butland slopes), which passes through the same knots (the released
cumulative counts) and is C¹. ``CsISettings(neutron_interp="linear")`` selects the
released piecewise-linear form.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy
from jaxtyping import Array, Float

from ._types import float_array
from .experiment import Experiment, ShapeParams
from .rates import counts_from_spectrum

__all__ = [
    "CSI_COMPONENTS",
    "CsINuisances",
    "CsISettings",
    "components_csi",
    "gaussian_prior_chi2",
    "poisson_chi2",
    "solve_eta_cevns",
    "solved_nuisances_csi",
    "twice_nll_csi",
]

#: Components of the CsI prediction, in the order of their normalisation nuisances.
CSI_COMPONENTS = ("cevns", "brn", "nin", "ss")
#: Predicted counts are floored here inside the logarithm (only reached for unphysical
#: nuisances, e.g. η < −1 during a line search): keeps χ² finite and NaN-free.
#: Scale (events) of :func:`smooth_positive`, which keeps predicted counts positive.
POSITIVE_SCALE = 1e-5



class CsINuisances(eqx.Module):
    """Nuisance parameters of the CsI 2021 likelihood (all zero = nominal).

    Attributes:
        eta_cevns, eta_brn, eta_nin, eta_ss: () relative normalisation shifts of the CEvNS,
            beam-related-neutron, neutrino-induced-neutron and steady-state components.
        theta: (n_shape,) response shape systematics in units of their ±1σ variants, in the
            order of ``Experiment.shape_names`` (``qf0``, ``qf1``, ``eff``).
        dt_cevns: () CEvNS arrival-time offset in μs (added to the proton-pulse mean).
        dt_neutron: () common arrival-time offset of BRN and NIN in μs.
    """

    eta_cevns: Array = eqx.field(converter=float_array)
    eta_brn: Array = eqx.field(converter=float_array)
    eta_nin: Array = eqx.field(converter=float_array)
    eta_ss: Array = eqx.field(converter=float_array)
    theta: Array = eqx.field(converter=float_array)
    dt_cevns: Array = eqx.field(converter=float_array)
    dt_neutron: Array = eqx.field(converter=float_array)

    @classmethod
    def zeros(cls, n_shape: int = 3) -> "CsINuisances":
        """Nominal nuisances for an experiment with ``n_shape`` response systematics."""
        return cls(0.0, 0.0, 0.0, 0.0, jnp.zeros(n_shape), 0.0, 0.0)

    def named(self, shape_names: tuple[str, ...]) -> dict[str, Array]:
        """Flat ``name -> value`` view (``theta_<shape>``, ``dt_*_us``)."""
        out = {f"eta_{c}": getattr(self, f"eta_{c}") for c in CSI_COMPONENTS}
        out.update({f"theta_{n}": self.theta[i] for i, n in enumerate(shape_names)})
        out.update(dt_cevns_us=self.dt_cevns, dt_neutron_us=self.dt_neutron)
        return out


class CsISettings(eqx.Module):
    """Prior widths (1σ of zero-mean Gaussian priors) and options of the CsI likelihood.

    A width of ``inf`` removes the prior (flat, free parameter); see :meth:`free_cevns`.

    Attributes:
        sigma_cevns: CEvNS normalisation, 0.12 (flux 10 %, quenching, efficiency;
            PHYSICS.md §8, "verify").
        sigma_brn: BRN normalisation, 0.25.
        sigma_nin: NIN normalisation, 0.35.
        sigma_ss: steady-state normalisation, 0.021 (statistics of the AC sample).
        sigma_theta: response shape systematics, 1 (they are in units of ±1σ variants).
        sigma_dt_cevns: CEvNS timing offset, default 0.05 μs. The CsI time origin is
            itself only known from the data (Δχ² < 1 for pulse means 0.52–0.60 μs around
            the 0.565 μs default, i.e. ±0.04 μs): 50 ns allows that range at 1σ without
            letting the offset absorb a real shape mismatch.
        sigma_dt_neutron: BRN/NIN timing offset, default 0.1 μs: the LAr release's
            prompt-BRN "timing mean ±1σ" variants move the mean BRN arrival time by
            ≈ ±0.09 μs; the CsI BRN timing (also a simulation tuned to a beam-related
            measurement) is given the same freedom.
        neutron_interp: ``"hermite"`` (default, C¹ in δt_n) or ``"linear"`` (the
            released piecewise-linear shift) interpolation of the BRN/NIN time CDFs (static).
    """

    sigma_cevns: Array = eqx.field(converter=float_array, default=0.12)
    sigma_brn: Array = eqx.field(converter=float_array, default=0.25)
    sigma_nin: Array = eqx.field(converter=float_array, default=0.35)
    sigma_ss: Array = eqx.field(converter=float_array, default=0.021)
    sigma_theta: Array = eqx.field(converter=float_array, default=1.0)
    sigma_dt_cevns: Array = eqx.field(converter=float_array, default=0.05)
    sigma_dt_neutron: Array = eqx.field(converter=float_array, default=0.1)
    neutron_interp: str = eqx.field(static=True, default="hermite")

    def __check_init__(self):
        if self.neutron_interp not in ("hermite", "linear"):
            raise ValueError(
                f"neutron_interp must be 'hermite' or 'linear', got {self.neutron_interp!r}"
            )

    def widths(self, n_shape: int = 3) -> CsINuisances:
        """Prior widths as a :class:`CsINuisances` pytree (same structure as the nuisances)."""
        return CsINuisances(
            self.sigma_cevns, self.sigma_brn, self.sigma_nin, self.sigma_ss,
            jnp.broadcast_to(self.sigma_theta, (n_shape,)),
            self.sigma_dt_cevns, self.sigma_dt_neutron,
        )  # fmt: skip

    def free_cevns(self) -> "CsISettings":
        """Same settings with the CEvNS normalisation free (no prior), as COHERENT fits it."""
        return eqx.tree_at(lambda s: s.sigma_cevns, self, jnp.asarray(jnp.inf, dtype=float))


def gaussian_prior_chi2(values, widths) -> Array:
    """Σ (x/σ)² over matching pytrees; σ = inf contributes 0 (free parameter)."""
    terms = jax.tree.map(lambda x, w: jnp.sum((x / w) ** 2), values, widths)
    return jnp.sum(jnp.stack(jax.tree.leaves(terms)))


def smooth_positive(x: Array, scale: float = POSITIVE_SCALE) -> Array:
    """Smooth positive part (x + sqrt(x² + s²))/2: x + s²/(4x) for x ≫ s, → 0 below.

    The shape systematics are morphed between their ±1σ variants and extrapolated linearly
    beyond; far out (e.g. θ_eff < −1 in the lowest PE bin, where the −1σ efficiency is 0)
    a bin's prediction can turn negative. Clipping with ``max`` puts a kink in χ² that
    stalls gradient-based profiling; this keeps χ² smooth. It acts on the total prediction
    of a bin, so no normalisation nuisance can scale it up.
    """
    return 0.5 * (x + jnp.sqrt(x * x + scale * scale))


def poisson_chi2(observed: Array, expected: Array) -> Array:
    """2 Σ [μ − n + n ln(n/μ)]: Poisson deviance, exact (2μ) in bins with n = 0.

    μ is the :func:`smooth_positive` part of the prediction (a change below 3e-7/μ events
    for μ ≫ 1e-3), so unphysical (negative) predictions give a large, finite and smooth χ².
    """
    mu = smooth_positive(expected)
    ratio = jnp.where(observed > 0.0, observed / mu, 1.0)  # n/μ → 1 at n = 0: no 0/0 in grad
    return 2.0 * jnp.sum(mu - observed + xlogy(observed, ratio))


def solve_eta_cevns(eta: Array, cevns_counts, base_total: Array, shift_total) -> Array:
    """η_CEvNS such that the CEvNS component, (1+η) base + shift, totals ``cevns_counts``.

    ``cevns_counts=None`` (static) or NaN (traced) keeps ``eta``: one compiled function
    serves fits with free normalisation and fits at fixed CEvNS counts.
    """
    if cevns_counts is None:
        return eta
    target = jnp.asarray(cevns_counts, dtype=float)
    keep = jnp.isnan(target)
    base = jnp.where(base_total > 0.0, base_total, 1.0)  # double where: no 0/0 in gradients
    solved = (jnp.where(keep, 0.0, target) - shift_total) / base - 1.0
    return jnp.where(keep, eta, solved)


def _prediction_csi(nu: CsINuisances, spectrum, exp, settings, cevns_counts):
    shape = ShapeParams(nu.theta, nu.dt_cevns)
    cevns = counts_from_spectrum(exp, spectrum, shape).sum(axis=-3)
    eta_c = solve_eta_cevns(nu.eta_cevns, cevns_counts, jnp.sum(cevns), 0.0)
    brn, nin = exp.backgrounds.neutron_templates(exp, nu.dt_neutron, settings.neutron_interp)
    ss = exp.backgrounds.templates(exp, 0.0)["ss"]
    comps = {
        "cevns": (1.0 + eta_c) * cevns,
        "brn": (1.0 + nu.eta_brn) * brn,
        "nin": (1.0 + nu.eta_nin) * nin,
        "ss": (1.0 + nu.eta_ss) * ss,
    }
    return comps, eqx.tree_at(lambda n: n.eta_cevns, nu, eta_c)


def components_csi(
    nuisances: CsINuisances,
    spectrum: Float[Array, "3 nT"],
    exp: Experiment,
    settings: CsISettings | None = None,
    *,
    cevns_counts=None,
) -> dict[str, Float[Array, "ne nt"]]:
    """Predicted counts of each component at the given nuisances (normalisations applied).

    Args:
        nuisances: CsI nuisances.
        spectrum: (3 sources, n_T) CEvNS counts per recoil cell
            (:func:`cevns_jax.rates.recoil_spectrum`).
        exp: the CsI experiment.
        settings: :class:`CsISettings` (only ``neutron_interp`` is used).
        cevns_counts: optional () total CEvNS counts; if given (and not NaN), η_CEvNS is
            replaced by the value giving that total (see :func:`solve_eta_cevns`).

    Returns:
        ``{"cevns", "brn", "nin", "ss"}`` -> (n_e, n_t) counts.
    """
    settings = CsISettings() if settings is None else settings
    return _prediction_csi(nuisances, spectrum, exp, settings, cevns_counts)[0]


def twice_nll_csi(
    nuisances: CsINuisances,
    spectrum: Float[Array, "3 nT"],
    exp: Experiment,
    settings: CsISettings | None = None,
    *,
    cevns_counts=None,
) -> Array:
    """χ²_CsI (PHYSICS.md §8): Poisson deviance of the observed counts plus Gaussian priors.

    Args:
        nuisances: CsI nuisances.
        spectrum: (3 sources, n_T) CEvNS counts per recoil cell at the physics point.
        exp: the CsI experiment (``build_csi2021``).
        settings: prior widths and options (default :class:`CsISettings`).
        cevns_counts: optional () total CEvNS counts fixing η_CEvNS (NaN: free), as in
            :func:`components_csi`; the prior then applies to the solved η_CEvNS.

    Returns:
        () χ² (−2 ln L up to a data-only constant; 0 for a perfect fit with no pulls).
    """
    settings = CsISettings() if settings is None else settings
    comps, nu = _prediction_csi(nuisances, spectrum, exp, settings, cevns_counts)
    expected = sum(comps.values())
    priors = gaussian_prior_chi2(nu, settings.widths(nu.theta.shape[0]))
    return poisson_chi2(exp.observed, expected) + priors


def solved_nuisances_csi(nuisances, spectrum, exp, settings=None, *, cevns_counts=None):
    """The nuisances with η_CEvNS replaced as :func:`components_csi` does."""
    settings = CsISettings() if settings is None else settings
    return _prediction_csi(nuisances, spectrum, exp, settings, cevns_counts)[1]
