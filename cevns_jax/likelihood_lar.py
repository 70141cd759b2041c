"""LAr 2020 likelihood: Gaussian χ² with normalisation and released shape systematics.

    χ²_Ar = Σ_ij (N^exp_ij − Σ_z (a_z + Σ_l ε_l r_l,ij) N^z_ij)² / σ_ij²
            + Σ_z ((a_z − 1)/σ_z)² + Σ_l ε_l²
    r_l,ij = (N^sys_l,ij − N^CV_z(l),ij) / N^CV_z(l),ij,     σ_ij² = N^exp_ij + N^SS_ij / 5

z ∈ {CEvNS, prompt BRN, delayed BRN, SS} with factors a_z (nominal 1); l runs over the
released shape systematics (:data:`cevns_jax.lar2020.LAR_SYSTEMATICS`, one ε each), each a
relative shift of its component with respect to that component's released central value.
The CEvNS shifts are relative to the *released* CEvNS template and applied to *our*
prediction; where the central value is 0 the shift is 0. Binned in (E_ee, t), F90 summed.

The prediction is linear in all 12 nuisances, so χ² is exactly quadratic and the profile
is one linear solve (:class:`~cevns_jax.profile.ExactQuadratic`).
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._types import float_array
from .experiment import Experiment
from .lar2020 import LAR_SYSTEMATICS
from .likelihood import AbstractLikelihood
from .profile import AbstractSolver, ExactQuadratic
from .rates import counts_from_spectrum
from .stats import gaussian_chi2, gaussian_chi2_derivatives

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
    """

    sigma_cevns: Array = eqx.field(converter=float_array, default=0.13)
    sigma_brn_prompt: Array = eqx.field(converter=float_array, default=0.32)
    sigma_brn_delayed: Array = eqx.field(converter=float_array, default=1.0)
    sigma_ss: Array = eqx.field(converter=float_array, default=0.0079)
    sigma_eps: Array = eqx.field(converter=float_array, default=1.0)
    ss_sample_ratio: Array = eqx.field(converter=float_array, default=5.0)
    systematics: Array = eqx.field(converter=float_array, default=(1.0,) * len(LAR_SYSTEMATICS))
    cevns_shift_relative: Array = eqx.field(converter=float_array, default=1.0)

    def __check_init__(self):
        if self.systematics.shape != (len(LAR_SYSTEMATICS),):
            raise ValueError(
                f"systematics must hold {len(LAR_SYSTEMATICS)} flags (one per "
                f"{', '.join(LAR_SYSTEMATICS)}), got shape {self.systematics.shape}"
            )

    def free_cevns(self) -> "LArSettings":
        """Same settings with the CEvNS normalisation free (no prior), as COHERENT fits it."""
        return eqx.tree_at(lambda s: s.sigma_cevns, self, jnp.asarray(jnp.inf, dtype=float))


def _released_shifts(exp: Experiment) -> tuple[Array, Array]:
    """(N^sys_l − N^CV, N^CV) of each released systematic and its component's released
    central value, (n_sys, n_e, n_t) each."""
    bkg = exp.backgrounds
    tpl = bkg.templates(exp)
    cv = jnp.stack([bkg.cevns_released()] + [tpl[c] for c in LAR_COMPONENTS[1:]])
    cv_l = cv[_SYS_COMPONENT]
    return bkg.systematics() - cv_l, cv_l


def lar_relative_shifts(exp: Experiment) -> Float[Array, "nsys ne nt"]:
    """r_l = (N^sys_l − N^CV)/N^CV of each released systematic w.r.t. its component's
    released central value (0 where the central value is 0)."""
    diff, cv_l = _released_shifts(exp)
    pos = cv_l > 0.0
    return jnp.where(pos, diff / jnp.where(pos, cv_l, 1.0), 0.0)


class LArLikelihood(AbstractLikelihood):
    """The LAr 2020 χ² (final).

    Attributes:
        experiment: the LAr experiment (:func:`cevns_jax.lar2020.build_lar2020`).
        settings: :class:`LArSettings`.
        solver: the profiler (default :class:`~cevns_jax.profile.ExactQuadratic`).
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
        self.solver = ExactQuadratic() if solver is None else solver

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

    def signal(self, spectrum: Float[Array, "... 3 nT"]) -> Float[Array, "... ne nt"]:
        """CEvNS counts in the (E_ee, t) bins, summed over sources, (..., n_e, n_t)."""
        return counts_from_spectrum(self.experiment, spectrum).sum(axis=-3)

    def variance(self) -> Array:
        """σ_ij² = N^exp + N^SS / ratio (floored at :data:`SIGMA2_FLOOR`), (n_e, n_t)."""
        exp = self.experiment
        ss = exp.backgrounds.templates(exp)["ss"]
        return jnp.maximum(exp.observed + ss / self.settings.ss_sample_ratio, SIGMA2_FLOOR)

    def _templates(self, signal: Array) -> tuple[Array, Array]:
        """(4, n_e, n_t) nominal components and (n_sys, n_e, n_t) shifted components
        r_l N^z(l) (what each ε_l adds per unit; for CEvNS, blended with the released
        absolute shift by ``cevns_shift_relative``; 0 for a systematic switched off)."""
        exp = self.experiment
        s = self.settings
        tpl = exp.backgrounds.templates(exp)
        nominal = jnp.stack([signal] + [tpl[c] for c in LAR_COMPONENTS[1:]])
        relative = lar_relative_shifts(exp) * nominal[_SYS_COMPONENT]
        w = jnp.where(jnp.asarray(_SYS_COMPONENT == 0)[:, None, None], s.cevns_shift_relative, 1.0)
        shifted = w * relative + (1.0 - w) * _released_shifts(exp)[0]
        return nominal, s.systematics[:, None, None] * shifted

    def components(self, nu: Array, signal: Array) -> dict[str, Array]:
        nominal, shifted = self._templates(signal)
        onehot = jnp.asarray(_SYS_COMPONENT[:, None] == np.arange(len(LAR_COMPONENTS)), float)
        scaled = nu[:4, None, None] * nominal + jnp.einsum(
            "l,lz,lij->zij", nu[4:], onehot, shifted
        )
        return dict(zip(LAR_COMPONENTS, scaled, strict=True))

    def linearize(self, nu: Array, signal: Array) -> tuple[Array, Array]:
        """The prediction is linear: μ = Σ_k ν_k J_k with J = [N^z ..., r_l N^z(l) ...]."""
        nominal, shifted = self._templates(signal)
        jac = jnp.concatenate([nominal, shifted])  # (12, n_e, n_t)
        return jnp.sum(nu[:, None, None] * jac, axis=0), jac

    def curvature(self, nu: Array, signal: Array, weights: Array) -> Array:
        """Zero: the prediction is linear in the nuisances."""
        return jnp.zeros((nu.shape[0], nu.shape[0]), dtype=nu.dtype)

    def subtracted_variance(self) -> Array:
        """Variance of data − steady state: the χ²'s own σ_ij²."""
        return self.variance()

    def data_chi2(self, expected: Array) -> Array:
        return gaussian_chi2(self.experiment.observed, expected, self.variance())

    def data_derivatives(self, expected: Array) -> tuple[Array, Array, Array]:
        return gaussian_chi2_derivatives(self.experiment.observed, expected, self.variance())
