"""Cryo-CsI likelihood: Poisson χ² in energy bins (time integrated) against Asimov data.

    χ² = 2 Σ_i [N^th_i − N^A_i + N^A_i ln(N^A_i / N^th_i)] + priors
    N^th = a_CEvNS N^CEvNS(θ_qf) + a_BRN N^BRN + a_SS N^SS + a_noise N^noise

with N^A the Asimov data (:attr:`Experiment.observed` of a Cryo-CsI experiment: the SM
expectation with nominal backgrounds), so that χ²(SM) = 0 and a profiled χ² is directly the
expected Δχ². Nuisances (vector order): ``norm_cevns`` (prior: the design's flux
normalisation uncertainty), ``norm_brn``, ``norm_ss``, ``norm_noise`` (factors, priors in
:class:`CryoSettings`) and ``theta_qf`` (quenching, in units of its ±1σ variants).

The time axis is integrated over the 0-6 μs window: the signal (:meth:`signal`) folds each
source's arrival-time fraction in the window into its energy spectrum, per response
variant: (n_var, n_e), linear in the recoil spectrum as the engine requires. The profile
uses the generic autodiff derivatives of :class:`~cevns_jax.likelihood.AbstractLikelihood`
(five nuisances: cheap).
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._types import float_array
from .experiment import Experiment
from .likelihood import AbstractLikelihood
from .profile import AbstractSolver, DampedNewton
from .rates import morph, time_fractions
from .stats import poisson_chi2, poisson_chi2_derivatives

__all__ = ["CRYO_COMPONENTS", "CryoLikelihood", "CryoSettings"]

#: Components of the prediction, in the order of their normalisation factors.
CRYO_COMPONENTS = ("cevns", "brn", "ss", "noise")


class CryoSettings(eqx.Module):
    """Prior widths of the Cryo-CsI background normalisations and the quenching shape.

    The CEvNS normalisation prior is the design's ``flux_norm_unc`` (it belongs to the run:
    how long the D₂O flux detector has run), read from the experiment.

    Attributes:
        sigma_brn: BRN normalisation, 0.25 (as CsI 2021).
        sigma_ss: steady-state normalisation, 0.02 (measured off-beam with ≥ the same live
            time; CsI 2021: 0.021).
        sigma_noise: noise normalisation, 0.1 (measured off-beam, threshold dependence
            uncertain).
        sigma_theta: quenching shape, 1 (units of its ±1σ variants).
    """

    sigma_brn: Array = eqx.field(converter=float_array, default=0.25)
    sigma_ss: Array = eqx.field(converter=float_array, default=0.02)
    sigma_noise: Array = eqx.field(converter=float_array, default=0.1)
    sigma_theta: Array = eqx.field(converter=float_array, default=1.0)


class CryoLikelihood(AbstractLikelihood):
    """The Cryo-CsI Asimov χ² (final).

    Attributes:
        experiment: a Cryo-CsI experiment (:func:`cevns_jax.cryo_csi.build_cryo_experiment`).
        settings: :class:`CryoSettings`.
        time_fraction: (3,) fraction of each source's neutrinos in the time window.
        solver: the profiler (default :class:`~cevns_jax.profile.DampedNewton`, 30 steps,
            tolerance 1e-4 on the scaled gradient: with ~4e5 Asimov events the deviance is
            computed to ~1e-11 only, which floors the gradient near 1e-5; at 1e-4 the χ² is
            within ~1e-8 of its minimum).
    """

    experiment: Experiment
    settings: CryoSettings
    time_fraction: Array
    solver: AbstractSolver
    log_cevns = True
    component_labels = {"cevns": "CEvNS", "brn": "BRN", "ss": "steady state", "noise": "noise"}

    def __init__(
        self,
        experiment: Experiment,
        settings: CryoSettings | None = None,
        solver: AbstractSolver | None = None,
    ):
        self.experiment = experiment
        self.settings = CryoSettings() if settings is None else settings
        self.time_fraction = time_fractions(experiment, jnp.zeros(()))[:, 0]
        self.solver = DampedNewton(steps=30, tol=1e-4) if solver is None else solver

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"norm_{k}" for k in CRYO_COMPONENTS) + ("theta_qf",)

    def nominal(self) -> Array:
        return jnp.array([1.0, 1.0, 1.0, 1.0, 0.0])

    def widths(self) -> Array:
        s = self.settings
        flux = self.experiment.backgrounds.design.flux_norm_unc
        return jnp.stack([flux, s.sigma_brn, s.sigma_ss, s.sigma_noise, s.sigma_theta])

    def signal(self, spectrum: Float[Array, "... 3 nT"]) -> Float[Array, "... nv ne"]:
        """CEvNS counts in the window per response variant, (..., n_var, n_e)."""
        return jnp.einsum(
            "...st,vte,s->...ve", spectrum, self.experiment.response, self.time_fraction
        )

    def components(self, nu: Array, signal: Array) -> dict[str, Array]:
        bkg = self.experiment.backgrounds
        cevns = morph(nu[4:5], signal[0], signal[1::2], signal[2::2])[:, None]
        return {
            "cevns": nu[0] * cevns,
            "brn": nu[1] * bkg.brn,
            "ss": nu[2] * bkg.ss,
            "noise": nu[3] * bkg.noise,
        }

    def subtracted_variance(self) -> Array:
        """Variance of the (Asimov) data minus steady state: the Poisson variance of the
        data (the steady state is taken as measured with much larger live time)."""
        return self.experiment.observed

    def data_chi2(self, expected: Array) -> Array:
        return poisson_chi2(self.experiment.observed, expected)

    def data_derivatives(self, expected: Array) -> tuple[Array, Array, Array]:
        return poisson_chi2_derivatives(self.experiment.observed, expected)
