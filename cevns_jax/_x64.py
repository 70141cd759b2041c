"""Double precision switches for entry points (CLI, tests, notebooks).

The package never flips JAX configuration on import. Entry points call
:func:`enable_x64` first; public compute functions call :func:`require_x64` at
trace time so float32 misuse fails loudly instead of silently losing the
1e-7-level mediator corrections to the weak charge.
"""

import os

import jax
import jax.numpy as jnp

from .errors import BackendError

__all__ = ["check_backend", "enable_x64", "require_x64"]


def enable_x64() -> None:
    """Turn on 64-bit floats in JAX. Call before creating any array."""
    jax.config.update("jax_enable_x64", True)


def require_x64() -> None:
    """Raise if JAX is running in 32-bit mode.

    Raises:
        RuntimeError: when ``jax_enable_x64`` is off, with the fix in the message.
    """
    check_backend()
    if jnp.zeros(()).dtype != jnp.float64:
        raise RuntimeError(
            "cevns_jax needs 64-bit floats: call cevns_jax.enable_x64() (or set "
            "JAX_ENABLE_X64=1) before building experiments or models."
        )


def check_backend() -> None:
    """Start JAX's backend now and turn a failure into an error that says what to do.

    Without this, ``JAX_PLATFORMS=cuda`` on a machine without a usable GPU fails with a
    bare ``AssertionError`` (or a long RuntimeError) at the first array operation.

    Raises:
        BackendError: the requested platform cannot be started; the message names it and
            how to run on the CPU.
    """
    try:
        jax.devices()
    except (RuntimeError, AssertionError) as err:
        requested = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms or ""
        what = f"JAX_PLATFORMS={requested!r}" if requested else "the default JAX platform"
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BackendError(
            f"JAX cannot start {what}: {detail}. This machine has no usable device of that "
            "kind (or the JAX plugin for it is not installed). Fix: run on the CPU with "
            "JAX_PLATFORMS=cpu (or unset JAX_PLATFORMS); for a GPU, install a CUDA-enabled "
            "jaxlib (pip install 'jax[cuda12]') and check that nvidia-smi sees the GPU"
        ) from None
