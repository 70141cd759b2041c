"""LAr 2020 likelihood: nuisances, their priors and the Gaussian χ² (PHYSICS.md §8).

    χ²_Ar = Σ_ij (N^exp_ij − Σ_z (1 + η_z + Σ_l ε_l r_l,ij) N^z_ij)² / σ_ij²
            + Σ_z (η_z/σ_z)² + Σ_l ε_l²
    r_l,ij = (N^sys_l,ij − N^CV_z(l),ij) / N^CV_z(l),ij,     σ_ij² = N^exp_ij + N^SS_ij / 5

z ∈ {CEvNS, prompt BRN, delayed BRN, SS}; l runs over the released shape systematics
(:data:`cevns_jax.lar2020.LAR_SYSTEMATICS`, one ε each), each acting on its component as
a relative shift with respect to that component's released central value. The CEvNS
shifts are taken relative to the *released* CEvNS template and applied to *our* CEvNS
prediction; where the central value is 0 the relative shift is set to 0. Everything is
binned in (E_ee, t) with F90 summed over.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._types import float_array
from .experiment import Experiment
from .lar2020 import LAR_SYSTEMATICS
from .likelihood_csi import gaussian_prior_chi2, solve_eta_cevns
from .rates import counts_from_spectrum

__all__ = [
    "LAR_COMPONENTS",
    "LArNuisances",
    "LArSettings",
    "components_lar",
    "lar_relative_shifts",
    "lar_variance",
    "solved_nuisances_lar",
    "twice_nll_lar",
]

#: Components of the LAr prediction, in the order of their normalisation nuisances.
LAR_COMPONENTS = ("cevns", "brn_prompt", "brn_delayed", "ss")
#: Component index (into LAR_COMPONENTS) that each released systematic acts on.
_SYS_COMPONENT = np.array([LAR_COMPONENTS.index(comp) for comp, _ in LAR_SYSTEMATICS.values()])
#: σ_ij² is floored at this value (counts²) so that a bin with no data and no SS would not
#: divide by zero; never reached with the 2020 release (every bin has data).
SIGMA2_FLOOR = 1.0



class LArNuisances(eqx.Module):
    """Nuisance parameters of the LAr 2020 likelihood (all zero = nominal).

    Attributes:
        eta_cevns, eta_brn_prompt, eta_brn_delayed, eta_ss: () relative normalisation shifts.
        eps: (n_sys,) released shape systematics in units of their ±1σ variants, in the
            order of :data:`cevns_jax.lar2020.LAR_SYSTEMATICS`.
    """

    eta_cevns: Array = eqx.field(converter=float_array)
    eta_brn_prompt: Array = eqx.field(converter=float_array)
    eta_brn_delayed: Array = eqx.field(converter=float_array)
    eta_ss: Array = eqx.field(converter=float_array)
    eps: Array = eqx.field(converter=float_array)

    @classmethod
    def zeros(cls, n_sys: int = len(LAR_SYSTEMATICS)) -> "LArNuisances":
        """Nominal nuisances."""
        return cls(0.0, 0.0, 0.0, 0.0, jnp.zeros(n_sys))

    def named(self, sys_names: tuple[str, ...] = tuple(LAR_SYSTEMATICS)) -> dict[str, Array]:
        """Flat ``name -> value`` view (``eps_<systematic>``)."""
        out = {f"eta_{c}": getattr(self, f"eta_{c}") for c in LAR_COMPONENTS}
        out.update({f"eps_{n}": self.eps[i] for i, n in enumerate(sys_names)})
        return out


class LArSettings(eqx.Module):
    """Prior widths (1σ of zero-mean Gaussian priors) and options of the LAr likelihood.

    A width of ``inf`` removes the prior (flat, free parameter); see :meth:`free_cevns`.

    Attributes:
        sigma_cevns: CEvNS normalisation, 0.13 (PHYSICS.md §8).
        sigma_brn_prompt: prompt BRN normalisation, 0.32.
        sigma_brn_delayed: delayed BRN normalisation, 1.0.
        sigma_ss: steady-state normalisation, 0.0079.
        sigma_eps: released shape systematics, 1.
        ss_sample_ratio: beam-off SS sample size relative to the beam-on live time; the SS
            template adds N^SS/ratio to the variance σ_ij² (default 5, PHYSICS.md §8).
    """

    sigma_cevns: Array = eqx.field(converter=float_array, default=0.13)
    sigma_brn_prompt: Array = eqx.field(converter=float_array, default=0.32)
    sigma_brn_delayed: Array = eqx.field(converter=float_array, default=1.0)
    sigma_ss: Array = eqx.field(converter=float_array, default=0.0079)
    sigma_eps: Array = eqx.field(converter=float_array, default=1.0)
    ss_sample_ratio: Array = eqx.field(converter=float_array, default=5.0)

    def widths(self, n_sys: int = len(LAR_SYSTEMATICS)) -> LArNuisances:
        """Prior widths as a :class:`LArNuisances` pytree."""
        return LArNuisances(
            self.sigma_cevns, self.sigma_brn_prompt, self.sigma_brn_delayed, self.sigma_ss,
            jnp.broadcast_to(self.sigma_eps, (n_sys,)),
        )  # fmt: skip

    def free_cevns(self) -> "LArSettings":
        """Same settings with the CEvNS normalisation free (no prior), as COHERENT fits it."""
        return eqx.tree_at(lambda s: s.sigma_cevns, self, jnp.asarray(jnp.inf, dtype=float))


def lar_relative_shifts(exp: Experiment) -> Float[Array, "nsys ne nt"]:
    """r_l = (N^sys_l − N^CV)/N^CV of each released systematic w.r.t. its component's
    released central value (0 where the central value is 0)."""
    bkg = exp.backgrounds
    tpl = bkg.templates(exp)
    cv = jnp.stack([bkg.cevns_released()] + [tpl[c] for c in LAR_COMPONENTS[1:]])
    cv_l = cv[_SYS_COMPONENT]
    pos = cv_l > 0.0
    return jnp.where(pos, (bkg.systematics() - cv_l) / jnp.where(pos, cv_l, 1.0), 0.0)


def _prediction_lar(nu: LArNuisances, spectrum, exp, cevns_counts):
    tpl = exp.backgrounds.templates(exp)
    nominal = jnp.stack(
        [counts_from_spectrum(exp, spectrum).sum(axis=-3)] + [tpl[c] for c in LAR_COMPONENTS[1:]]
    )  # (4, n_e, n_t)
    onehot = jnp.asarray(_SYS_COMPONENT[:, None] == np.arange(len(LAR_COMPONENTS)), dtype=float)
    shift = jnp.einsum("l,lz,lij->zij", nu.eps, onehot, lar_relative_shifts(exp))
    eta_c = solve_eta_cevns(
        nu.eta_cevns, cevns_counts, jnp.sum(nominal[0]), jnp.sum(shift[0] * nominal[0])
    )
    eta = jnp.stack([eta_c, nu.eta_brn_prompt, nu.eta_brn_delayed, nu.eta_ss])
    scaled = (1.0 + eta[:, None, None] + shift) * nominal
    comps = dict(zip(LAR_COMPONENTS, scaled, strict=True))
    return comps, eqx.tree_at(lambda n: n.eta_cevns, nu, eta_c)


def components_lar(
    nuisances: LArNuisances,
    spectrum: Float[Array, "3 nT"],
    exp: Experiment,
    settings=None,
    *,
    cevns_counts=None,
) -> dict[str, Float[Array, "ne nt"]]:
    """Predicted counts of each component, (1 + η_z + Σ_l ε_l r_l) N^z, in (E_ee, t).

    Args:
        nuisances: LAr nuisances.
        spectrum: (3 sources, n_T) CEvNS counts per recoil cell at the physics point.
        exp: the LAr experiment (``build_lar2020``).
        settings: unused (accepted for symmetry with :func:`components_csi`).
        cevns_counts: optional () total CEvNS counts fixing η_CEvNS (NaN: free); see
            :func:`~cevns_jax.likelihood_csi.solve_eta_cevns`.

    Returns:
        ``{"cevns", "brn_prompt", "brn_delayed", "ss"}`` -> (n_e, n_t) counts.
    """
    del settings
    return _prediction_lar(nuisances, spectrum, exp, cevns_counts)[0]


def solved_nuisances_lar(nuisances, spectrum, exp, settings=None, *, cevns_counts=None):
    """The nuisances with η_CEvNS replaced as :func:`components_lar` does."""
    del settings
    return _prediction_lar(nuisances, spectrum, exp, cevns_counts)[1]


def lar_variance(exp: Experiment, settings: LArSettings | None = None) -> Array:
    """σ_ij² = N^exp + N^SS / ratio (floored at :data:`SIGMA2_FLOOR`), (n_e, n_t)."""
    settings = LArSettings() if settings is None else settings
    ss = exp.backgrounds.templates(exp)["ss"]
    return jnp.maximum(exp.observed + ss / settings.ss_sample_ratio, SIGMA2_FLOOR)


def twice_nll_lar(
    nuisances: LArNuisances,
    spectrum: Float[Array, "3 nT"],
    exp: Experiment,
    settings: LArSettings | None = None,
    *,
    cevns_counts=None,
) -> Array:
    """χ²_Ar (PHYSICS.md §8): Gaussian least squares plus priors.

    Args:
        nuisances: LAr nuisances.
        spectrum: (3 sources, n_T) CEvNS counts per recoil cell at the physics point.
        exp: the LAr experiment.
        settings: prior widths and options (default :class:`LArSettings`).
        cevns_counts: optional () total CEvNS counts fixing η_CEvNS (NaN: free); the
            prior then applies to the solved η_CEvNS.

    Returns:
        () χ².
    """
    settings = LArSettings() if settings is None else settings
    comps, nu = _prediction_lar(nuisances, spectrum, exp, cevns_counts)
    resid2 = (exp.observed - sum(comps.values())) ** 2 / lar_variance(exp, settings)
    priors = gaussian_prior_chi2(nu, settings.widths(nu.eps.shape[0]))
    return jnp.sum(resid2) + priors
