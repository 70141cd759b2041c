"""U(1)' charge assignments of light mediators, and the registry of named models.

A :class:`U1Charges` holds only float arrays, so it is a traced pytree: changing the
charges never retraces a jitted function, and several models stack along a leading axis
(:func:`stack_charges`) to be vmapped over.

Conventions (docs/physics.md §5): a vector Z' of the generator
G = c_1 B_1 + c_2 B_2 + c_3 B_3 − c_e L_e − c_μ L_μ − c_τ L_τ gives the quarks of
generation i the charge Q'_{q_i} = c_i / 3 (u- and d-type alike) and the neutrino and the
charged lepton of flavour l the common charge Q'_{ν_l} = Q'_l = −c_l. With this sign B−L has
Q'_ν Q'_q < 0, which adds constructively to the (negative) SM weak charge.
With right-handed neutrinos the generator is anomaly free iff c_1 + c_2 + c_3 = c_e + c_μ + c_τ.
"""

import dataclasses
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._types import float_array
from .errors import ConfigError

__all__ = [
    "U1Charges",
    "ModelSpec",
    "MODELS",
    "anomaly_free",
    "get_model",
    "model_names",
    "stack_charges",
]


def _is_concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


class U1Charges(eqx.Module):
    """Charges of the SM fermions under a new U(1)', plus a scalar-mediator weight.

    Every field may carry extra leading batch axes (a stack of models); the trailing
    shapes are fixed.

    Attributes:
        quark: (..., 3) charge Q'_{q_i} of the quarks of generation i = 1, 2, 3 (u- and
            d-type alike). CEvNS on nuclei sees ``quark[..., 0]``.
        nu: (..., 3) neutrino charges Q'_{ν_e}, Q'_{ν_μ}, Q'_{ν_τ}.
        lepton: (..., 3) charged-lepton charges Q'_e, Q'_μ, Q'_τ (loop-induced kinetic
            mixing, (g−2)_μ).
        scalar: (...) coupling weight of a flavour-universal CP-even scalar mediator
            (1 for the ``scalar`` model, 0 for every Z' model).

    Example:
        >>> ch = U1Charges.from_generator(1.0, 1.0, 1.0, 1.0)  # B - L
        >>> ch.nu.tolist(), round(float(ch.quark[0]), 4)
        ([-1.0, -1.0, -1.0], 0.3333)
    """

    quark: Float[Array, "*batch 3"] = eqx.field(converter=float_array)
    nu: Float[Array, "*batch 3"] = eqx.field(converter=float_array)
    lepton: Float[Array, "*batch 3"] = eqx.field(converter=float_array)
    scalar: Float[Array, "*batch"] = eqx.field(converter=float_array)

    def __check_init__(self):
        for name in ("quark", "nu", "lepton"):
            shape = getattr(self, name).shape
            if shape[-1:] != (3,):
                raise ConfigError(
                    f"U1Charges.{name} must have trailing shape (3,) (generations or flavours "
                    f"e, mu, tau), got shape {shape}"
                )
        for name in ("quark", "nu", "lepton", "scalar"):
            value = getattr(self, name)
            if _is_concrete(value) and not np.all(np.isfinite(np.asarray(value))):
                raise ConfigError(
                    f"U1Charges.{name} must be finite, got {np.asarray(value).tolist()}. Fix: "
                    "pass real numbers (NaN or inf charges give NaN event counts)"
                )
        batches = [self.quark.shape[:-1], self.nu.shape[:-1], self.lepton.shape[:-1]]
        batches.append(self.scalar.shape)
        try:
            np.broadcast_shapes(*batches)
        except ValueError as err:
            raise ConfigError(
                f"U1Charges fields have incompatible batch shapes {batches}; stack whole "
                "models with stack_charges instead of stacking single fields"
            ) from err

    @classmethod
    def general(
        cls, quark: ArrayLike, nu: ArrayLike, lepton: ArrayLike, scalar: ArrayLike = 0.0
    ) -> "U1Charges":
        """Any charge assignment (no anomaly check; see :func:`anomaly_free`).

        Args:
            quark: (..., 3) quark charge per generation.
            nu: (..., 3) neutrino charges (e, μ, τ).
            lepton: (..., 3) charged-lepton charges (e, μ, τ).
            scalar: (...) scalar-mediator weight.
        """
        return cls(quark=quark, nu=nu, lepton=lepton, scalar=scalar)

    @classmethod
    def from_generator(
        cls, c_B: float, c_e: float, c_mu: float, c_tau: float, *, check: bool = True
    ) -> "U1Charges":
        """Charges of G = c_B·B − c_e L_e − c_μ L_μ − c_τ L_τ (flavour-universal B).

        Quarks of every generation get c_B/3; neutrino and charged lepton of flavour l
        get −c_l; the scalar weight is 0.

        Args:
            c_B: coefficient of baryon number.
            c_e, c_mu, c_tau: coefficients of the lepton numbers (note the minus sign in G).
            check: enforce the anomaly-cancellation condition (skipped for traced inputs).

        Raises:
            ConfigError: if 3 c_B != c_e + c_mu + c_tau (not anomaly free).
        """
        if check and _is_concrete(c_B, c_e, c_mu, c_tau):
            lhs = 3.0 * np.asarray(c_B, dtype=float)
            rhs = np.asarray(c_e, dtype=float) + np.asarray(c_mu, dtype=float) + c_tau
            if not np.allclose(lhs, rhs, rtol=1e-12, atol=1e-12):
                raise ConfigError(
                    f"U(1)' generator c_B B - c_e L_e - c_mu L_mu - c_tau L_tau with c_B={c_B}, "
                    f"c_e={c_e}, c_mu={c_mu}, c_tau={c_tau} is not anomaly free: "
                    f"3 c_B = {lhs} but c_e + c_mu + c_tau = {rhs}. Choose coefficients with "
                    "3 c_B = c_e + c_mu + c_tau, or build the charges with "
                    "U1Charges.general(...) to accept an anomalous model."
                )
        c_B = float_array(c_B)
        cl = jnp.stack(
            jnp.broadcast_arrays(float_array(c_e), float_array(c_mu), float_array(c_tau)), -1
        )
        quark = jnp.broadcast_to(c_B[..., None] / 3.0, c_B.shape + (3,))
        neg = 0.0 - cl  # not -cl: keeps +0.0 for uncharged flavours
        return cls(quark=quark, nu=neg, lepton=neg, scalar=jnp.zeros(c_B.shape))


def anomaly_free(charges: U1Charges, *, atol: float = 1e-12) -> bool | np.ndarray:
    """Whether the charges satisfy the general anomaly condition (reports, never raises).

    With right-handed neutrinos and c_i = 3 Q'_{q_i}, c_l = −Q'_l the condition is
    c_1 + c_2 + c_3 = c_e + c_μ + c_τ, i.e. Σ_i 3 Q'_{q_i} = −Σ_l Q'_l, together with
    Q'_{ν_l} = Q'_l for every flavour. The scalar weight plays no role (a model with only
    a scalar weight counts as anomaly free). Needs concrete (non-traced) charges.

    Args:
        charges: one model, or a stack of models.
        atol: absolute tolerance of the comparisons.

    Returns:
        ``bool`` for one model, a boolean numpy array of the batch shape for a stack.
    """
    quark = np.asarray(charges.quark, dtype=float)
    nu = np.asarray(charges.nu, dtype=float)
    lepton = np.asarray(charges.lepton, dtype=float)
    gauge = np.abs(3.0 * quark.sum(-1) + lepton.sum(-1)) <= atol
    same = np.all(np.abs(nu - lepton) <= atol, axis=-1)
    ok = gauge & same
    return bool(ok) if ok.ndim == 0 else ok


def stack_charges(charges: Sequence[U1Charges]) -> U1Charges:
    """Stack models along a new leading axis (for vmap over models).

    Args:
        charges: non-empty sequence of :class:`U1Charges` of equal shapes.

    Returns:
        A :class:`U1Charges` whose leaves have a leading axis of length ``len(charges)``.
    """
    if len(charges) == 0:
        raise ConfigError("stack_charges needs at least one U1Charges")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *charges)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A named model of the registry.

    Attributes:
        name: registry name, e.g. ``"B-L"``.
        builder: zero-argument callable returning the model's :class:`U1Charges`.
        kind: ``"vector"`` (Z') or ``"scalar"``.
        description: one-line human description.
    """

    name: str
    builder: Callable[[], U1Charges]
    kind: str
    description: str


def _gen(c_B: float, c_e: float, c_mu: float, c_tau: float) -> Callable[[], U1Charges]:
    return lambda: U1Charges.from_generator(c_B, c_e, c_mu, c_tau)


def _general(quark, nu, lepton, scalar=0.0) -> Callable[[], U1Charges]:
    return lambda: U1Charges.general(quark, nu, lepton, scalar)


_THIRD = (1.0 / 3.0,) * 3
_SPECS = [
    ModelSpec(
        "universal",
        _general((1.0,) * 3, (1.0,) * 3, (1.0,) * 3),
        "vector",
        "Q' = 1 for all quarks and leptons (not anomaly free)",
    ),
    ModelSpec(
        "B-L",
        _gen(1.0, 1.0, 1.0, 1.0),
        "vector",
        "baryon minus lepton number: Q'_q = 1/3, Q'_l = -1",
    ),
    ModelSpec(
        "B_y+L_mu+L_tau",
        _general(_THIRD, (0.0, 1.0, 1.0), (0.0, 1.0, 1.0)),
        "vector",
        "Q'_q = 1/3, Q'_{nu_mu} = Q'_{nu_tau} = +1 (destructive interference); anomaly "
        "status depends on the generation structure of B, reported by anomaly_free",
    ),
    ModelSpec("B-3L_e", _gen(1.0, 3.0, 0.0, 0.0), "vector", "B - 3 L_e"),
    ModelSpec("B-3L_mu", _gen(1.0, 0.0, 3.0, 0.0), "vector", "B - 3 L_mu"),
    ModelSpec("B-2L_e-L_mu", _gen(1.0, 2.0, 1.0, 0.0), "vector", "B - 2 L_e - L_mu"),
    ModelSpec("B-L_e-2L_mu", _gen(1.0, 1.0, 2.0, 0.0), "vector", "B - L_e - 2 L_mu"),
    ModelSpec(
        "L_e-L_mu",
        _gen(0.0, -1.0, 1.0, 0.0),
        "vector",
        "leptophilic, Q'_e = +1, Q'_mu = -1; couples to nuclei through the loop",
    ),
    ModelSpec(
        "L_e-L_tau",
        _gen(0.0, -1.0, 0.0, 1.0),
        "vector",
        "leptophilic, Q'_e = +1, Q'_tau = -1; couples to nuclei through the loop",
    ),
    ModelSpec(
        "L_mu-L_tau",
        _gen(0.0, 0.0, -1.0, 1.0),
        "vector",
        "leptophilic, Q'_mu = +1, Q'_tau = -1; couples to nuclei through the loop",
    ),
    ModelSpec(
        "scalar",
        _general((0.0,) * 3, (0.0,) * 3, (0.0,) * 3, 1.0),
        "scalar",
        "flavour-universal CP-even scalar mediator (vector charges 0, weight 1)",
    ),
]

#: Registry of named models, in display order.
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def model_names() -> list[str]:
    """Names of the registered models, in registry order."""
    return list(MODELS)


def get_model(name: str) -> U1Charges:
    """Charges of a registered model.

    Args:
        name: one of :func:`model_names`.

    Raises:
        ConfigError: for an unknown name; the message lists the valid names.

    Example:
        >>> get_model("L_mu-L_tau").lepton.tolist()
        [0.0, 1.0, -1.0]
    """
    try:
        spec = MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}") from None
    return spec.builder()
