"""LAr 2020 likelihood: Gaussian (or Poisson) χ² with normalisations and released shape
systematics, binned in (E_ee, t) with F90 integrated, or in the released (E_ee, F90, t).

    χ²_Ar = Σ_b (N^exp_b − μ_b)² / σ_b² + Σ_z ((a_z − 1)/σ_z)² + Σ_l ε_l²
    μ_b = Σ_z (a_z + Σ_l ε_l r_l,b) N^z_b
    r_l,b = (N^sys_l,b − N^CV_z(l),b) / N^CV_z(l),b,     σ_b² = N^exp_b + N^SS_b / 5

z ∈ {CEvNS, prompt BRN, delayed BRN, SS} with factors a_z (nominal 1); l runs over the
released shape systematics (:data:`cevns_jax.lar2020.LAR_SYSTEMATICS`, one ε each), each a
relative shift of its component with respect to that component's released central value.
The CEvNS shifts are relative to the *released* CEvNS template and applied to *our*
prediction; where the central value is 0 the shift is 0.

Bins b: (E_ee, t) with F90 summed (default, as docs/physics.md §8 reads arXiv:2202.11002),
or, with ``f90_binned``, the release's 12 × 8 × 10 (E_ee, F90, t) bins, our CEvNS
prediction spread over F90 with the released CEvNS template's F90 shape per energy bin
(:meth:`~cevns_jax.lar2020.LArBackgrounds.cevns_3d`) and backgrounds, systematics and data
from the released 3D histograms. With ``poisson`` the data term is the Poisson deviance
2 Σ_b [μ_b − N_b + N_b ln(N_b/μ_b)] instead (no σ_b): the Gaussian σ_b² = N^exp_b + N^SS_b/5
is not a variance estimate where counts are few (153 of the 960 3D bins are empty and
718 hold < 5 events: an empty bin would get σ² = N^SS/5 < 2 and pull μ towards 0).

The prediction is linear in all 12 nuisances, so the Gaussian χ² is exactly quadratic and
the profile is one linear solve (:class:`~cevns_jax.profile.ExactQuadratic`); the Poisson
deviance is convex in them and profiled by :class:`~cevns_jax.profile.DampedNewton`.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._types import float_array
from .experiment import Experiment
from .lar2020 import LAR_SYSTEMATICS
from .likelihood import AbstractLikelihood
from .profile import AbstractSolver, DampedNewton, ExactQuadratic
from .rates import counts_from_spectrum
from .stats import (
    gaussian_chi2,
    gaussian_chi2_derivatives,
    poisson_chi2,
    poisson_chi2_derivatives,
)

__all__ = ["LAR_COMPONENTS", "LArLikelihood", "LArSettings"]

#: Components of the LAr prediction, in the order of their normalisation factors.
LAR_COMPONENTS = ("cevns", "brn_prompt", "brn_delayed", "ss")
#: Component index (into LAR_COMPONENTS) that each released systematic acts on.
_SYS_COMPONENT = np.array([LAR_COMPONENTS.index(comp) for comp, _ in LAR_SYSTEMATICS.values()])
#: σ_ij² is floored here (counts²) so that a bin with no data and no SS cannot divide by
#: zero; never reached with the 2020 release (every bin has data).
SIGMA2_FLOOR = 1.0


class LArSettings(eqx.Module):
    """Prior widths (1σ of Gaussian priors) and options of the LAr likelihood.

    Attributes:
        sigma_cevns: CEvNS normalisation, 0.13.
        sigma_brn_prompt: prompt BRN normalisation, 0.32.
        sigma_brn_delayed: delayed BRN normalisation, 1.0.
        sigma_ss: steady-state normalisation, 0.0079.
        sigma_eps: released shape systematics, 1.
        ss_sample_ratio: beam-off SS sample size relative to the beam-on live time; the SS
            template adds N^SS/ratio to the variance σ_ij² (default 5; ``inf`` gives
            σ_ij² = N^exp, the data's Poisson variance alone).
        systematics: (n_sys,) 1 or 0 per released shape systematic, in the order of
            :data:`cevns_jax.lar2020.LAR_SYSTEMATICS`: whether it enters (default all).
        cevns_shift_relative: 1 (default) applies the CEvNS shape systematics as relative
            shifts r_l (w.r.t. the released CEvNS template) times *our* CEvNS prediction;
            0 adds the released absolute shifts N^sys_l − N^CV (independent of our
            prediction, so they do not scale with a mediator's signal). Values in between
            interpolate.
        f90_binned: (static) fit the release's (E_ee, F90, t) bins instead of (E_ee, t)
            with F90 summed (default ``False``).
        poisson: (static) Poisson deviance instead of the Gaussian χ² (default ``False``;
            ``ss_sample_ratio`` then does not enter); profiled by DampedNewton.
    """

    sigma_cevns: Array = eqx.field(converter=float_array, default=0.13)
    sigma_brn_prompt: Array = eqx.field(converter=float_array, default=0.32)
    sigma_brn_delayed: Array = eqx.field(converter=float_array, default=1.0)
    sigma_ss: Array = eqx.field(converter=float_array, default=0.0079)
    sigma_eps: Array = eqx.field(converter=float_array, default=1.0)
    ss_sample_ratio: Array = eqx.field(converter=float_array, default=5.0)
    systematics: Array = eqx.field(converter=float_array, default=(1.0,) * len(LAR_SYSTEMATICS))
    cevns_shift_relative: Array = eqx.field(converter=float_array, default=1.0)
    f90_binned: bool = eqx.field(static=True, default=False)
    poisson: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if self.systematics.shape != (len(LAR_SYSTEMATICS),):
            raise ValueError(
                f"systematics must hold {len(LAR_SYSTEMATICS)} flags (one per "
                f"{', '.join(LAR_SYSTEMATICS)}), got shape {self.systematics.shape}"
            )

    def free_cevns(self) -> "LArSettings":
        """Same settings with the CEvNS normalisation free (no prior), as COHERENT fits it."""
        return eqx.tree_at(lambda s: s.sigma_cevns, self, jnp.asarray(jnp.inf, dtype=float))


def _relative(diff: Array, cv: Array) -> Array:
    """r = diff / cv (0 where the central value cv is 0)."""
    pos = cv > 0.0
    return jnp.where(pos, diff / jnp.where(pos, cv, 1.0), 0.0)


class LArLikelihood(AbstractLikelihood):
    """The LAr 2020 χ² (final).

    Attributes:
        experiment: the LAr experiment (:func:`cevns_jax.lar2020.build_lar2020`).
        settings: :class:`LArSettings`.
        solver: the profiler (default :class:`~cevns_jax.profile.ExactQuadratic`; with
            ``settings.poisson`` :class:`~cevns_jax.profile.DampedNewton`).
    """

    experiment: Experiment
    settings: LArSettings
    solver: AbstractSolver
    log_cevns = False
    component_labels = {
        "cevns": "CEvNS", "brn_prompt": "prompt BRN", "brn_delayed": "delayed BRN",
        "ss": "steady state",
    }  # fmt: skip

    def __init__(
        self,
        experiment: Experiment,
        settings: LArSettings | None = None,
        solver: AbstractSolver | None = None,
    ):
        self.experiment = experiment
        self.settings = LArSettings() if settings is None else settings
        if solver is None:
            solver = DampedNewton() if self.settings.poisson else ExactQuadratic()
        self.solver = solver

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"norm_{c}" for c in LAR_COMPONENTS) + tuple(
            f"eps_{n}" for n in LAR_SYSTEMATICS
        )

    def nominal(self) -> Array:
        return jnp.concatenate([jnp.ones(4), jnp.zeros(len(LAR_SYSTEMATICS))])

    def widths(self) -> Array:
        s = self.settings
        return jnp.concatenate([
            jnp.stack([s.sigma_cevns, s.sigma_brn_prompt, s.sigma_brn_delayed, s.sigma_ss]),
            jnp.broadcast_to(s.sigma_eps, (len(LAR_SYSTEMATICS),)),
        ])  # fmt: skip

    def signal(self, spectrum: Float[Array, "... 3 nT"]) -> Array:
        """CEvNS counts in the analysis bins, summed over sources: (..., n_e, n_t), or
        (..., n_e, n_f90, n_t) with ``f90_binned``."""
        counts = counts_from_spectrum(self.experiment, spectrum).sum(axis=-3)
        if self.settings.f90_binned:
            return self.experiment.backgrounds.cevns_3d(counts)
        return counts

    def observed(self) -> Array:
        """The observed counts in the analysis bins (see :meth:`signal`)."""
        exp = self.experiment
        return exp.backgrounds.observed_3d if self.settings.f90_binned else exp.observed

    def _release(self) -> tuple[Array, Array, Array]:
        """Released (3, *bins) backgrounds, (*bins) CEvNS template and (n_sys, *bins)
        systematic variants in the analysis bins (summed over F90 unless ``f90_binned``)."""
        bkg = self.experiment.backgrounds
        arrays = (bkg.nominal_3d, bkg.cevns_released_3d, bkg.systematics_3d)
        if self.settings.f90_binned:
            return arrays
        return tuple(jnp.sum(x, axis=-2) for x in arrays)

    def variance(self) -> Array:
        """σ_b² = N^exp + N^SS / ratio (floored at :data:`SIGMA2_FLOOR`), (*bins)."""
        ss = self._release()[0][LAR_COMPONENTS.index("ss") - 1]
        return jnp.maximum(self.observed() + ss / self.settings.ss_sample_ratio, SIGMA2_FLOOR)

    def _templates(self, signal: Array) -> tuple[Array, Array]:
        """(4, *bins) nominal components and (n_sys, *bins) shifted components
        r_l N^z(l) (what each ε_l adds per unit; for CEvNS, blended with the released
        absolute shift by ``cevns_shift_relative``; 0 for a systematic switched off)."""
        s = self.settings
        backgrounds, cevns_released, systematics = self._release()
        nominal = jnp.concatenate([signal[None], backgrounds])
        cv = jnp.concatenate([cevns_released[None], backgrounds])[_SYS_COMPONENT]
        diff = systematics - cv
        relative = _relative(diff, cv) * nominal[_SYS_COMPONENT]
        w = jnp.where(jnp.asarray(_SYS_COMPONENT == 0), s.cevns_shift_relative, 1.0)
        w = w.reshape((-1,) + (1,) * (signal.ndim))
        shifted = w * relative + (1.0 - w) * diff
        return nominal, s.systematics.reshape(w.shape) * shifted

    def components(self, nu: Array, signal: Array) -> dict[str, Array]:
        nominal, shifted = self._templates(signal)
        onehot = jnp.asarray(_SYS_COMPONENT[:, None] == np.arange(len(LAR_COMPONENTS)), float)
        bins = (1,) * signal.ndim
        scaled = nu[:4].reshape((-1, *bins)) * nominal + jnp.einsum(
            "l,lz,l...->z...", nu[4:], onehot, shifted
        )
        return dict(zip(LAR_COMPONENTS, scaled, strict=True))

    def linearize(self, nu: Array, signal: Array) -> tuple[Array, Array]:
        """The prediction is linear: μ = Σ_k ν_k J_k with J = [N^z ..., r_l N^z(l) ...]."""
        nominal, shifted = self._templates(signal)
        jac = jnp.concatenate([nominal, shifted])  # (12, *bins)
        return jnp.sum(nu.reshape((-1,) + (1,) * signal.ndim) * jac, axis=0), jac

    def curvature(self, nu: Array, signal: Array, weights: Array) -> Array:
        """Zero: the prediction is linear in the nuisances."""
        return jnp.zeros((nu.shape[0], nu.shape[0]), dtype=nu.dtype)

    def subtracted_variance(self) -> Array:
        """Variance of data − steady state: the Gaussian χ²'s own σ_b²."""
        return self.variance()

    def data_chi2(self, expected: Array) -> Array:
        if self.settings.poisson:
            return poisson_chi2(self.observed(), expected)
        return gaussian_chi2(self.observed(), expected, self.variance())

    def data_derivatives(self, expected: Array) -> tuple[Array, Array, Array]:
        if self.settings.poisson:
            return poisson_chi2_derivatives(self.observed(), expected)
        return gaussian_chi2_derivatives(self.observed(), expected, self.variance())

    def replace_settings(self, settings: LArSettings) -> "LArLikelihood":
        """The same likelihood with other settings; the solver follows ``poisson`` when it
        changes (ExactQuadratic is exact only for the Gaussian χ²)."""
        if settings.poisson == self.settings.poisson:
            return super().replace_settings(settings)
        return LArLikelihood(self.experiment, settings)
