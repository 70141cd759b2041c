"""CsI 2021 likelihood: Poissonian χ² with normalisation, shape and timing nuisances.

    χ²_CsI = 2 Σ_ij [N^th_ij − N^exp_ij + N^exp_ij ln(N^exp_ij / N^th_ij)] + priors
    N^th  = a_CEvNS N^CEvNS(θ, δt_CEvNS) + a_BRN N^BRN(δt_n) + a_NIN N^NIN(δt_n) + a_SS N^SS

Nuisances (vector order): ``norm_cevns``, ``norm_brn``, ``norm_nin``, ``norm_ss`` (factors
a = 1 + η, nominal 1), ``theta_<shape>`` for each response systematic of the experiment
(``qf0``, ``qf1``, ``eff``; in units of the ±1σ variants, morphed quadratically inside and
linearly outside), ``dt_cevns_us`` (CEvNS timing offset added to the proton-pulse mean) and
``dt_neutron_us`` (common BRN/NIN offset). Bins with N^exp = 0 contribute exactly 2 N^th.

Steady state (``CsISettings.steady_state``): by default (``"uniform_time"``) N^SS is the
anti-coincidence (AC) sample's PE spectrum spread uniformly in time (× the time efficiency),
as a beam-uncorrelated background is, scaled by a_SS with a 2.1 % prior (the AC
statistics): the AC sample's per-bin time fluctuations do not enter the prediction.
``"template"``: N^SS is the AC (PE, t) histogram itself, a fixed template scaled by a_SS
with the same prior. With
``"per_bin"`` every bin's SS expectation b_ij is constrained by its own
AC count m_ij ~ Poisson(b_ij) (same live time) and profiled analytically per bin
(:mod:`cevns_jax.onoff`): the data term becomes
2 Σ_ij [μ_ij − N^exp_ij + N^exp_ij ln(N^exp_ij/μ_ij) + b̂_ij − m_ij + m_ij ln(m_ij/b̂_ij)]
with μ = N^beam + b̂, so the AC fluctuations enter bin by bin (a_SS is then inert).

The signal (:meth:`CsILikelihood.signal`) is the CEvNS energy spectrum of each source in
every response variant, (7 variants, 3 sources, n_e): linear in the recoil spectrum, so the
expected counts stay a polynomial in g². The time folds — CEvNS time fractions vs δt_CEvNS
and BRN/NIN time counts vs δt_n — do not depend on the physics point and are tabulated once
(:class:`~cevns_jax.polytable.PolyTable`, 2.5-ns cells of degree 5 over ±1 μs, 20 prior σ;
agreement with the direct fold ~1e-11). The profile is a damped Newton iteration in
(log a_CEvNS, other nuisances) started from the 1-D optimum of a_CEvNS, so a CEvNS factor
of 1e-18 far inside an excluded region is reached and represented.

BRN/NIN timing: the released 10-ns time distributions are shifted through their cumulative
counts, by default with a monotone C¹ cubic (``neutron_interp="hermite"``): the released
piecewise-linear form (``"linear"``) makes χ² only C⁰ in δt_n, with kinks exactly at δt_n
= 0 where the prior puts the minimum.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._types import float_array
from .experiment import Experiment
from .likelihood import AbstractLikelihood
from .onoff import on_off_background, on_off_chi2, on_off_chi2_derivatives
from .polytable import PolyTable
from .profile import AbstractSolver, DampedNewton
from .rates import morph, time_fractions
from .stats import poisson_chi2, poisson_chi2_derivatives

__all__ = ["CSI_COMPONENTS", "STEADY_STATE", "CsILikelihood", "CsISettings"]

#: Components of the CsI prediction, in the order of their normalisation factors.
CSI_COMPONENTS = ("cevns", "brn", "nin", "ss")
#: Treatments of the steady-state background (:attr:`CsISettings.steady_state`).
STEADY_STATE = ("uniform_time", "template", "per_bin")
#: Range (μs) and cells of the timing-offset tables.
_DT_RANGE_US, _DT_CELLS = 1.0, 800


class CsISettings(eqx.Module):
    """Prior widths (1σ of Gaussian priors) and options of the CsI likelihood.

    A width of ``inf`` removes the prior (flat, free parameter); see :meth:`free_cevns`.

    Attributes:
        sigma_cevns: CEvNS normalisation, 0.12 (flux 10 %, quenching, efficiency).
        sigma_brn: BRN normalisation, 0.25.
        sigma_nin: NIN normalisation, 0.35.
        sigma_ss: steady-state normalisation, 0.021 (statistics of the AC sample).
        sigma_theta: response shape systematics, 1 (they are in units of ±1σ variants).
        sigma_dt_cevns: CEvNS timing offset, 0.05 μs. The CsI time origin is itself only
            known from the data (Δχ² < 1 for pulse means 0.52–0.60 μs around the 0.565 μs
            default): 50 ns allows that range at 1σ without absorbing a real shape mismatch.
        sigma_dt_neutron: BRN/NIN timing offset, 0.1 μs: the LAr release's prompt-BRN
            timing-mean ±1σ variants move the mean BRN arrival time by ≈ ±0.09 μs.
        neutron_interp: ``"hermite"`` (default, C¹ in δt_n) or ``"linear"`` (static).
        steady_state: ``"uniform_time"`` (default): the SS prediction is a_SS × the
            anti-coincidence (AC) PE spectrum spread uniformly in time (× the time
            efficiency; :meth:`~cevns_jax.csi2021.CsIBackgrounds.ss_uniform_time`), with
            the 2.1 % prior on a_SS; ``"template"``: a_SS × the AC (PE, t) histogram, a
            fixed template with the same prior; ``"per_bin"``: every bin's SS expectation
            b_ij is a nuisance of its own, constrained by the AC counts m_ij ~
            Poisson(b_ij) (equal live time) and profiled analytically per bin
            (:mod:`cevns_jax.onoff`); a_SS then has no effect (its prior keeps it at 1).
            Static.
    """

    sigma_cevns: Array = eqx.field(converter=float_array, default=0.12)
    sigma_brn: Array = eqx.field(converter=float_array, default=0.25)
    sigma_nin: Array = eqx.field(converter=float_array, default=0.35)
    sigma_ss: Array = eqx.field(converter=float_array, default=0.021)
    sigma_theta: Array = eqx.field(converter=float_array, default=1.0)
    sigma_dt_cevns: Array = eqx.field(converter=float_array, default=0.05)
    sigma_dt_neutron: Array = eqx.field(converter=float_array, default=0.1)
    neutron_interp: str = eqx.field(static=True, default="hermite")
    steady_state: str = eqx.field(static=True, default="uniform_time")

    def __check_init__(self):
        if self.neutron_interp not in ("hermite", "linear"):
            raise ValueError(
                f"neutron_interp must be 'hermite' or 'linear', got {self.neutron_interp!r}"
            )
        if self.steady_state not in STEADY_STATE:
            raise ValueError(
                f"steady_state must be one of {', '.join(STEADY_STATE)}, got {self.steady_state!r}"
            )

    def free_cevns(self) -> "CsISettings":
        """Same settings with the CEvNS normalisation free (no prior), as COHERENT fits it."""
        return eqx.tree_at(lambda s: s.sigma_cevns, self, jnp.asarray(jnp.inf, dtype=float))


def _fold(energy: Array, time: Array) -> Array:
    """Σ_s energy_se time_st: (3, n_e), (3, n_t) -> (n_e, n_t) (a fused broadcast-sum)."""
    return jnp.sum(energy[:, :, None] * time[:, None, :], axis=0)


@eqx.filter_jit
def _time_tables(exp: Experiment, interp: str) -> tuple[PolyTable, PolyTable]:
    """Tables of the CEvNS time fractions and BRN/NIN time counts vs timing offset."""
    lo, hi = -_DT_RANGE_US, _DT_RANGE_US
    bkg = exp.backgrounds
    return (
        PolyTable.build(lambda dt: time_fractions(exp, dt), lo, hi, _DT_CELLS),
        PolyTable.build(lambda dt: bkg.neutron_time_counts(exp, dt, interp), lo, hi, _DT_CELLS),
    )


class CsILikelihood(AbstractLikelihood):
    """The CsI 2021 χ² (final).

    Attributes:
        experiment: the CsI experiment (:func:`cevns_jax.csi2021.build_csi2021`).
        settings: :class:`CsISettings`.
        cevns_time: table of the (3 sources, n_t) CEvNS time fractions vs δt_CEvNS.
        neutron_time: table of the (2, n_t) BRN, NIN time counts vs δt_n.
        solver: the profiler (default :class:`~cevns_jax.profile.DampedNewton`).
    """

    experiment: Experiment
    settings: CsISettings
    cevns_time: PolyTable
    neutron_time: PolyTable
    solver: AbstractSolver
    log_cevns = True
    component_labels = {"cevns": "CEvNS", "brn": "BRN", "nin": "NIN", "ss": "steady state"}

    def __init__(
        self,
        experiment: Experiment,
        settings: CsISettings | None = None,
        solver: AbstractSolver | None = None,
    ):
        self.experiment = experiment
        self.settings = CsISettings() if settings is None else settings
        self.cevns_time, self.neutron_time = _time_tables(experiment, self.settings.neutron_interp)
        self.solver = DampedNewton() if solver is None else solver

    def replace_settings(self, settings: CsISettings) -> "CsILikelihood":
        """The same likelihood with other settings; the time tables are rebuilt when the
        neutron interpolation changes (they depend on it)."""
        if settings.neutron_interp != self.settings.neutron_interp:
            return CsILikelihood(self.experiment, settings, self.solver)
        return eqx.tree_at(lambda lik: lik.settings, self, settings)

    @property
    def names(self) -> tuple[str, ...]:
        shapes = tuple(f"theta_{n}" for n in self.experiment.shape_names)
        return (
            tuple(f"norm_{c}" for c in CSI_COMPONENTS) + shapes + ("dt_cevns_us", "dt_neutron_us")
        )

    def nominal(self) -> Array:
        n_shape = len(self.experiment.shape_names)
        return jnp.concatenate([jnp.ones(4), jnp.zeros(n_shape + 2)])

    def widths(self) -> Array:
        s = self.settings
        n_shape = len(self.experiment.shape_names)
        return jnp.concatenate([
            jnp.stack([s.sigma_cevns, s.sigma_brn, s.sigma_nin, s.sigma_ss]),
            jnp.broadcast_to(s.sigma_theta, (n_shape,)),
            jnp.stack([s.sigma_dt_cevns, s.sigma_dt_neutron]),
        ])  # fmt: skip

    def signal(self, spectrum: Float[Array, "... 3 nT"]) -> Float[Array, "... nv 3 ne"]:
        """CEvNS energy counts per response variant and source, (..., n_var, 3, n_e)."""
        return jnp.einsum("...st,vte->...vse", spectrum, self.experiment.response)

    def _pieces(self, nu: Array, signal: Array):
        """Energy spectra with their θ-derivatives and time tables with their δt-derivatives.

        Returns E (3, n_e); dE, d2E (n_shape, 3, n_e) (∂E/∂θ_i, ∂²E/∂θ_i², the morph being
        a sum over θ_i); T, dT, d2T (3, n_t) in δt_CEvNS; tn, dtn, d2tn (2, n_t) in δt_n.
        """
        n_shape = len(self.experiment.shape_names)
        theta = nu[4 : 4 + n_shape]
        nominal, up, down = signal[0], signal[1::2], signal[2::2]
        energy = morph(theta, nominal, up, down)  # (3, n_e)
        th = theta[:, None, None]
        half_diff, half_sum = 0.5 * (up - down), 0.5 * (up + down) - nominal
        inner = jnp.abs(th) <= 1.0
        d_energy = half_diff + 2.0 * jnp.where(inner, th, jnp.sign(th)) * half_sum
        d2_energy = jnp.where(inner, 2.0 * half_sum, 0.0)
        return (
            energy, d_energy, d2_energy,
            *self.cevns_time.derivatives(nu[-2]), *self.neutron_time.derivatives(nu[-1]),
        )  # fmt: skip

    @property
    def per_bin_ss(self) -> bool:
        """Whether the steady state is profiled per bin (``steady_state="per_bin"``)."""
        return self.settings.steady_state == "per_bin"

    @property
    def ss_template(self) -> Array:
        """(n_e, n_t) SS prediction at a_SS = 1 of the template treatments: the AC
        histogram (``"template"``) or its PE spectrum uniform in time (``"uniform_time"``)."""
        bkg = self.experiment.backgrounds
        return bkg.ss_uniform_time() if self.settings.steady_state == "uniform_time" else bkg.ss

    def components(self, nu: Array, signal: Array) -> dict[str, Array]:
        """Predicted counts per component; with the per-bin steady state only the
        beam-related ones (CEvNS, BRN, NIN: the SS expectation is profiled inside
        :meth:`data_chi2`; :meth:`steady_state` gives it)."""
        bkg = self.experiment.backgrounds
        energy = morph(nu[4:-2], signal[0], signal[1::2], signal[2::2])  # (3, n_e)
        cevns = _fold(energy, self.cevns_time(nu[-2]))
        t_n = self.neutron_time(nu[-1])  # (2, n_t)
        neutrons = bkg.pe_fraction[:, :, None] * t_n[:, None, :]
        out = {"cevns": nu[0] * cevns, "brn": nu[1] * neutrons[0], "nin": nu[2] * neutrons[1]}
        return out if self.per_bin_ss else {**out, "ss": nu[3] * self.ss_template}

    def steady_state(self, nu: Array, signal: Array) -> Array:
        """(n_e, n_t) SS expectation in the coincidence window at ``nu``: a_SS × the
        template (:attr:`ss_template`), or the
        per-bin maximum-likelihood b̂_ij given the data, the AC counts and the other
        components (per-bin treatment)."""
        if not self.per_bin_ss:
            return nu[3] * self.ss_template
        rest = sum(self.components(nu, signal).values())
        return on_off_background(self.experiment.observed, self.experiment.backgrounds.ss, rest)

    def linearize(self, nu: Array, signal: Array) -> tuple[Array, Array]:
        """Prediction and its closed-form Jacobian (n, n_e, n_t)."""
        bkg = self.experiment.backgrounds
        energy, d_energy, _, t_c, dt_c, _, t_n, dt_n, _ = self._pieces(nu, signal)
        pe = bkg.pe_fraction[:, :, None]  # (2, n_e, 1)
        ss = jnp.zeros_like(bkg.ss) if self.per_bin_ss else self.ss_template  # per bin: profiled
        cevns = _fold(energy, t_c)
        neutrons = pe * t_n[:, None, :]  # (2, n_e, n_t)
        d_neutrons = pe * dt_n[:, None, :]
        jac = jnp.concatenate([
            jnp.stack([cevns, neutrons[0], neutrons[1], ss]),
            nu[0] * jnp.sum(d_energy[:, :, :, None] * t_c[None, :, None, :], axis=1),
            jnp.stack([
                nu[0] * _fold(energy, dt_c), nu[1] * d_neutrons[0] + nu[2] * d_neutrons[1]
            ]),
        ])  # fmt: skip
        mu = nu[0] * cevns + nu[1] * neutrons[0] + nu[2] * neutrons[1] + nu[3] * ss
        return mu, jac

    def curvature(self, nu: Array, signal: Array, weights: Array) -> Array:
        """Closed-form Σ_b w_b ∇²μ_b: the only non-zero second derivatives are
        (a_CEvNS, θ_i), (a_CEvNS, δt_c), (θ_i, θ_i), (θ_i, δt_c), (δt_c, δt_c),
        (a_BRN, δt_n), (a_NIN, δt_n) and (δt_n, δt_n)."""
        pe = self.experiment.backgrounds.pe_fraction
        energy, d_energy, d2_energy, t_c, dt_c, d2t_c, _, dt_n, d2t_n = self._pieces(nu, signal)
        n = nu.shape[0]
        w_t = jnp.einsum("et,st->se", weights, t_c)  # (3, n_e)
        w_dt = jnp.einsum("et,st->se", weights, dt_c)
        w_n1 = jnp.einsum("et,ze,zt->z", weights, pe, dt_n)  # (2,): a_BRN, a_NIN with δt_n
        w_n2 = jnp.einsum("et,ze,zt->z", weights, pe, d2t_n)
        z1, z2 = jnp.zeros(1, nu.dtype), jnp.zeros(2, nu.dtype)
        z_shape = jnp.zeros(n - 6, nu.dtype)
        a_dt = jnp.sum(energy * w_dt)[None]
        # off-diagonal entries, each pair once: row a_CEvNS, row δt_c, row δt_n (dense
        # outer products, no scatters), then the diagonal
        row_a = jnp.concatenate([z1, z2, z1, jnp.einsum("ise,se->i", d_energy, w_t), a_dt, z1])
        th_dt = nu[0] * jnp.einsum("ise,se->i", d_energy, w_dt)
        row_c = jnp.concatenate([z1, z2, z1, th_dt, z1, z1])
        row_n = jnp.concatenate([z1, w_n1, z1, z_shape, z1, z1])
        diag = jnp.concatenate([
            jnp.zeros(4, nu.dtype), nu[0] * jnp.einsum("ise,se->i", d2_energy, w_t),
            (nu[0] * jnp.einsum("se,et,st->", energy, weights, d2t_c))[None],
            (nu[1] * w_n2[0] + nu[2] * w_n2[1])[None],
        ])  # fmt: skip
        basis = jnp.eye(n, dtype=nu.dtype)
        h = jnp.diag(diag)
        for i, row in ((0, row_a), (n - 2, row_c), (n - 1, row_n)):
            h = h + jnp.outer(basis[i], row) + jnp.outer(row, basis[i])
        return h

    def nominal_backgrounds(self) -> dict[str, Array]:
        """BRN, NIN at zero timing offset and the steady state of :attr:`ss_template`."""
        return {**super().nominal_backgrounds(), "ss": self.ss_template}

    def subtracted_variance(self) -> Array:
        """Variance of data − steady state: C and AC are independent Poisson samples of
        equal live time, so N^exp plus the SS prediction's own Poisson variance: the AC
        count m_ij (AC histogram, per-bin), or w_j² Σ_j' m_ij' for the PE spectrum spread
        over time with weights w_j (uniform in time)."""
        bkg = self.experiment.backgrounds
        if self.settings.steady_state == "uniform_time":
            return self.experiment.observed + bkg.ss_uniform_time() * bkg.ss_time_weights
        return self.experiment.observed + bkg.ss

    def data_chi2(self, expected: Array) -> Array:
        """Poisson deviance of the coincidence counts; per-bin SS: with each bin's SS
        expectation profiled against the AC counts (:func:`cevns_jax.onoff.on_off_chi2`,
        ``expected`` then without SS)."""
        if self.per_bin_ss:
            return on_off_chi2(self.experiment.observed, self.experiment.backgrounds.ss, expected)
        return poisson_chi2(self.experiment.observed, expected)

    def data_derivatives(self, expected: Array) -> tuple[Array, Array, Array]:
        if self.per_bin_ss:
            ac = self.experiment.backgrounds.ss
            return on_off_chi2_derivatives(self.experiment.observed, ac, expected)
        return poisson_chi2_derivatives(self.experiment.observed, expected)
