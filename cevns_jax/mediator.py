"""The new-physics input: a light mediator of one charge assignment, mass and coupling.

One Module type serves the Standard Model (coupling 0), every vector Z' model and the
scalar (its ``charges.scalar`` weight is 1 and its vector charges 0), so a single compiled
function evaluates all of them and never retraces when the model, mass or coupling changes.

Units are in the names: :class:`Mediator` holds ``mass_mev`` (the package computes in MeV);
the user constructor :func:`mediator` takes ``mass_gev``. Both refuse non-physical input
(:mod:`cevns_jax._checks`): eagerly with a :class:`~cevns_jax.errors.ConfigError` on
concrete values, through :func:`equinox.error_if` on traced ones, so the constructors work
under ``jax.jit``, ``jax.grad`` and ``jax.vmap``.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from . import constants as c
from ._checks import check, is_concrete
from ._types import float_array
from .charges import U1Charges, get_model
from .errors import ConfigError

__all__ = ["Mediator", "PERTURBATIVE_LIMIT", "max_charge", "standard_model", "mediator"]

#: Largest allowed g × max|Q'| (sqrt(4π) ≈ 3.54): beyond it g²Q'²/(4π) > 1, the coupling
#: is non-perturbative and the tree-level cross section (docs/physics.md §5) has no meaning.
PERTURBATIVE_LIMIT = math.sqrt(4.0 * math.pi)


class Mediator(eqx.Module):
    """A light mediator (positional form ``Mediator(charges, mass_mev, coupling)``).

    Attributes:
        charges: U(1)' charges (and scalar weight) of the model.
        mass_mev: mediator mass in MeV (finite, > 0).
        coupling: gauge coupling g (the scalar's g~ for the scalar model); finite. Only g²
            enters, so its sign is irrelevant.

    Concrete values are checked when the Module is built (ConfigError naming the field);
    traced values are not (this is the internal, hot-path type: use :func:`mediator` for
    checked construction under ``jit``).
    """

    charges: U1Charges
    mass_mev: Array = eqx.field(converter=float_array)
    coupling: Array = eqx.field(converter=float_array)

    def __check_init__(self):
        if is_concrete(self.mass_mev):
            check(
                self.mass_mev,
                lambda m: jnp.isfinite(m) & (m > 0),
                "Mediator: mass_mev (mediator mass in MeV) must be finite and > 0. "
                "Fix: pass e.g. 10.0 for 10 MeV (mediator(name, mass_gev=..., ...) takes GeV)",
            )
        if is_concrete(self.coupling):
            check(
                self.coupling,
                jnp.isfinite,
                "Mediator: coupling must be finite. Fix: pass a coupling such as 1e-4",
            )


def standard_model() -> Mediator:
    """The Standard Model: a mediator with zero coupling and zero charges."""
    zero3 = np.zeros(3)
    return Mediator(U1Charges.general(zero3, zero3, zero3, 0.0), 1.0, 0.0)


def max_charge(charges: U1Charges) -> Array:
    """Largest |charge| of a model (quarks, neutrinos, charged leptons, scalar weight)."""
    parts = [jnp.max(jnp.abs(getattr(charges, f)), axis=-1) for f in ("quark", "nu", "lepton")]
    return jnp.maximum(jnp.max(jnp.stack(parts), axis=0), jnp.abs(charges.scalar))


def mediator(name: str, mass_gev: ArrayLike, coupling: ArrayLike) -> Mediator:
    """Mediator of a registered model, in user units, checked.

    Scalars give one model point; arrays (broadcast together) give a batch of points whose
    every leaf, the charges included, has the batch shape in front, so that
    ``jax.vmap(lambda m: expected_counts(exp, m))(mediator("B-L", masses, 1e-4))`` evaluates
    them all. Works under ``jax.jit`` and ``jax.grad`` (then the checks run inside the
    compiled function via :func:`equinox.error_if`).

    Args:
        name: registered model name (see ``cevns-jax models``).
        mass_gev: mediator mass in GeV (finite, > 0), scalar or array.
        coupling: coupling g (finite, >= 0, and g × max|Q'| <= sqrt(4π)), scalar or array.

    Raises:
        ConfigError: unknown model; a mass that is not finite and positive; a coupling that
            is negative, not finite or non-perturbative (concrete inputs). Traced inputs
            raise equinox's runtime error with the same message when the function runs.

    Example:
        >>> m = mediator("B-L", mass_gev=0.01, coupling=3e-5)
        >>> float(m.mass_mev)
        10.0
    """
    with jax.ensure_compile_time_eval():  # the registry's charges are constants under jit
        charges = get_model(name)
        q = float(max_charge(charges))
    _reject_non_numeric(mass_gev, "mass_gev")
    _reject_non_numeric(coupling, "coupling")
    m = check(
        float_array(mass_gev),
        lambda x: jnp.isfinite(x) & (x > 0),
        f"mediator({name!r}): mass_gev (mediator mass in GeV) must be finite and > 0. "
        "Fix: pass e.g. mass_gev=0.01 for 10 MeV",
    )
    g = check(
        float_array(coupling),
        lambda x: jnp.isfinite(x) & (x >= 0),
        f"mediator({name!r}): coupling must be finite and >= 0 (only g² enters; the sign "
        "of the interaction is in the charges). Fix: pass e.g. coupling=1e-4",
    )
    limit = PERTURBATIVE_LIMIT / q if q > 0 else math.inf
    g = check(
        g,
        lambda x: x <= limit,
        f"mediator({name!r}): coupling is non-perturbative: g × max|Q'| must not exceed "
        f"sqrt(4π) ≈ {PERTURBATIVE_LIMIT:.3f} (g²Q'²/4π < 1; beyond it the tree-level cross "
        f"section is meaningless), i.e. g <= {limit:.4g} for this model (max|Q'| = {q:g}). "
        "Fix: pass a smaller coupling",
    )
    batch = jnp.broadcast_shapes(m.shape, g.shape)
    if batch:
        m, g = jnp.broadcast_to(m, batch), jnp.broadcast_to(g, batch)
        charges = jax.tree.map(lambda x: jnp.broadcast_to(x, batch + x.shape), charges)
    return Mediator(charges, m * c.MEV_PER_GEV, g)


def _reject_non_numeric(value, name: str) -> None:
    if isinstance(value, str | bytes) or value is None:
        raise ConfigError(f"mediator(): {name} must be a number or an array, got {value!r}")
    if is_concrete(value):
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiub":
            raise ConfigError(
                f"mediator(): {name} must be a number or a numeric array, got {value!r}"
            )
