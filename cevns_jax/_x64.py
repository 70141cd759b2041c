"""Double precision switches for entry points (CLI, tests, notebooks).

The package never flips JAX configuration on import. Entry points call
:func:`enable_x64` first; public compute functions call :func:`require_x64` at
trace time so float32 misuse fails loudly instead of silently losing the
1e-7-level mediator corrections to the weak charge.
"""

import jax
import jax.numpy as jnp

__all__ = ["enable_x64", "require_x64"]


def enable_x64() -> None:
    """Turn on 64-bit floats in JAX. Call before creating any array."""
    jax.config.update("jax_enable_x64", True)


def require_x64() -> None:
    """Raise if JAX is running in 32-bit mode.

    Raises:
        RuntimeError: when ``jax_enable_x64`` is off, with the fix in the message.
    """
    if jnp.zeros(()).dtype != jnp.float64:
        raise RuntimeError(
            "cevns_jax needs 64-bit floats: call cevns_jax.enable_x64() (or set "
            "JAX_ENABLE_X64=1) before building experiments or models."
        )
