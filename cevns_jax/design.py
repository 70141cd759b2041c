"""Gradient-based design of a future detector: a differentiable Asimov figure of merit.

Figure of merit (FoM): the expected Δχ² with which a design excludes one model point,
here by default L_μ−L_τ at M = 20 MeV with the coupling at the centre of the (g−2)_μ band
(:func:`cevns_jax.g2.g2_band`): Δχ² = min_ν χ²(ν; g) − min_ν χ²(ν; SM), and χ²(SM) = 0 on
Asimov data. The design enters everywhere — the response, the flux, the backgrounds, the
Asimov data and the priors — through :func:`cevns_jax.cryo_csi.build_cryo_experiment`.

Gradient: envelope theorem. The profile is solved with everything held constant
(``stop_gradient`` on the likelihood and the signal), then χ² is re-evaluated at the
profiled nuisances ν̂ with the design live: dΔχ²/dp = ∂χ²/∂p |_ν̂ exactly, because
∂χ²/∂ν = 0 at the minimum (no nuisance sits on a bound: they are unconstrained factors and
shape parameters). :func:`gradient_check` compares it with central finite differences.

Optimisation (:func:`optimise`, optax Adam) under a fixed exposure budget mass × years
(kg·yr): the free parameters are the threshold (0.3-5 keVnr) and the mass (¼-4 × the
initial mass; the years follow as budget/mass, the split between beam powers kept),
both through bounded log-sigmoid maps. The trade-offs: a lower threshold adds signal but
raises the accidental-veto loss of every bin; at fixed mass × years the veto favours a
light detector, the noise background (∝ mass^(2/3) × years) a heavy one. Light yield,
background level and baseline have no cost in this model, so their gradients are
reported but they are not optimised.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .charges import get_model
from .cryo_csi import build_cryo_experiment
from .cryo_design import CryoDesign, as_dict
from .g2 import g2_band
from .likelihood_cryo import CryoLikelihood, CryoSettings
from .mediator import Mediator
from .rates import recoil_spectrum

__all__ = [
    "CHECKED_PARAMETERS",
    "BOUNDS",
    "figure_of_merit",
    "fom_point",
    "gradient",
    "gradient_check",
    "optimise",
    "scan_parameter",
]

#: Design parameters whose FoM gradient is reported and checked: (field, index or None).
CHECKED_PARAMETERS = {
    "threshold_kevnr": ("threshold_kevnr", None),
    "mass_kg": ("mass_kg", None),
    "light_yield": ("light_yield", None),
    "background_scale": ("background_scale", None),
    "distance_m": ("distance_m", None),
    "years_2mw": ("years", 0),
    "years_2p8mw": ("years", 1),
}
#: Bounds of the optimised parameters: threshold in keVnr, mass relative to the initial one.
BOUNDS = {"threshold_kevnr": (0.3, 5.0), "mass_factor": (0.25, 4.0)}


def fom_point(model: str = "L_mu-L_tau", mass_mev: float = 20.0) -> Mediator:
    """The model point of the FoM: coupling at the centre of the (g−2)_μ band."""
    ch = get_model(model)
    g = float(g2_band(mass_mev, ch).central)
    if not np.isfinite(g):
        raise ValueError(f"model {model!r} has no (g−2)_μ band (no muon coupling)")
    return Mediator(ch, mass_mev, g)


def _fom(design: CryoDesign, point: Mediator, settings: CryoSettings):
    exp = build_cryo_experiment(design)
    lik = CryoLikelihood(exp, settings)
    signal = lik.signal(recoil_spectrum(exp, point))
    frozen = jax.lax.stop_gradient((lik, signal))
    res = frozen[0].profile(frozen[1])
    return lik.twice_nll(res.nuisances, signal), res.converged


_value = eqx.filter_jit(_fom)
_value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(_fom, has_aux=True))


def figure_of_merit(design: CryoDesign, point: Mediator | None = None, settings=None):
    """(Δχ², converged): the expected Δχ² excluding ``point`` (default :func:`fom_point`)."""
    point = fom_point() if point is None else point
    value, ok = _value(design, point, CryoSettings() if settings is None else settings)
    return float(value), bool(ok)


def gradient(design: CryoDesign, point: Mediator | None = None, settings=None):
    """(Δχ², d Δχ²/d design as a :class:`CryoDesign` of gradients, converged)."""
    point = fom_point() if point is None else point
    (value, ok), grad = _value_and_grad(
        design, point, CryoSettings() if settings is None else settings
    )
    return float(value), grad, bool(ok)


def _get(d: CryoDesign, field: str, index):
    x = np.asarray(getattr(d, field))
    return float(x if index is None else x[index])


def _set(d: CryoDesign, field: str, index, value: float) -> CryoDesign:
    x = np.array(getattr(d, field), dtype=float)
    if index is None:
        x = np.asarray(value)
    else:
        x[index] = value
    return eqx.tree_at(lambda z: getattr(z, field), d, jnp.asarray(x))


def gradient_check(design: CryoDesign, point: Mediator | None = None, rel_step: float = 1e-4):
    """Autodiff (envelope) gradient vs central finite differences for
    :data:`CHECKED_PARAMETERS`; step h = rel_step × max(|p|, 1).

    Returns:
        ``{"max_rel_error", "figure_of_merit", "parameters": {name: {"value", "autodiff",
        "finite_difference", "rel_error"}}}``.
    """
    value, grad, _ = gradient(design, point)
    out = {}
    for name, (field, index) in CHECKED_PARAMETERS.items():
        x = _get(design, field, index)
        h = rel_step * max(abs(x), 1.0)
        up = figure_of_merit(_set(design, field, index, x + h), point)[0]
        down = figure_of_merit(_set(design, field, index, x - h), point)[0]
        fd = (up - down) / (2.0 * h)
        ad = _get(grad, field, index)
        out[name] = {
            "value": x,
            "autodiff": ad,
            "finite_difference": fd,
            "rel_error": abs(ad - fd) / max(abs(fd), 1e-300),
        }
    worst = max(v["rel_error"] for v in out.values())
    return {"max_rel_error": worst, "figure_of_merit": value, "parameters": out}


def _bounded(u, lo, hi):
    """log-sigmoid map R -> (lo, hi) and its inverse."""
    return lo * (hi / lo) ** jax.nn.sigmoid(u)


def _unbounded(x, lo, hi):
    s = np.log(x / lo) / np.log(hi / lo)
    return float(np.log(s / (1.0 - s)))


def _constrained(initial: CryoDesign, u) -> CryoDesign:
    """The design of the free parameters u = (threshold, mass) on the mass × years budget."""
    budget = initial.mass_kg * jnp.sum(initial.years)
    split = initial.years / jnp.sum(initial.years)
    mass = initial.mass_kg * _bounded(u[1], *BOUNDS["mass_factor"])
    d = eqx.tree_at(
        lambda z: z.threshold_kevnr, initial, _bounded(u[0], *BOUNDS["threshold_kevnr"])
    )
    d = eqx.tree_at(lambda z: z.mass_kg, d, mass)
    return eqx.tree_at(lambda z: z.years, d, budget / mass * split)


def optimise(initial: CryoDesign, steps: int = 30, learning_rate: float = 0.15, point=None,
             progress: bool = False) -> dict:  # fmt: skip
    """Maximise the FoM with optax Adam on (threshold, mass) at fixed mass × years.

    Returns:
        ``{"initial", "final": {"figure_of_merit", "design"}, "history": [{"step",
        "figure_of_merit", "threshold_kevnr", "mass_kg", "years"}, ...], "constraint"}``.
    """
    import optax
    from tqdm.auto import tqdm

    point = fom_point() if point is None else point
    settings = CryoSettings()
    u = jnp.array([
        _unbounded(float(initial.threshold_kevnr), *BOUNDS["threshold_kevnr"]),
        _unbounded(1.0, *BOUNDS["mass_factor"]),
    ])  # fmt: skip
    f0 = figure_of_merit(initial, point)[0]

    @eqx.filter_jit
    def loss_and_grad(u):
        def loss(u):
            value, ok = _fom(_constrained(initial, u), point, settings)
            return -value / f0, (value, ok)

        return jax.value_and_grad(loss, has_aux=True)(u)

    opt = optax.adam(learning_rate)
    state = opt.init(u)
    history = []
    for step in tqdm(range(steps + 1), disable=not progress, unit="step"):
        (_, (value, ok)), g = loss_and_grad(u)
        d = _constrained(initial, u)
        history.append({
            "step": step, "figure_of_merit": float(value), "converged": bool(ok),
            "threshold_kevnr": float(d.threshold_kevnr), "mass_kg": float(d.mass_kg),
            "years": np.asarray(d.years).tolist(),
        })  # fmt: skip
        if step == steps:
            break
        updates, state = opt.update(g, state)
        u = optax.apply_updates(u, updates)
    best = max(history, key=lambda h: h["figure_of_merit"])
    final = _constrained(initial, u)
    return {
        "initial": {"figure_of_merit": f0, "design": as_dict(initial)},
        "final": {"figure_of_merit": history[-1]["figure_of_merit"], "design": as_dict(final)},
        "best_step": best["step"],
        "history": history,
        "constraint": {
            "description": "fixed exposure budget mass x years; threshold in "
            f"{BOUNDS['threshold_kevnr']} keVnr, mass in {BOUNDS['mass_factor']} x initial",
            "budget_kg_yr": float(initial.mass_kg * jnp.sum(initial.years)),
        },
        "final_design_object": final,
    }


def scan_parameter(design: CryoDesign, name: str, values, point=None) -> np.ndarray:
    """FoM along one parameter: ``"threshold_kevnr"`` or ``"mass_kg"`` (on the budget:
    the years follow as budget/mass)."""
    out = []
    budget = float(design.mass_kg * jnp.sum(design.years))
    split = design.years / jnp.sum(design.years)
    for v in values:
        if name == "mass_kg":
            d = eqx.tree_at(lambda z: z.mass_kg, design, jnp.asarray(float(v)))
            d = eqx.tree_at(lambda z: z.years, d, budget / float(v) * split)
        else:
            d = eqx.tree_at(lambda z: getattr(z, name), design, jnp.asarray(float(v)))
        out.append(figure_of_merit(d, point)[0])
    return np.asarray(out)
