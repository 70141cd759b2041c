"""Shared field converters for the package's eqx.Modules."""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

__all__ = ["float_array"]


def float_array(x: ArrayLike) -> Array:
    """Convert to a float array (float64 when x64 is on); the converter of numeric fields."""
    return jnp.asarray(x, dtype=float)
