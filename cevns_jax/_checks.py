"""Input and result checks that work on concrete values and under jit/grad/vmap alike.

On concrete values (Python numbers, numpy arrays, concrete JAX arrays) a failed check
raises :class:`~cevns_jax.errors.ConfigError` at once, naming the argument, the offending
value(s) and the fix. On traced values (inside ``jax.jit``, ``jax.grad``, ``jax.vmap``) the
same condition is attached to the value with :func:`equinox.error_if`, so the compiled
function raises at run time instead of returning NaN; the message is the same text
without the values (they are not known at trace time).
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigError

__all__ = ["is_concrete", "check", "require_finite", "describe_bad"]


def is_concrete(*xs) -> bool:
    """True when no argument (nor any leaf of it) is a JAX tracer."""
    leaves = jax.tree.leaves(xs)
    return not any(isinstance(x, jax.core.Tracer) for x in leaves)


def describe_bad(values: np.ndarray, bad: np.ndarray, limit: int = 4) -> str:
    """The offending values of an array, for an error message: ``-1`` or ``[nan, -1] at
    indices [1, 3]``."""
    values, bad = np.asarray(values), np.asarray(bad)
    if values.ndim == 0:
        return f"{values.item()!r}"
    idx = np.argwhere(bad)
    shown = [values[tuple(i)].item() for i in idx[:limit]]
    where = [tuple(int(j) for j in i) if len(i) > 1 else int(i[0]) for i in idx[:limit]]
    more = f" (and {len(idx) - limit} more)" if len(idx) > limit else ""
    return f"{shown} at index {where}{more} of an array of shape {values.shape}"


def check(
    x,
    ok: Callable,
    message: str,
    *,
    error: type[Exception] = ConfigError,
):
    """Require ``ok(x)`` elementwise; returns ``x`` (with the check attached when traced).

    Args:
        x: the value (scalar or array, concrete or traced).
        ok: elementwise predicate written with ``jnp`` (works on numpy and traced arrays).
        message: what is wrong and how to fix it; for concrete values ``"; got <values>"``
            is inserted before the first ``". Fix:"`` (or appended).
        error: exception type raised for concrete values.

    Raises:
        ConfigError (or ``error``): when a concrete value fails the check.
    """
    if is_concrete(x):
        arr = np.asarray(x)
        good = np.asarray(ok(jnp.asarray(arr)))
        if not np.all(good):
            got = f"; got {describe_bad(arr, ~good)}"
            head, sep, tail = message.partition(". Fix:")
            raise error(head + got + sep + tail)
        return x
    return eqx.error_if(x, ~ok(x), message)


def require_finite(x, what: str, fix: str):
    """Require every element of a result to be finite (no NaN, no ±inf).

    Args:
        x: the result array.
        what: what the result is and from which inputs, e.g. ``"expected counts for B-L at
            M = 0.01 GeV, g = 1e-4"``.
        fix: how to get a finite result (which input to change).
    """
    return check(x, jnp.isfinite, f"{what} are not finite (overflow or NaN). Fix: {fix}")
