"""The grid engine: profiled χ² on (model, mass) rows × couplings as compiled, batched calls.

Every client that needs profiled χ² values — scans, bounds, the table, fits at a physics
point — goes through this module. The work is a list of *rows*: one (charges, mass) pair
each, with its own vector of couplings. For each row the recoil spectrum's coefficients of
(1, g², g⁴) are computed once (:func:`cevns_jax.rates.recoil_components`) and reduced to the
likelihood's signal (linear in the spectrum), so every coupling of the row costs only the
polynomial and the nuisance profile. Rows are cut into fixed-size blocks (``block_rows``
rows × ``block_couplings`` couplings, padded), so one compilation per likelihood serves
every model, mass, coupling, grid and data value; a block is one vmapped call, sharded over
all local devices along its rows (:mod:`jax.sharding`), and memory stays bounded by the
block size. A joint likelihood is evaluated part by part (its χ² is separable), so CsI,
LAr and CsI+LAr share two compilations.

The profiles run a fixed number of solver steps, enough for almost every point; the few
that have not converged (a far-excluded point walking a long, curved valley of the
nuisances) are *continued*: their blocks run again, each profile starting where it
stopped, up to :data:`CONTINUATIONS` times, with the same compiled function. A point still
unconverged after that is returned with ``converged = False``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .charges import U1Charges
from .likelihood import AbstractLikelihood, JointLikelihood
from .mediator import Mediator
from .profile import ProfileResult
from .rates import recoil_components, recoil_spectrum

__all__ = [
    "BLOCK_COUPLINGS",
    "BLOCK_ROWS",
    "CONTINUATIONS",
    "as_joint",
    "profile_rows",
    "profiled_chi2",
    "rows_per_block",
]

#: Default block: rows per compiled call (a multiple of the device count is used).
BLOCK_ROWS = 16
#: Default block: couplings per row per compiled call.
BLOCK_COUPLINGS = 25
#: Passes that continue the profiles of unconverged points from where they stopped (each
#: pass: the solver's fixed number of steps again, on the blocks that hold such points).
CONTINUATIONS = 8


def as_joint(lik) -> JointLikelihood:
    """A single likelihood as a one-part :class:`~cevns_jax.likelihood.JointLikelihood`."""
    return lik if isinstance(lik, JointLikelihood) else JointLikelihood((lik,))


def _polynomial(coeffs, g):
    g2 = g * g
    return jax.tree.map(lambda a: a[0] + g2 * a[1] + g2 * g2 * a[2], coeffs)


@eqx.filter_jit
def _block(lik: AbstractLikelihood, charges: U1Charges, masses, couplings, starts, mesh=None):
    """(B,) rows × (G,) couplings -> χ², converged (B, G) and nuisances (B, G, n).

    ``starts`` (B, G, n): nuisances to start each profile from (NaN: the likelihood's own
    start). With a device ``mesh`` (static) the rows are split over its devices with
    ``shard_map``: every device profiles its own rows, no communication.
    """

    def row(ch, mass, gs, x0s):
        comps = recoil_components(lik.experiment, Mediator(ch, mass, 1.0))  # (3, 3, n_T)
        coeffs = lik.signal(comps)

        def point(g, x0):
            res = lik.profile(_polynomial(coeffs, g), start=x0)
            return res.value, res.converged, res.nuisances

        return jax.vmap(point)(gs, x0s)

    rows = jax.vmap(row)
    if mesh is not None:
        spec = PartitionSpec("rows")
        rows = jax.shard_map(rows, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
    return rows(charges, masses, couplings, starts)


def rows_per_block(
    n_couplings: int, block_rows: int = BLOCK_ROWS, block_couplings: int = BLOCK_COUPLINGS
) -> int:
    """How many rows of ``n_couplings`` couplings fill one compiled block (at least 1)."""
    return max(1, block_rows // -(-n_couplings // block_couplings))


def _stack_rows(charges: U1Charges, n_rows: int) -> U1Charges:
    if np.ndim(charges.quark) == 2:  # already stacked: (R, 3)
        return jax.tree.map(jnp.asarray, charges)
    return jax.tree.map(
        lambda x: jnp.broadcast_to(jnp.asarray(x), (n_rows,) + np.shape(x)), charges
    )


def _mesh(n_rows: int) -> Mesh | None:
    devices = jax.local_devices()
    if len(devices) == 1 or n_rows % len(devices):
        return None
    return Mesh(np.array(devices), ("rows",))


def profile_rows(
    lik,
    charges: U1Charges,
    masses_mev,
    couplings,
    *,
    block_rows: int = BLOCK_ROWS,
    block_couplings: int = BLOCK_COUPLINGS,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Profiled χ² for every row (charges, mass) at its couplings.

    Args:
        lik: an :class:`~cevns_jax.likelihood.AbstractLikelihood` or a
            :class:`~cevns_jax.likelihood.JointLikelihood` (χ² of its parts summed).
        charges: one model's charges, or charges stacked along a leading (R,) axis.
        masses_mev: (R,) mediator masses in MeV.
        couplings: (G,) couplings shared by every row, or (R, G) per row (g >= 0).
        block_rows, block_couplings: block size of one compiled call (rows are rounded up
            to a multiple of the local device count).
        progress: show a tqdm bar over blocks (stderr).

    Returns:
        ``(chi2, converged)``, numpy arrays (R, G).
    """
    masses = np.atleast_1d(np.asarray(masses_mev, dtype=float))
    n_rows = masses.size
    gs = np.asarray(couplings, dtype=float)
    gs = np.broadcast_to(gs, (n_rows, gs.shape[-1])) if gs.ndim == 1 else gs
    n_g = gs.shape[1]
    n_dev = len(jax.local_devices())
    block_rows = -(-block_rows // n_dev) * n_dev
    # split each row into sub-rows of block_couplings couplings (last one padded)
    n_sub = -(-n_g // block_couplings)
    padded = np.concatenate([gs, np.repeat(gs[:, -1:], n_sub * block_couplings - n_g, 1)], 1)
    sub_g = padded.reshape(n_rows * n_sub, block_couplings)
    sub_row = np.repeat(np.arange(n_rows), n_sub)
    n_blocks = -(-sub_row.size // block_rows)
    fill = n_blocks * block_rows - sub_row.size
    sub_row = np.concatenate([sub_row, np.full(fill, sub_row[-1])])
    sub_g = np.concatenate([sub_g, np.repeat(sub_g[-1:], fill, 0)])
    rows_charges = _stack_rows(charges, n_rows)
    mesh = _mesh(block_rows)
    parts = as_joint(lik).parts
    chi2 = np.zeros(sub_g.shape)
    conv = np.ones(sub_g.shape, bool)

    from tqdm.auto import tqdm

    with tqdm(
        total=n_blocks * len(parts), disable=not progress, unit="block", dynamic_ncols=True
    ) as bar:
        for part in parts:
            value, ok = _profile_part(
                part, rows_charges, masses, sub_row, sub_g, block_rows, mesh, bar.update
            )
            chi2 += value
            conv &= ok
    keep = slice(0, n_rows * n_sub)
    chi2 = chi2[keep].reshape(n_rows, n_sub * block_couplings)[:, :n_g]
    conv = conv[keep].reshape(n_rows, n_sub * block_couplings)[:, :n_g]
    return chi2, conv


def _profile_part(part, rows_charges, masses, sub_row, sub_g, block_rows, mesh, advance):
    """One likelihood on every sub-row (padded to whole blocks), then up to
    :data:`CONTINUATIONS` passes that continue the unconverged sub-rows from where they
    stopped; returns χ² and converged, (n_sub_rows, block_couplings)."""
    n_nu = len(part.names)
    value = np.zeros(sub_g.shape)
    conv = np.zeros(sub_g.shape, bool)
    nu = np.full(sub_g.shape + (n_nu,), np.nan)

    def run(sub):
        rows = sub_row[sub]
        args = (
            jax.tree.map(lambda x: x[rows], rows_charges),
            jnp.asarray(masses[rows]),
            jnp.asarray(sub_g[sub]),
            jnp.asarray(nu[sub]),
        )
        if mesh is not None:
            args = jax.device_put(args, NamedSharding(mesh, PartitionSpec("rows")))
        out = _block(part, *args, mesh)
        value[sub], conv[sub], nu[sub] = (np.asarray(x) for x in out)

    for b in range(sub_row.size // block_rows):
        run(np.arange(b * block_rows, (b + 1) * block_rows))
        advance(1)
    for _ in range(CONTINUATIONS):
        todo = np.flatnonzero(~conv.all(axis=1))
        if todo.size == 0:
            break
        # whole blocks again (padded by repeating the last sub-row): one compilation
        todo = np.concatenate([todo, np.full(-todo.size % block_rows, todo[-1])])
        for sub in todo.reshape(-1, block_rows):
            run(sub)
    return value, conv


@eqx.filter_jit
def profiled_chi2(model: Mediator, lik) -> ProfileResult:
    """Profiled χ² at one physics point (jitted; differentiable w.r.t. ``model``).

    Changing the model's mass, coupling or charges does not retrace.

    Args:
        model: the physics point (:func:`cevns_jax.mediator.mediator`, ``standard_model``).
        lik: a single or joint likelihood.

    Returns:
        :class:`~cevns_jax.profile.ProfileResult` (``nuisances`` a tuple per part).
    """
    joint = as_joint(lik)
    signals = tuple(p.signal(recoil_spectrum(p.experiment, model)) for p in joint.parts)
    return joint.profile(signals)
