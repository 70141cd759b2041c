"""Upper bounds on the coupling of a light mediator at fixed mass (arXiv:2202.11002 style).

At fixed mediator mass M the profiled χ²(g) is computed on a coarse logarithmic grid of
couplings (plus g = 0), refined near its minimum and near every Δχ² = 4 crossing, where
Δχ² = χ²(g) − min_g χ²(g) (one parameter, 2σ). Reported per (model, data, M):

* ``g_connected``: upper edge of the 2σ-allowed interval that contains g = 0 (or the best
  fit, if g = 0 itself is excluded);
* ``g_outer``: upper edge of the outermost allowed coupling — different from
  ``g_connected`` when destructive interference opens a disconnected allowed island at
  larger g (the weak charge of one flavour flips sign); ``island`` flags it.

The low-mass bound is on g (M far below the momentum transfer, where it no longer depends on
M); the high-mass bound is on g/M in GeV^-1 (M far above, where g/M is constant). Each is
evaluated at two masses a decade (low) or a factor two (high) apart, and the relative
change is reported as the convergence check.

Profiling uses the polynomial structure: at fixed M the recoil spectrum is
N_0 + g^2 N_1 + g^4 N_2 (:func:`cevns_jax.rates.recoil_components`), so the expensive part
is computed once per mass and every coupling only re-profiles the nuisances. Couplings are
evaluated in fixed-size batches (a warm-started ``lax.scan`` inside one compiled call),
so one compilation serves every model, mass, coupling and grid.
"""

import dataclasses
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import constants as c
from .charges import U1Charges
from .errors import ConfigError
from .experiment import Experiment
from .likelihood import zero_nuisances
from .mediator import Mediator
from .profile import ProfileOptions, profile_combined
from .rates import recoil_components

__all__ = [
    "BATCH",
    "BOUND_OPTIONS",
    "REGIME_MASSES_MEV",
    "DELTA_CHI2_1D",
    "Bound",
    "chi2_vs_coupling",
    "coupling_bound",
    "regime_bound",
]

#: Couplings profiled per compiled call.
BATCH = 16
#: Δχ² of a one-parameter 2σ (95.45 % C.L.) interval.
DELTA_CHI2_1D = 4.0
#: Masses (MeV) of each regime: the first gives the bound, the second checks convergence.
REGIME_MASSES_MEV = {"low": (1e-2, 1e-1), "high": (1e4, 5e3)}
_LOG10_G = np.linspace(-8.0, 1.2, 47)  # coarse grid of log10 g (0.2 dex)
_N_REFINE = 16


#: Minimiser settings for bound scans: χ² accurate to ~1e-8 near the minimum.
BOUND_OPTIONS = ProfileOptions(tol=1e-4, max_iter=100)


@eqx.filter_jit
def _chi2_batch(charges, mass, gs, experiments, settings, options):
    """Profiled χ² and convergence flags for a (BATCH,) ascending vector of couplings."""
    comps = {k: recoil_components(e, Mediator(charges, mass, 1.0)) for k, e in experiments.items()}
    start = {k: zero_nuisances(e) for k, e in experiments.items()}

    def step(init, g):
        g2 = g * g
        spectra = {k: v[0] + g2 * v[1] + g2 * g2 * v[2] for k, v in comps.items()}
        res = profile_combined(spectra, experiments, settings, init=init, options=options)
        # warm start the next coupling from this minimum (from nominal if it failed)
        nxt = jax.tree.map(lambda a, b: jnp.where(res.converged, a, b), res.nuisances, start)
        return nxt, (res.value, res.converged)

    # a sequential scan inside one compiled call: under vmap every member would wait for
    # the slowest L-BFGS run, and neighbouring couplings give good starting points
    return jax.lax.scan(step, start, gs)[1]


def chi2_vs_coupling(
    charges: U1Charges,
    mass_mev: float,
    gs: np.ndarray,
    experiments: Mapping[str, Experiment],
    settings: Mapping | None = None,
    options: ProfileOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Profiled χ² at couplings ``gs`` (any length) and one mass.

    Args:
        charges: the model's charges.
        mass_mev: mediator mass in MeV.
        gs: (n,) couplings (>= 0).
        experiments: dict kind (``"csi"``/``"lar"``) -> Experiment; its keys select the data.
        settings: optional dict kind -> likelihood settings.
        options: minimiser options (default :data:`BOUND_OPTIONS`).

    Returns:
        ``(chi2, converged)``, each (n,).
    """
    options = BOUND_OPTIONS if options is None else options
    gs = np.asarray(gs, dtype=float)
    n = gs.size
    padded = np.concatenate([gs, np.full(-n % BATCH, gs[-1] if n else 0.0)])
    settings = {} if settings is None else dict(settings)
    out = [
        _chi2_batch(charges, jnp.asarray(mass_mev, float), jnp.asarray(chunk), dict(experiments), settings, options)
        for chunk in padded.reshape(-1, BATCH)
    ]
    chi2 = np.concatenate([np.asarray(v) for v, _ in out])[:n]
    conv = np.concatenate([np.asarray(k) for _, k in out])[:n]
    return chi2, conv


@dataclasses.dataclass(frozen=True)
class Bound:
    """A 2σ upper bound on the coupling at one mass.

    Attributes:
        mass_mev: mediator mass (MeV).
        g_connected: upper edge of the allowed interval containing g = 0 (or the best fit).
        g_outer: largest allowed coupling (= g_connected unless there is an island).
        island: whether a disconnected allowed region exists above ``g_connected``.
        g_best: coupling at the χ² minimum (0 for the SM).
        chi2_min: minimal profiled χ² at this mass.
        delta_chi2_sm: Δχ² of g = 0 with respect to the minimum.
        all_converged: whether every profile with Δχ² < 9 converged (far-excluded
            couplings, where L-BFGS may stop early, cannot change the bound).
        log10_g: every coupling evaluated (log10, ascending; g = 0 not included).
        chi2: the profiled χ² at those couplings.
    """

    mass_mev: float
    g_connected: float
    g_outer: float
    island: bool
    g_best: float
    chi2_min: float
    delta_chi2_sm: float
    all_converged: bool
    log10_g: np.ndarray = dataclasses.field(repr=False)
    chi2: np.ndarray = dataclasses.field(repr=False)


class _Curve:
    """Profiled χ²(log10 g) at one mass, refined on demand; points kept sorted."""

    def __init__(self, charges, mass_mev, rest):
        self.args, self.rest = (charges, mass_mev), rest
        self.lg, self.chi2, self.conv = np.empty(0), np.empty(0), np.empty(0, bool)

    def add(self, lg_new):
        chi2, conv = chi2_vs_coupling(*self.args, 10.0 ** np.asarray(lg_new), *self.rest)
        lg = np.concatenate([self.lg, lg_new])
        order = np.argsort(lg, kind="stable")
        self.lg, self.chi2 = lg[order], np.concatenate([self.chi2, chi2])[order]
        self.conv = np.concatenate([self.conv, conv])[order]

    def edge_after(self, a, chi2_min):
        """log10 g of the Δχ² = 4 crossing between points a and a + 1, refined."""
        self.add(np.linspace(self.lg[a], self.lg[a + 1], _N_REFINE + 2)[1:-1])
        lo = int(np.searchsorted(self.lg, self.lg[a]))
        d = self.chi2[lo:] - chi2_min
        b = max(int(np.argmax(d >= DELTA_CHI2_1D)), 1)
        return _crossing(self.lg[lo + b - 1], self.lg[lo + b], d[b - 1], d[b])


def _crossing(lg_lo, lg_hi, d_lo, d_hi):
    """log10 g where Δχ² crosses the threshold, by linear interpolation in log g."""
    return lg_lo + (DELTA_CHI2_1D - d_lo) * (lg_hi - lg_lo) / (d_hi - d_lo)


def coupling_bound(
    charges: U1Charges,
    mass_mev: float,
    experiments: Mapping[str, Experiment],
    settings: Mapping | None = None,
    options: ProfileOptions | None = None,
    log10_g: np.ndarray = _LOG10_G,
) -> Bound:
    """2σ upper bound on g at one mass (see the module docstring).

    Steps: χ² at g = 0 and on the coarse grid ``log10_g``; a dense search (0.02 dex) over
    a decade either side of the first excluded coarse point, where interference barriers
    and islands live (both can be narrower than the coarse spacing); refinement around
    local minima and around local maxima that come near Δχ² = 4 (barrier peaks); then the
    connected and outer edges, each refined between its neighbouring points. Edges are
    recomputed until the minimum they refer to no longer changes.

    Raises:
        ConfigError: non-positive mass, or no Δχ² = 4 crossing inside the coupling grid.
    """
    if not mass_mev > 0:
        raise ConfigError(f"mediator mass must be positive, got {mass_mev} MeV")
    chi2_sm, conv_sm = chi2_vs_coupling(charges, mass_mev, np.zeros(1), experiments, settings, options)
    chi2_sm = float(chi2_sm[0])
    curve = _Curve(charges, mass_mev, (experiments, settings, options))
    curve.add(np.asarray(log10_g, dtype=float))

    def minimum():
        j = int(np.argmin(curve.chi2))
        return (chi2_sm, 0.0) if chi2_sm <= curve.chi2[j] else (curve.chi2[j], 10.0 ** curve.lg[j])

    def first_excluded(chi2_min, g_best):
        allowed = curve.chi2 - chi2_min < DELTA_CHI2_1D
        if allowed[-1] or not allowed.any():
            raise ConfigError(
                f"no Δχ² = {DELTA_CHI2_1D} crossing for couplings 1e{curve.lg[0]:.1f}.."
                f"1e{curve.lg[-1]:.1f} at M = {mass_mev} MeV: extend log10_g"
            )
        # connected region: from g = 0 if allowed, else from the best fit
        sm_allowed = chi2_sm - chi2_min < DELTA_CHI2_1D
        start = 0 if sm_allowed else int(np.searchsorted(curve.lg, np.log10(g_best)))
        k = start + int(np.argmax(~allowed[start:]))
        if k == 0:
            raise ConfigError(
                f"Δχ² > {DELTA_CHI2_1D} at the smallest coupling 1e{curve.lg[0]:.1f}: extend log10_g"
            )
        return k, allowed

    k, _ = first_excluded(*minimum())
    curve.add(np.arange(curve.lg[k] - 1.0, curve.lg[k] + 1.0, 0.02))
    chi2_min, _ = minimum()
    d = curve.chi2 - chi2_min
    interior = np.arange(1, d.size - 1)
    local_min = interior[(d[1:-1] <= d[:-2]) & (d[1:-1] <= d[2:])]
    local_max = interior[(d[1:-1] >= d[:-2]) & (d[1:-1] >= d[2:]) & (d[1:-1] < 3 * DELTA_CHI2_1D)]
    lg_now = curve.lg.copy()
    for i in np.concatenate([local_min[np.argsort(d[local_min])][:2], local_max]):
        curve.add(np.linspace(lg_now[i - 1], lg_now[i + 1], _N_REFINE + 2)[1:-1])
    for _ in range(3):  # refining an edge can reveal a deeper minimum: iterate
        chi2_min, g_best = minimum()
        k, allowed = first_excluded(chi2_min, g_best)
        lg_connected = curve.edge_after(k - 1, chi2_min)
        if minimum()[0] == chi2_min:
            break
    allowed = curve.chi2 - chi2_min < DELTA_CHI2_1D
    last_allowed = int(np.nonzero(allowed)[0][-1])
    island = curve.lg[last_allowed] > lg_connected
    lg_outer = curve.edge_after(last_allowed, chi2_min) if island else lg_connected
    relevant = curve.chi2 - chi2_min < 9.0
    return Bound(
        mass_mev=float(mass_mev),
        g_connected=float(10.0**lg_connected),
        g_outer=float(10.0**lg_outer),
        island=bool(island),
        g_best=float(g_best),
        chi2_min=float(chi2_min),
        delta_chi2_sm=float(chi2_sm - chi2_min),
        all_converged=bool(np.all(curve.conv[relevant]) and conv_sm[0]),
        log10_g=curve.lg,
        chi2=curve.chi2,
    )


def regime_bound(
    charges: U1Charges,
    regime: str,
    experiments: Mapping[str, Experiment],
    settings: Mapping | None = None,
    options: ProfileOptions | None = None,
) -> dict:
    """The paper's bound in one regime, with its convergence check.

    Args:
        regime: ``"low"`` (bound on g) or ``"high"`` (bound on g/M in GeV^-1).

    Returns:
        dict with ``value`` and ``value_outer`` (g or g/M), ``island``, ``mass_gev``,
        ``check_mass_gev``, ``convergence`` (relative change of the value between the two
        masses), and the two :class:`Bound` objects as dicts.
    """
    if regime not in REGIME_MASSES_MEV:
        raise ConfigError(f"regime must be 'low' or 'high', got {regime!r}")
    bounds = [coupling_bound(charges, m, experiments, settings, options) for m in REGIME_MASSES_MEV[regime]]
    per = 1.0 if regime == "low" else None

    def value(b, attr):
        scale = per if per is not None else c.MEV_PER_GEV / b.mass_mev  # g / (M in GeV)
        return getattr(b, attr) * scale

    main, check = bounds
    return {
        "value": value(main, "g_connected"),
        "value_outer": value(main, "g_outer"),
        "island": main.island,
        "mass_gev": main.mass_mev / c.MEV_PER_GEV,
        "check_mass_gev": check.mass_mev / c.MEV_PER_GEV,
        "convergence": value(check, "g_connected") / value(main, "g_connected") - 1.0,
        "all_converged": main.all_converged and check.all_converged,
        "details": [_summary(b) for b in bounds],
    }


def _summary(b: Bound) -> dict:
    """JSON-ready fields of a :class:`Bound` (the χ² curve as lists)."""
    out = dataclasses.asdict(b)
    out["log10_g"], out["chi2"] = b.log10_g.tolist(), b.chi2.tolist()
    return out
