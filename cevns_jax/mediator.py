"""The new-physics input: a light mediator of one charge assignment, mass and coupling.

One Module type serves the Standard Model (coupling 0), every vector Z' model and the
scalar (its ``charges.scalar`` weight is 1 and its vector charges 0), so a single compiled
function evaluates all of them and never retraces when the model, mass or coupling changes.
"""

import equinox as eqx
import numpy as np
from jaxtyping import Array

from . import constants as c
from ._types import float_array
from .charges import U1Charges, get_model
from .errors import ConfigError

__all__ = ["Mediator", "standard_model", "mediator"]



class Mediator(eqx.Module):
    """A light mediator.

    Attributes:
        charges: U(1)' charges (and scalar weight) of the model.
        mass: mediator mass in MeV (> 0).
        coupling: gauge coupling g (the scalar's g~ for the scalar model).
    """

    charges: U1Charges
    mass: Array = eqx.field(converter=float_array)
    coupling: Array = eqx.field(converter=float_array)


def standard_model() -> Mediator:
    """The Standard Model: a mediator with zero coupling and zero charges."""
    zero3 = np.zeros(3)
    return Mediator(U1Charges.general(zero3, zero3, zero3, 0.0), 1.0, 0.0)


def mediator(name: str, mass_gev: float, coupling: float) -> Mediator:
    """Mediator of a registered model from user units.

    Args:
        name: registered model name (see ``cevns-jax models``).
        mass_gev: mediator mass in GeV (> 0).
        coupling: coupling g (>= 0).

    Raises:
        ConfigError: unknown model, non-positive mass, negative coupling.
    """
    if not np.isfinite(mass_gev) or mass_gev <= 0:
        raise ConfigError(f"mediator mass must be positive, got {mass_gev} GeV; pass e.g. 0.01")
    if not np.isfinite(coupling) or coupling < 0:
        raise ConfigError(f"coupling must be >= 0, got {coupling}; the sign is in the charges")
    return Mediator(get_model(name), mass_gev * c.MEV_PER_GEV, coupling)
