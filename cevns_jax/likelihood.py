"""The likelihood interface: one abstract Module, one final implementation per data set.

A likelihood owns everything statistical about one data set: its experiment, its nuisance
parameters (names, nominal values, prior widths: :meth:`~AbstractLikelihood.nominal`,
:meth:`~AbstractLikelihood.widths`, :attr:`~AbstractLikelihood.names`), how the physics
enters (:meth:`~AbstractLikelihood.signal`: a summary of the per-source recoil spectrum,
*linear* in it, so that the g² polynomial of the expected counts carries over), its
prediction components, its χ² (twice the negative log-likelihood, priors included) and its
profile over the nuisances (:meth:`~AbstractLikelihood.profile`, with the solver the
implementation chooses: an exact linear solve for a Gaussian χ², damped Newton otherwise).

Nuisances are one flat vector per data set, in natural units: normalisation *factors*
a = 1 + η (nominal 1; a CEvNS factor of 1e-18 far inside an excluded region is
representable, 1 + η is not), shape parameters in units of their ±1σ variants, timing
offsets in μs. A prior width of ``inf`` means no prior (a free parameter).

:class:`JointLikelihood` sums independent data sets (CsI + LAr); its profile is the sum of
the parts' profiles. Implementations: :class:`~cevns_jax.likelihood_csi.CsILikelihood`,
:class:`~cevns_jax.likelihood_lar.LArLikelihood`; the registry
(:mod:`cevns_jax.registry`) says which belongs to which experiment.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .experiment import Experiment
from .profile import AbstractSolver, ProfileResult, value_grad_hess
from .stats import gaussian_prior_chi2, solve_normalisation

__all__ = ["FREE_SCALE", "AbstractLikelihood", "JointLikelihood"]

#: Optimisation scale given to parameters without a prior (infinite width).
FREE_SCALE = 0.1
#: Index of the CEvNS normalisation factor in every nuisance vector.
CEVNS = 0


class AbstractLikelihood(eqx.Module):
    """χ² of one data set as a function of its nuisances and the physics signal.

    Subclasses are final and implement :meth:`signal`, :meth:`components`,
    :meth:`data_chi2`, :meth:`nominal`, :meth:`widths` and :attr:`names`; they hold their
    :class:`~cevns_jax.experiment.Experiment` and a :class:`~cevns_jax.profile.AbstractSolver`.
    Component 0 of the nuisance vector is always the CEvNS normalisation factor.
    """

    experiment: eqx.AbstractVar[Experiment]
    solver: eqx.AbstractVar[AbstractSolver]
    #: whether the profile varies log(a_CEvNS) instead of a_CEvNS (keeps it > 0)
    log_cevns: eqx.AbstractClassVar[bool]
    #: component name -> label for tables and figures
    component_labels: eqx.AbstractClassVar[dict]

    # --- what each implementation defines -------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Names of the nuisances, in vector order."""
        raise NotImplementedError

    def nominal(self) -> Array:
        """(n,) nominal nuisances (= prior centres)."""
        raise NotImplementedError

    def widths(self) -> Array:
        """(n,) 1σ prior widths (inf: no prior)."""
        raise NotImplementedError

    def signal(self, spectrum: Array) -> Array:
        """Linear summary (..., ...) of per-source recoil spectra (..., 3, n_T)."""
        raise NotImplementedError

    def components(self, nu: Array, signal: Array) -> dict[str, Array]:
        """Predicted counts (n_e, n_t) of each component at nuisances ``nu``."""
        raise NotImplementedError

    def nominal_backgrounds(self) -> dict[str, Array]:
        """name -> (n_e, n_t) background expectations at the nominal nuisances as this
        likelihood predicts them (the steady state as ``"ss"``; for tables and figures)."""
        exp = self.experiment
        return exp.backgrounds.templates(exp, 0.0)

    def subtracted_variance(self) -> Array:
        """(n_e, n_t) variance of the observed counts minus the steady-state template (for
        figures of data − steady state)."""
        raise NotImplementedError

    def data_chi2(self, expected: Array) -> Array:
        """() χ² of the observed counts given the total prediction (no prior terms); a
        sum of per-bin terms."""
        raise NotImplementedError

    def data_derivatives(self, expected: Array) -> tuple[Array, Array, Array]:
        """(χ²_data, per-bin ∂/∂μ, per-bin ∂²/∂μ²): generic autodiff here (the data term
        is a sum over bins, so its Hessian is diagonal); implementations give closed forms."""
        value, d1 = jax.value_and_grad(self.data_chi2)(expected)
        d2 = jax.jvp(jax.grad(self.data_chi2), (expected,), (jnp.ones_like(expected),))[1]
        return value, d1, d2

    # --- shared ---------------------------------------------------------------------------
    def twice_nll(self, nu: Array, signal: Array) -> Array:
        """() χ² = data term + Gaussian priors (−2 ln L up to a data-only constant)."""
        expected = sum(self.components(nu, signal).values())
        return self.data_chi2(expected) + gaussian_prior_chi2(nu, self.nominal(), self.widths())

    def cevns_total(self, nu: Array, signal: Array) -> Array:
        """() predicted CEvNS counts over all analysis bins at ``nu``."""
        return jnp.sum(self.components(nu, signal)["cevns"])

    def fix_cevns_counts(self, nu: Array, signal: Array, counts: Array) -> Array:
        """``nu`` with the CEvNS factor solved so the CEvNS total is ``counts`` (NaN: kept).

        The CEvNS total is affine in its factor, so the solution is exact.
        """
        at = lambda a: self.cevns_total(nu.at[CEVNS].set(a), signal)  # noqa: E731
        solved = solve_normalisation(jnp.where(jnp.isnan(counts), 0.0, counts), at(0.0), at(1.0))
        return nu.at[CEVNS].set(jnp.where(jnp.isnan(counts), nu[CEVNS], solved))

    def start(self, signal: Array, iterations: int = 12) -> Array:
        """Starting point of the profile: nominal, with the CEvNS factor a >= 0 minimising
        χ² alone (projected 1-D Newton from the observed excess over the backgrounds,
        floored where the CEvNS prediction would be below 1e-8 events); far inside an
        excluded region this is already close to the minimum."""
        nu = self.nominal()
        comps = self.components(nu, signal)
        cevns = comps["cevns"] / nu[CEVNS]
        rest = sum(v for k, v in comps.items() if k != "cevns")
        width = self.widths()[CEVNS]
        free = jnp.isinf(width)
        inv_w2 = jnp.where(free, 0.0, 1.0 / jnp.where(free, 1.0, width) ** 2)
        total = jnp.sum(cevns)
        ok = total > 0.0
        excess = jnp.sum(self.experiment.observed) - jnp.sum(rest)  # any binning of the data
        a0 = jnp.clip(jnp.where(ok, excess / jnp.where(ok, total, 1.0), 1.0), 0.0, 1.0)

        def newton(_, a):
            _, d1, d2 = self.data_derivatives(a * cevns + rest)
            grad = jnp.sum(d1 * cevns) + 2.0 * inv_w2 * (a - 1.0)
            curv = jnp.sum(d2 * cevns * cevns) + 2.0 * inv_w2
            ok = curv > 0.0
            return jnp.maximum(a - jnp.where(ok, grad / jnp.where(ok, curv, 1.0), 0.0), 0.0)

        a = jax.lax.fori_loop(0, iterations, newton, a0)
        # floor: 1e-8 CEvNS events (log a must stay finite; the χ² is flat there)
        floor = jnp.where(ok, 1e-8 / jnp.where(ok, total, 1.0), 1.0)
        return nu.at[CEVNS].set(jnp.maximum(a, jnp.minimum(floor, 1e-8)))

    def linearize(self, nu: Array, signal: Array) -> tuple[Array, Array]:
        """Total prediction (n_e, n_t) and its Jacobian (n, n_e, n_t) at ``nu``.

        Generic (forward-mode) here; implementations override it with closed forms.
        """
        expected = lambda x: sum(self.components(x, signal).values())  # noqa: E731
        return expected(nu), jnp.moveaxis(jax.jacfwd(expected)(nu), -1, 0)

    def curvature(self, nu: Array, signal: Array, weights: Array) -> Array:
        """(n, n) Σ_bins w_b ∂²μ_b/∂ν∂ν: the second-order part of the χ² Hessian.

        Generic (nested autodiff) here; zero for a linear prediction; implementations
        override it with closed forms.
        """
        expected = lambda x: sum(self.components(x, signal).values())  # noqa: E731
        return jax.hessian(lambda x: jnp.sum(weights * expected(x)))(nu)

    def profile(self, signal: Array, cevns_counts=None, start=None) -> ProfileResult:
        """χ² minimised over the nuisances at one physics signal.

        Args:
            signal: :meth:`signal` of the recoil spectrum at the physics point.
            cevns_counts: optional () total CEvNS counts to profile at (the CEvNS factor
                is then solved for them, exactly; NaN: free). ``None`` (default, static):
                the factor is a nuisance, and the profile uses the structured exact
                derivatives (:meth:`linearize`, :meth:`curvature`); with counts it uses
                generic autodiff second derivatives (slower; fits only).
            start: optional (n,) nuisances to start from (e.g. an earlier, unconverged
                profile's, to continue it); NaN (or ``None``): :meth:`start`.

        Returns:
            :class:`~cevns_jax.profile.ProfileResult`; ``value`` is differentiable in
            ``signal`` (envelope theorem: the minimum is held fixed).
        """
        signal_ng = jax.lax.stop_gradient(signal)
        widths = self.widths()
        x0 = self.start(signal_ng)
        if start is not None:
            start = jax.lax.stop_gradient(jnp.asarray(start, dtype=x0.dtype))
            x0 = jnp.where(jnp.any(jnp.isnan(start)), x0, start)
        scale = jnp.where(jnp.isfinite(widths), widths, FREE_SCALE)
        # with log_cevns the CEvNS coordinate is log a, on the same (relative) scale
        y0 = x0.at[CEVNS].set(jnp.log(x0[CEVNS])) if self.log_cevns else x0
        if cevns_counts is None:
            vgh = self._structured_vgh(y0, scale, signal_ng)
            to_nu = lambda z: self._to_nu(y0, scale, z)[0]  # noqa: E731
        else:
            counts = jnp.asarray(cevns_counts, dtype=float)
            fixed = ~jnp.isnan(counts)

            def to_nu(z):
                return self.fix_cevns_counts(self._to_nu(y0, scale, z)[0], signal_ng, counts)

            def objective(z):  # a fixed CEvNS factor leaves z[0] flat: pin it at 0
                pin = jnp.where(fixed, z[CEVNS] ** 2, 0.0)
                return self.twice_nll(to_nu(z), signal_ng) + pin

            vgh = lambda z: value_grad_hess(objective, z)  # noqa: E731
        z, grad_norm = self.solver.minimise(vgh, y0.shape[0])
        nu = jax.lax.stop_gradient(to_nu(z))
        value = self.twice_nll(nu, signal)
        converged = jnp.isfinite(value) & (grad_norm < self.solver.tol)
        return ProfileResult(value, nu, converged, grad_norm)

    def _to_nu(self, y0, scale, z):
        """Nuisances from scaled coordinates, with dν/dz and d²ν/dz² (elementwise)."""
        y = y0 + scale * z
        if not self.log_cevns:
            return y, scale, jnp.zeros_like(y)
        a = jnp.exp(y[CEVNS])
        return (
            y.at[CEVNS].set(a),
            scale.at[CEVNS].set(scale[CEVNS] * a),
            jnp.zeros_like(y).at[CEVNS].set(scale[CEVNS] ** 2 * a),
        )

    def _structured_vgh(self, y0, scale, signal):
        """(χ², ∇χ², ∇²χ², G) in scaled coordinates from the prediction's Jacobian and
        curvature: H = Jᵀ diag(d″) J + Σ d′ ∇²μ + prior″, chained through ν(z). The data
        term and the priors are sums over bins / nuisances, so d′, d″ are elementwise.
        G = Jᵀ diag(d″) J + prior″ (chained, with the positive part of the chain rule's
        diagonal term) is the Gauss–Newton matrix, positive semi-definite when d″ >= 0 (the
        Poisson and Gaussian χ²), the solver's fallback where H is indefinite."""
        centre, widths = self.nominal(), self.widths()

        def prior(x):
            return gaussian_prior_chi2(x, centre, widths)

        def vgh(z):
            nu, d_nu, d2_nu = self._to_nu(y0, scale, z)
            mu, jac = self.linearize(nu, signal)
            data, d1, d2 = self.data_derivatives(mu)
            free = jnp.isinf(widths)
            inv_w2 = jnp.where(free, 0.0, 1.0 / jnp.where(free, 1.0, widths) ** 2)
            pri, p1, p2 = prior(nu), 2.0 * inv_w2 * (nu - centre), 2.0 * inv_w2
            jac = jac.reshape(jac.shape[0], -1)  # (n, bins): reductions over the last axis
            g_nu = jnp.sum(jac * d1.reshape(-1), axis=-1) + p1
            gauss = jnp.sum(jac[:, None, :] * (jac * d2.reshape(-1))[None, :, :], axis=-1)
            gauss = gauss + jnp.diag(p2)
            h_nu = gauss + self.curvature(nu, signal, d1)
            outer = d_nu[:, None] * d_nu[None, :]
            chain = d2_nu * g_nu
            hess = outer * h_nu + jnp.diag(chain)
            return data + pri, d_nu * g_nu, hess, outer * gauss + jnp.diag(jnp.maximum(chain, 0))

        return vgh

    def named(self, nu: Array) -> dict[str, Array]:
        """``name -> value`` view of a nuisance vector."""
        return dict(zip(self.names, nu, strict=True))

    def replace_settings(self, settings) -> "AbstractLikelihood":
        """The same likelihood with other settings of the same type (no rebuild)."""
        return eqx.tree_at(lambda lik: lik.settings, self, settings)


class JointLikelihood(eqx.Module):
    """Independent data sets: χ² is the sum, each profiled over its own nuisances.

    Attributes:
        parts: the data sets' likelihoods (a tuple; order is the data set's order).
    """

    parts: tuple

    def __check_init__(self):
        if not self.parts or not all(isinstance(p, AbstractLikelihood) for p in self.parts):
            raise TypeError("JointLikelihood needs a non-empty tuple of AbstractLikelihood")

    def signal(self, spectra: tuple) -> tuple:
        """Per-part signals from per-part recoil spectra."""
        return tuple(p.signal(s) for p, s in zip(self.parts, spectra, strict=True))

    def twice_nll(self, nus: tuple, signals: tuple) -> Array:
        """() Σ of the parts' χ²."""
        return sum(p.twice_nll(n, s) for p, n, s in zip(self.parts, nus, signals, strict=True))

    def profile(self, signals: tuple, starts: tuple | None = None) -> ProfileResult:
        """Sum of the parts' profiles (``nuisances`` a tuple; converged if all are);
        ``starts``: optional per-part starting nuisances (see
        :meth:`AbstractLikelihood.profile`)."""
        starts = (None,) * len(self.parts) if starts is None else starts
        res = [p.profile(s, start=x) for p, s, x in zip(self.parts, signals, starts, strict=True)]
        return ProfileResult(
            value=sum(r.value for r in res),
            nuisances=tuple(r.nuisances for r in res),
            converged=jnp.all(jnp.stack([r.converged for r in res]), axis=0),
            grad_norm=jnp.sqrt(sum(r.grad_norm**2 for r in res)),
        )
