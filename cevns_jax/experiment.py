"""The :class:`Experiment` pytree: everything fixed about one data set, built once.

An experiment holds the target, flux, recoil-energy grid, detector response matrices
(nominal and ±1σ variants of its shape systematics), the fine time grid with its
efficiency, the analysis binning, the observed counts and the background model. All
numeric content is arrays; names and labels are static. Builders live in
:mod:`cevns_jax.csi2021` and :mod:`cevns_jax.lar2020`.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._types import float_array
from .flux import SNSFlux
from .nuclei import AbstractFormFactor, Nucleus
from .xsec import WeakCouplings

__all__ = ["Experiment", "ShapeParams", "AbstractBackgrounds", "recoil_grid"]


class AbstractBackgrounds(eqx.Module):
    """Background model of one experiment: ``templates(dt_us)`` -> dict of (n_e, n_t)."""

    def templates(self, exp, dt_us=0.0) -> dict[str, Array]:
        raise NotImplementedError

    def reference_cevns(self) -> Array | None:
        """A CEvNS template released with the data (n_e, n_t), or ``None`` (default)."""
        return None


class Experiment(eqx.Module):
    """One COHERENT data set, ready for predictions and likelihoods.

    Attributes:
        name: identifier (``"csi2021"``, ``"lar2020"``).
        target: isotopes stacked along the first axis.
        n_targets: (n_iso,) number of nuclei of each isotope.
        form_factor: nuclear form factor.
        couplings: SM weak couplings.
        flux: SNS flux at the detector.
        T: (n_T,) recoil-energy grid (cell midpoints) in MeV.
        dT: (n_T,) cell widths in MeV.
        response: (n_var, n_T, n_e) energy response; n_var = 1 + 2 n_shape: nominal, then
            (+1σ, -1σ) of each shape systematic, in the order of ``shape_names``.
        shape_names: names of the response shape systematics (static).
        t_fine_edges: (n_f + 1,) fine time edges in us.
        t_weight: (n_f, n_t) time efficiency × fine-to-analysis-bin map.
        e_edges: (n_e + 1,) analysis energy edges (``e_unit``).
        t_edges: (n_t + 1,) analysis time edges in us.
        observed: (n_e, n_t) observed counts.
        backgrounds: the background model.
        e_unit: unit of the energy axis, "PE" or "keVee" (static).
    """

    name: str = eqx.field(static=True)
    target: Nucleus
    n_targets: Array = eqx.field(converter=float_array)
    form_factor: AbstractFormFactor
    couplings: WeakCouplings
    flux: SNSFlux
    T: Array = eqx.field(converter=float_array)
    dT: Array = eqx.field(converter=float_array)
    response: Array = eqx.field(converter=float_array)
    shape_names: tuple[str, ...] = eqx.field(static=True)
    t_fine_edges: Array = eqx.field(converter=float_array)
    t_weight: Array = eqx.field(converter=float_array)
    e_edges: Array = eqx.field(converter=float_array)
    t_edges: Array = eqx.field(converter=float_array)
    observed: Array = eqx.field(converter=float_array)
    backgrounds: AbstractBackgrounds
    e_unit: str = eqx.field(static=True)

    def __check_init__(self):
        n_shape = len(self.shape_names)
        if self.response.shape != (1 + 2 * n_shape, self.T.shape[0], self.e_edges.shape[0] - 1):
            raise ValueError(
                f"{self.name}: response shape {self.response.shape} does not match "
                f"{1 + 2 * n_shape} variants x {self.T.shape[0]} recoil energies x "
                f"{self.e_edges.shape[0] - 1} energy bins"
            )
        if self.t_weight.shape != (self.t_fine_edges.shape[0] - 1, self.t_edges.shape[0] - 1):
            raise ValueError(f"{self.name}: time weight matrix inconsistent with the time binning")
        if self.observed.shape != (self.e_edges.shape[0] - 1, self.t_edges.shape[0] - 1):
            raise ValueError(
                f"{self.name}: observed counts {self.observed.shape} do not match binning"
            )


class ShapeParams(eqx.Module):
    """Shape nuisances of the CEvNS prediction (all zero = nominal).

    Attributes:
        theta: (n_shape,) response systematics in units of their 1σ variation.
        dt_us: () CEvNS timing offset added to the proton-pulse mean, in us.
    """

    theta: Array = eqx.field(converter=float_array)
    dt_us: Array = eqx.field(converter=float_array, default=0.0)

    @classmethod
    def nominal(cls, experiment: Experiment) -> "ShapeParams":
        return cls(jnp.zeros(len(experiment.shape_names)), 0.0)


def recoil_grid(t_top_mev: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform midpoint grid on [0, t_top] (MeV): ``(T, dT)``, each (n,) (NumPy: built once,
    when an experiment is)."""
    edges = np.linspace(0.0, t_top_mev, n + 1)
    return 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
