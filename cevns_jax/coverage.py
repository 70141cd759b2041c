"""Coverage of the Wilks 2σ interval and Feldman–Cousins bounds from toys, at one mass.

:func:`toy_study` draws pseudo-experiments (:mod:`cevns_jax.toys`) at a true coupling (by
default the observed Wilks 2σ bound of :func:`cevns_jax.bounds.coupling_bound`), fits each
in batches of one compiled call, and reports

* the distribution of the profile likelihood ratio t(g_true) against χ²₁, and the coverage
  of the Wilks 2σ interval, P(t < 4) (nominal 95.45 %), with its binomial uncertainty;
* the goodness of fit: the observed min_g χ² against the toys' (``gof_p_value``), which
  tells whether the toy model describes data like ours;
* the Feldman–Cousins (Neyman construction with the likelihood-ratio ordering and the
  boundary g ≥ 0) 2σ upper bound: on a grid of couplings, toys at each give the critical
  value c(g) (95.45 % quantile of t(g)); couplings with t_obs(g) ≤ c(g) are accepted and
  the bound is the largest accepted coupling (linear interpolation in log g of
  t_obs − c at the crossing).
"""

import dataclasses
import functools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as sps

from .bounds import DELTA_CHI2_1D, coupling_bound
from .charges import U1Charges
from .engine import CONTINUATIONS, as_joint
from .errors import ConfigError
from .toy_fits import fit_toys
from .toys import (
    draw_toys,
    observed_as_toys,
    signal_coefficients,
    toy_spec,
    truth_nuisances,
)

__all__ = ["LEVEL_2SIGMA", "ToyStudy", "search_grid", "toy_study"]

#: Coverage of a two-sided 2σ Gaussian interval, P(χ²₁ < 4).
LEVEL_2SIGMA = float(sps.chi2.cdf(DELTA_CHI2_1D, 1))
#: Damped-Newton steps of the toy profiles' first pass; the toys with an unconverged
#: profile are then continued from where they stopped (up to
#: :data:`~cevns_jax.engine.CONTINUATIONS` passes of the same compiled call). On 800 B−L CsI
#: toys at 10 MeV, 10 steps left 17 % of the toys with an unconverged profile (mostly at
#: the top of the search grid), 14 steps 11 %; the continuation converged all but one or two.
TOY_SOLVER_STEPS = 12


@dataclasses.dataclass(frozen=True)
class ToyStudy:
    """Result of :func:`toy_study` (numpy arrays; :meth:`summary` gives the JSON fields)."""

    mass_mev: float
    g_true: float
    t: np.ndarray
    g_best: np.ndarray
    chi2_min: np.ndarray
    chi2_min_observed: float
    converged: np.ndarray
    at_edge: np.ndarray
    toys_per_s: float
    compile_s: float
    wilks_bound: float
    wilks_outer: float
    island: bool
    g_grid: np.ndarray
    fc_couplings: np.ndarray
    fc_critical: np.ndarray
    fc_t_observed: np.ndarray
    fc_upper_bound: float | None
    fc_connected_bound: float | None
    fc_toys: int
    templates: bool
    side_samples: bool

    def summary(self) -> dict:
        """JSON-ready summary: coverage, distribution, FC and Wilks bounds."""
        n = self.t.size
        cov = float(np.mean(self.t < DELTA_CHI2_1D))
        levels = (1.0, 4.0, 9.0)
        return {
            "mass_mev": self.mass_mev,
            "g_true": self.g_true,
            "n_toys": n,
            "coverage_wilks": cov,
            "coverage_wilks_err": float(np.sqrt(cov * (1.0 - cov) / n)),
            "coverage_nominal": LEVEL_2SIGMA,
            "toys_per_s": self.toys_per_s,
            "compile_s": self.compile_s,
            "converged_fraction": float(np.mean(self.converged)),
            "at_grid_edge_fraction": float(np.mean(self.at_edge)),
            "g_best_zero_fraction": float(np.mean(self.g_best == 0.0)),
            "chi2_min_observed": self.chi2_min_observed,
            "chi2_min_toy_quantiles": {
                str(q): float(np.quantile(self.chi2_min, q)) for q in (0.05, 0.5, 0.95)
            },
            "gof_p_value": float(np.mean(self.chi2_min >= self.chi2_min_observed)),
            "p_t_below": {str(x): float(np.mean(self.t < x)) for x in levels},
            "p_chi2_1_below": {str(x): float(sps.chi2.cdf(x, 1)) for x in levels},
            "t_quantiles": {
                str(q): float(np.quantile(self.t, q)) for q in (0.5, 0.6827, 0.9545, 0.9973)
            },
            "chi2_1_quantiles": {
                str(q): float(sps.chi2.ppf(q, 1)) for q in (0.5, 0.6827, 0.9545, 0.9973)
            },
            "wilks_upper_bound": self.wilks_bound,
            "wilks_outer_bound": self.wilks_outer,
            "island": self.island,
            "fc_upper_bound": self.fc_upper_bound,
            "fc_connected_bound": self.fc_connected_bound,
            "fc_toys_per_coupling": self.fc_toys,
            "fc_couplings": self.fc_couplings.tolist(),
            "fc_critical_values": self.fc_critical.tolist(),
            "fc_t_observed": self.fc_t_observed.tolist(),
            "search_grid": self.g_grid.tolist(),
            "templates_fluctuated": self.templates,
            "side_samples_fluctuated": self.side_samples,
        }


def _with_steps(lik, steps: int):
    """``lik`` with ``steps`` iterations of its solver (if it iterates)."""
    solver = lik.solver
    if not hasattr(solver, "steps") or solver.steps == steps:
        return lik
    return eqx.tree_at(lambda lk: lk.solver, lik, dataclasses.replace(solver, steps=steps))


def search_grid(bound, n_points: int) -> np.ndarray:
    """Couplings for the best-fit search: uniform in g² from 0 to 1.3 × the largest
    coupling with observed Δχ² < 25, plus the observed local minima with Δχ² < 9 (an
    interference island's minimum is then always on the grid)."""
    lg, d = bound.log10_g, bound.chi2 - bound.chi2_min
    top = 1.3 * 10.0 ** lg[d < 25.0].max()
    return np.unique(np.concatenate([np.sqrt(np.linspace(0.0, top**2, n_points)), _minima(bound)]))


def _minima(bound) -> np.ndarray:
    """Couplings of the observed curve's interior local minima with Δχ² < 9."""
    lg, d = bound.log10_g, bound.chi2 - bound.chi2_min
    interior = (d[1:-1] <= d[:-2]) & (d[1:-1] <= d[2:]) & (d[1:-1] < 9.0)
    return 10.0 ** lg[1:-1][interior]


def _take(index, x):
    return x[index]


def _run(parts, coeffs, grid, g, n, batch, key, templates, n_refine, bar=None):
    """t, g_best, chi2_min, converged, at_edge of ``n`` toys at g (batches of ``batch``; the
    last one padded), then up to :data:`~cevns_jax.engine.CONTINUATIONS` passes that
    continue the toys with an unconverged profile from where their profiles stopped (same
    compiled call); returns those and (compile time, toys per second without it)."""
    nus = truth_nuisances(parts, coeffs, jnp.asarray(g))
    # every toy's profile at a coupling starts where the observed data's profile at that
    # coupling ends: next to its own valley (the likelihood's own start, nominal nuisances,
    # left 13 % of the B−L CsI toys unconverged after the first pass, this 4 %)
    observed = [truth_nuisances(parts, coeffs, jnp.asarray(x)) for x in np.append(grid, g)]
    starts = tuple(
        jnp.broadcast_to(jnp.stack(per_g), (batch, len(observed)) + per_g[0].shape)
        for per_g in zip(*observed, strict=True)
    )
    toys, fits, times = [], [], []
    for b in range(-(-n // batch)):
        start = time.perf_counter()
        toy = draw_toys(jax.random.fold_in(key, b), parts, coeffs, jnp.asarray(g), nus, batch,
                        templates)  # fmt: skip
        fit = fit_toys(parts, coeffs, toy, g, grid, n_refine, templates, starts=starts)
        toys.append(jax.tree.map(np.asarray, toy))
        fits.append(jax.tree.map(np.asarray, fit))
        times.append(time.perf_counter() - start)
        if bar is not None:
            bar.update(min(batch, n - b * batch))
    start = time.perf_counter()
    toys = jax.tree.map(lambda *x: np.concatenate(x), *toys)
    fits = jax.tree.map(lambda *x: np.concatenate(x), *fits)
    for _ in range(CONTINUATIONS):
        todo = np.flatnonzero(~fits.converged[:n])
        if todo.size == 0:
            break
        todo = np.concatenate([todo, np.full(-todo.size % batch, todo[-1])])
        for sub in todo.reshape(-1, batch):
            take = functools.partial(_take, sub)
            again = fit_toys(parts, coeffs, jax.tree.map(take, toys), g, grid, n_refine,
                             templates, starts=jax.tree.map(take, fits.ends))  # fmt: skip
            for leaf_all, leaf in zip(jax.tree.leaves(fits), jax.tree.leaves(again), strict=True):
                leaf_all[sub] = np.asarray(leaf)
    extra = time.perf_counter() - start
    steady = times[1:] if len(times) > 1 else times
    compile_s = times[0] - np.mean(steady) if len(times) > 1 else float("nan")
    rate = n / (sum(times) + extra - (compile_s if len(times) > 1 else 0.0))
    cat = [x[:n] for x in (fits.t, fits.g_best, fits.chi2_min, fits.converged, fits.at_edge)]
    return cat, (float(compile_s), float(rate))


def _fc_bound(gs, t_obs, crit, outer: bool = True) -> float | None:
    """Upper edge of the accepted couplings (t_obs <= crit): of the outermost accepted one
    (``outer``) or of the first accepted run, interpolated in log g to the next grid point;
    None if that edge is the top of the grid or nothing is accepted."""
    ok = t_obs <= crit
    if not ok.any():
        return None
    first = int(np.argmax(ok))
    ends = np.nonzero(ok[:-1] & ~ok[1:])[0]
    ends = ends[ends >= first]
    if ends.size == 0:
        return None
    k = int(ends[-1] if outer else ends[0])
    if outer and ok[-1]:
        return None
    d0, d1 = t_obs[k] - crit[k], t_obs[k + 1] - crit[k + 1]
    lg0, lg1 = np.log10(gs[k]), np.log10(gs[k + 1])
    return float(10.0 ** (lg0 - d0 * (lg1 - lg0) / (d1 - d0)))


def toy_study(
    lik,
    charges: U1Charges,
    mass_mev: float,
    *,
    coupling: float | None = None,
    n_toys: int = 2000,
    seed: int = 0,
    batch: int = 200,
    grid_points: int = 8,
    n_refine: int = 3,
    fc_points: int = 8,
    fc_toys: int = 400,
    templates: bool = False,
    solver_steps: int = TOY_SOLVER_STEPS,
    progress: bool = False,
) -> ToyStudy:
    """Toys at one mass: Wilks coverage at the true coupling and the FC 2σ upper bound.

    Args:
        lik: single or joint likelihood of the observed data.
        charges: the model's charges; mass_mev: mediator mass (MeV).
        coupling: true coupling of the coverage toys (default: the observed Wilks bound).
        n_toys: coverage toys; fc_toys: toys per coupling of the FC grid (0: no FC).
        seed: random seed; batch: toys per compiled call (the last batch is padded).
        grid_points, n_refine: best-fit search (:func:`search_grid`, parabolic steps).
        fc_points: couplings of the FC grid, log-spaced from half the Wilks bound to 1.25 ×
            the outermost Wilks bound; the observed local minima inside are added.
        templates: fluctuate side-sample templates too (:func:`cevns_jax.toys.toy_spec`;
            default ``False``: the toys test the likelihood as it reads the data, the AC
            sample fixed, see docs/coverage.md; a likelihood that models them, the CsI
            per-bin steady state, has them drawn anyway).
        solver_steps: iterations of iterative profilers per pass (:data:`TOY_SOLVER_STEPS`).
        progress: tqdm bar over toys (stderr).

    Raises:
        ConfigError: non-positive counts, or no Wilks bound at this mass.
    """
    if n_toys < 1 or batch < 1 or grid_points < 3 or fc_toys < 0 or fc_points < 2:
        raise ConfigError(
            "need n_toys >= 1, batch >= 1, grid_points >= 3, fc_toys >= 0 and fc_points >= 2"
        )
    bound = coupling_bound(charges, mass_mev, lik)
    parts = tuple(_with_steps(p, solver_steps) for p in as_joint(lik).parts)
    coeffs = tuple(signal_coefficients(p, charges, mass_mev) for p in parts)
    grid = search_grid(bound, grid_points)
    g_true = bound.g_connected if coupling is None else float(coupling)
    key = jax.random.key(seed)
    fc_gs = np.geomspace(0.5 * bound.g_connected, 1.25 * bound.g_outer, fc_points)
    # an island's minimum is always tested (a coarse grid can step over the island)
    inside = _minima(bound)
    fc_gs = np.unique(np.concatenate([fc_gs, inside[(inside > fc_gs[0]) & (inside < fc_gs[-1])]]))
    fc_points = fc_gs.size

    from tqdm.auto import tqdm

    total = n_toys + (fc_points * fc_toys if fc_toys else 0)
    with tqdm(total=total, disable=not progress, unit="toy", dynamic_ncols=True) as bar:
        (t, g_best, chi2_min, conv, edge), (compile_s, toys_per_s) = _run(
            parts, coeffs, grid, g_true, n_toys, batch, jax.random.fold_in(key, 0),
            templates, n_refine, bar,
        )  # fmt: skip
        crit = np.full(fc_points, np.nan)
        t_obs = np.full(fc_points, np.nan)
        if fc_toys:
            for k, g in enumerate(fc_gs):
                (t_k, *_), _ = _run(
                    parts, coeffs, grid, g, fc_toys, batch, jax.random.fold_in(key, k + 1),
                    templates, n_refine, bar,
                )  # fmt: skip
                crit[k] = np.quantile(t_k, LEVEL_2SIGMA)
            g_obs = np.concatenate([fc_gs, np.full(batch - fc_points % batch, fc_gs[-1])])
            for b in range(-(-fc_points // batch)):
                sl = slice(b * batch, (b + 1) * batch)
                obs = observed_as_toys(parts, batch, templates)
                fits = fit_toys(parts, coeffs, obs, g_obs[sl], grid, n_refine, templates)
                t_obs[sl] = np.asarray(fits.t)[: len(t_obs[sl])]
        else:  # no FC grid: nothing to report for it
            fc_gs = crit = t_obs = np.zeros(0)
    return ToyStudy(
        mass_mev=float(mass_mev), g_true=g_true, t=t, g_best=g_best, chi2_min=chi2_min,
        chi2_min_observed=bound.chi2_min, converged=conv,
        at_edge=edge, toys_per_s=float(toys_per_s),
        compile_s=compile_s,
        wilks_bound=bound.g_connected, wilks_outer=bound.g_outer, island=bound.island,
        g_grid=grid, fc_couplings=fc_gs, fc_critical=crit, fc_t_observed=t_obs,
        fc_upper_bound=_fc_bound(fc_gs, t_obs, crit) if fc_toys else None,
        fc_connected_bound=_fc_bound(fc_gs, t_obs, crit, outer=False) if fc_toys else None,
        fc_toys=fc_toys, templates=templates,
        side_samples=any(len(toy_spec(p, templates).where(p)) > 1 for p in parts),
    )  # fmt: skip
