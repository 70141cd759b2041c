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

Many curves (models × masses) are refined *together*: every stage — coarse grid, dense
search around the first exclusion, refinement of local extrema, edges — is one call of the
grid engine (:func:`cevns_jax.engine.profile_rows`) for all curves at once, so a whole table
costs a few compiled, batched calls and no sequential loop over couplings.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from . import constants as c
from .charges import U1Charges
from .engine import profile_rows
from .errors import ConfigError

__all__ = [
    "DELTA_CHI2_1D",
    "REGIME_MASSES_MEV",
    "Bound",
    "coupling_bound",
    "coupling_bounds",
    "regime_bound",
    "regime_bounds",
]

#: Δχ² of a one-parameter 2σ (95.45 % C.L.) interval.
DELTA_CHI2_1D = 4.0
#: Masses (MeV) of each regime: the first gives the bound, the second checks convergence.
REGIME_MASSES_MEV = {"low": (1e-2, 1e-1), "high": (1e4, 5e3)}
_LOG10_G = np.linspace(-8.0, 1.2, 47)  # coarse grid of log10 g (0.2 dex)
_N_REFINE = 16


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
        all_converged: whether every profile with Δχ² < 9 converged.
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


def _crossing(lg_lo, lg_hi, d_lo, d_hi):
    """log10 g where Δχ² crosses the threshold, by linear interpolation in log g."""
    return lg_lo + (DELTA_CHI2_1D - d_lo) * (lg_hi - lg_lo) / (d_hi - d_lo)


class _Curves:
    """Profiled χ²(log10 g) of many (charges, mass) curves, refined together."""

    def __init__(self, lik, charges: Sequence[U1Charges], masses_mev: np.ndarray):
        self.lik, self.masses = lik, masses_mev
        self.charges = _stack(charges)
        n = masses_mev.size
        self.lg = [np.empty(0) for _ in range(n)]
        self.chi2 = [np.empty(0) for _ in range(n)]
        self.conv = [np.empty(0, bool) for _ in range(n)]

    def evaluate(self, gs: Sequence[np.ndarray], keys: Sequence[int] | None = None):
        """Profiled χ² and convergence at couplings ``gs[j]`` of curve ``keys[j]`` (all
        curves if ``keys`` is None), in one engine call."""
        import jax

        keys = np.arange(self.masses.size) if keys is None else np.asarray(keys)
        width = max(len(g) for g in gs)
        rows = np.stack([np.concatenate([g, np.full(width - len(g), g[-1])]) for g in gs])
        charges = jax.tree.map(lambda x: x[keys], self.charges)
        chi2, conv = profile_rows(self.lik, charges, self.masses[keys], rows)
        return [chi2[i, : len(g)] for i, g in enumerate(gs)], [
            conv[i, : len(g)] for i, g in enumerate(gs)
        ]

    def add(self, lg_new: dict[int, np.ndarray]):
        """Add log10 g points to the curves named by the keys (one engine call)."""
        lg_new = {i: np.asarray(v, float) for i, v in lg_new.items() if len(v)}
        if not lg_new:
            return
        keys = sorted(lg_new)
        chi2, conv = self.evaluate([10.0 ** lg_new[i] for i in keys], keys)
        for i, x, v, k in zip(keys, (lg_new[i] for i in keys), chi2, conv, strict=True):
            lg = np.concatenate([self.lg[i], x])
            order = np.argsort(lg, kind="stable")
            self.lg[i] = lg[order]
            self.chi2[i] = np.concatenate([self.chi2[i], v])[order]
            self.conv[i] = np.concatenate([self.conv[i], k])[order]


def _basin_minima(d: np.ndarray, candidates: np.ndarray, count: int = 3) -> np.ndarray:
    """Indices of the deepest local minima of ``d`` (from ``candidates``), one per basin:
    a minimum is taken only if a barrier of more than 0.5 separates it from each one
    already taken (in a flat valley numerical noise makes many local minima; an island
    minimum must not lose its refinement to them). At most ``count``, deepest first."""
    chosen: list[int] = []
    for j in candidates[np.argsort(d[candidates], kind="stable")]:
        if all(d[min(a, j) : max(a, j) + 1].max() - max(d[a], d[j]) > 0.5 for a in chosen):
            chosen.append(int(j))
            if len(chosen) == count:
                break
    return np.asarray(chosen, dtype=int)


def _stack(charges: Sequence[U1Charges]) -> U1Charges:
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]), *charges)


def coupling_bounds(
    lik,
    charges: Sequence[U1Charges],
    masses_mev: Sequence[float],
    log10_g: np.ndarray = _LOG10_G,
) -> list[Bound]:
    """2σ upper bounds on g for many (charges, mass) curves at once.

    Steps, each one batched engine call over all curves: χ² at g = 0 and on the coarse
    grid ``log10_g``; a dense search (0.02 dex) over a decade either side of the first
    excluded coarse point, where interference barriers and islands live; refinement around
    the deepest local minimum of each basin (at most three, separated by barriers above
    0.5) and around local maxima that come near Δχ² = 4 (barrier peaks); the connected
    edge, refined between its neighbouring points and recomputed until the minimum it
    refers to no longer changes; the outer edge of an island.

    Args:
        lik: single or joint likelihood.
        charges: (R,) charges of each curve; masses_mev: (R,) masses in MeV (> 0).
        log10_g: coarse grid of log10 g.

    Raises:
        ConfigError: non-positive mass, or no Δχ² = 4 crossing inside the coupling grid.
    """
    masses = np.asarray(masses_mev, dtype=float).reshape(-1)
    if len(charges) != masses.size:
        raise ConfigError(f"{len(charges)} charge sets for {masses.size} masses")
    if not np.all(masses > 0) or not np.all(np.isfinite(masses)):
        raise ConfigError(
            f"mediator masses must be finite and positive, got {masses.tolist()} MeV"
        )
    curves = _Curves(lik, charges, masses)
    n = masses.size
    coarse = np.asarray(log10_g, dtype=float)
    chi2, conv = curves.evaluate([np.concatenate([[0.0], 10.0**coarse])] * n)
    chi2_sm = [float(v[0]) for v in chi2]
    conv_sm = [bool(k[0]) for k in conv]
    for i in range(n):
        curves.lg[i], curves.chi2[i], curves.conv[i] = coarse.copy(), chi2[i][1:], conv[i][1:]

    def minimum(i):
        j = int(np.argmin(curves.chi2[i]))
        if chi2_sm[i] <= curves.chi2[i][j]:
            return chi2_sm[i], 0.0
        return float(curves.chi2[i][j]), float(10.0 ** curves.lg[i][j])

    def first_excluded(i):
        chi2_min, g_best = minimum(i)
        lg = curves.lg[i]
        allowed = curves.chi2[i] - chi2_min < DELTA_CHI2_1D
        where = f"M = {masses[i]:g} MeV"
        if allowed[-1] or not allowed.any():
            raise ConfigError(
                f"no Δχ² = {DELTA_CHI2_1D} crossing for couplings 1e{lg[0]:.1f}..1e{lg[-1]:.1f} "
                f"at {where}: extend log10_g"
            )
        sm_allowed = chi2_sm[i] - chi2_min < DELTA_CHI2_1D
        start = 0 if sm_allowed else int(np.searchsorted(lg, np.log10(g_best)))
        k = start + int(np.argmax(~allowed[start:]))
        if k == 0:
            raise ConfigError(
                f"Δχ² > {DELTA_CHI2_1D} at the smallest coupling 1e{lg[0]:.1f} at {where}: "
                "extend log10_g"
            )
        return k

    # dense search around the first excluded coarse point
    dense = {}
    for i in range(n):
        k = first_excluded(i)
        dense[i] = np.arange(curves.lg[i][k] - 1.0, curves.lg[i][k] + 1.0, 0.02)
    curves.add(dense)
    # refine around local minima (the deepest of each basin) and barrier peaks
    refine = {}
    for i in range(n):
        d = curves.chi2[i] - minimum(i)[0]
        lg = curves.lg[i]
        interior = np.arange(1, d.size - 1)
        lmin = interior[(d[1:-1] <= d[:-2]) & (d[1:-1] <= d[2:])]
        lmax = interior[(d[1:-1] >= d[:-2]) & (d[1:-1] >= d[2:]) & (d[1:-1] < 3 * DELTA_CHI2_1D)]
        picks = np.concatenate([_basin_minima(d, lmin), lmax])
        refine[i] = np.concatenate(
            [np.linspace(lg[j - 1], lg[j + 1], _N_REFINE + 2)[1:-1] for j in picks] or [[]]
        )
    curves.add(refine)

    def edge_points(i, a):  # refinement between points a and a + 1 of curve i
        return np.linspace(curves.lg[i][a], curves.lg[i][a + 1], _N_REFINE + 2)[1:-1]

    def edge_after(i, left_lg, chi2_min):
        lo = int(np.searchsorted(curves.lg[i], left_lg))
        d = curves.chi2[i][lo:] - chi2_min
        b = max(int(np.argmax(d >= DELTA_CHI2_1D)), 1)
        return _crossing(curves.lg[i][lo + b - 1], curves.lg[i][lo + b], d[b - 1], d[b])

    # connected edge; refining it can reveal a deeper minimum: repeat (at most 3 times)
    lg_connected, chi2_used = {}, {}
    todo = list(range(n))
    for _ in range(3):
        if not todo:
            break
        lefts = {}
        for i in todo:
            k = first_excluded(i)
            lefts[i] = curves.lg[i][k - 1]
            chi2_used[i] = minimum(i)[0]
        curves.add({i: edge_points(i, int(np.searchsorted(curves.lg[i], lefts[i]))) for i in todo})
        for i in todo:
            lg_connected[i] = edge_after(i, lefts[i], chi2_used[i])
        todo = [i for i in todo if minimum(i)[0] != chi2_used[i]]
    # outer edge of an island
    last, island = {}, {}
    for i in range(n):
        allowed = curves.chi2[i] - chi2_used[i] < DELTA_CHI2_1D
        last[i] = int(np.nonzero(allowed)[0][-1])
        island[i] = bool(curves.lg[i][last[i]] > lg_connected[i])
    outer_left = {i: curves.lg[i][last[i]] for i in range(n) if island[i]}
    curves.add({i: edge_points(i, last[i]) for i in outer_left})
    out = []
    for i in range(n):
        chi2_min, g_best = chi2_used[i], minimum(i)[1]
        lg_outer = edge_after(i, outer_left[i], chi2_min) if island[i] else lg_connected[i]
        relevant = curves.chi2[i] - chi2_min < 9.0
        out.append(
            Bound(
                mass_mev=float(masses[i]),
                g_connected=float(10.0 ** lg_connected[i]),
                g_outer=float(10.0**lg_outer),
                island=island[i],
                g_best=float(g_best),
                chi2_min=float(chi2_min),
                delta_chi2_sm=float(chi2_sm[i] - chi2_min),
                all_converged=bool(np.all(curves.conv[i][relevant]) and conv_sm[i]),
                log10_g=curves.lg[i],
                chi2=curves.chi2[i],
            )
        )
    return out


def coupling_bound(charges: U1Charges, mass_mev: float, lik, log10_g=_LOG10_G) -> Bound:
    """2σ upper bound on g at one mass (:func:`coupling_bounds` for one curve)."""
    return coupling_bounds(lik, [charges], [mass_mev], log10_g)[0]


def _regime_value(b: Bound, regime: str, attr: str) -> float:
    scale = 1.0 if regime == "low" else c.MEV_PER_GEV / b.mass_mev  # g / (M in GeV)
    return getattr(b, attr) * scale


def regime_bounds(lik, charges: Sequence[U1Charges], regimes: Sequence[str]) -> list[dict]:
    """The paper's bound of each (charges, regime) pair, all curves computed together.

    Args:
        lik: single or joint likelihood.
        charges, regimes: equally long sequences; regime ``"low"`` (bound on g) or
            ``"high"`` (bound on g/M in GeV^-1).

    Returns:
        one dict per pair with ``value`` and ``value_outer`` (g or g/M), ``island``,
        ``mass_gev``, ``check_mass_gev``, ``convergence`` (relative change of the value
        between the two masses), ``all_converged`` and ``details`` (the two
        :class:`Bound` objects as dicts).
    """
    for regime in regimes:
        if regime not in REGIME_MASSES_MEV:
            raise ConfigError(f"regime must be 'low' or 'high', got {regime!r}")
    pairs = [(ch, m) for ch, r in zip(charges, regimes, strict=True) for m in REGIME_MASSES_MEV[r]]
    bounds = coupling_bounds(lik, [p[0] for p in pairs], [p[1] for p in pairs])
    out = []
    for k, regime in enumerate(regimes):
        main, check = bounds[2 * k], bounds[2 * k + 1]
        value = _regime_value(main, regime, "g_connected")
        out.append({
            "value": value,
            "value_outer": _regime_value(main, regime, "g_outer"),
            "island": main.island,
            "mass_gev": main.mass_mev / c.MEV_PER_GEV,
            "check_mass_gev": check.mass_mev / c.MEV_PER_GEV,
            "convergence": _regime_value(check, regime, "g_connected") / value - 1.0,
            "all_converged": main.all_converged and check.all_converged,
            "details": [_summary(b) for b in (main, check)],
        })  # fmt: skip
    return out


def regime_bound(charges: U1Charges, regime: str, lik) -> dict:
    """The paper's bound in one regime, with its convergence check (see :func:`regime_bounds`)."""
    return regime_bounds(lik, [charges], [regime])[0]


def _summary(b: Bound) -> dict:
    """JSON-ready fields of a :class:`Bound` (the χ² curve as lists)."""
    out = dataclasses.asdict(b)
    out["log10_g"], out["chi2"] = b.log10_g.tolist(), b.chi2.tolist()
    return out
