"""Strict parsing of the whitespace-separated numeric tables of the releases.

All parsing is plain numpy at load time (never under ``jit``). Every problem is
reported as a :class:`~cevns_jax.errors.DataError` naming the file, the line and
the fix.
"""

import os
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["data_error", "read_table", "uniform_edges"]


def data_error(path: str | os.PathLike, problem: str) -> DataError:
    """A :class:`DataError` for ``path`` saying what is wrong and how to fix it."""
    return DataError(
        f"COHERENT data file {path}: {problem}. Fix: replace it with an unmodified copy "
        "of the release file (URLs in cevns_jax.datasets.REGISTRY), or unset "
        "CEVNS_JAX_DATA to download a verified copy."
    )


def read_table(path: str | os.PathLike, ncols: int, *, nrows: int | None = None) -> np.ndarray:
    """Read a numeric table, skipping blank lines and lines starting with ``#``.

    Args:
        path: Text file with ``ncols`` whitespace-separated numbers per data line.
        ncols: Required number of columns on every data line.
        nrows: Required number of data lines; ``None`` accepts any positive number.

    Returns:
        float64 array of shape ``(nrows, ncols)``.

    Raises:
        DataError: unreadable file, wrong column count, non-numeric or non-finite
            entry, wrong (or zero) number of data lines.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise data_error(path, f"cannot be read as text ({exc})") from exc
    rows = []
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != ncols:
            raise data_error(path, f"line {lineno} has {len(fields)} columns, expected {ncols}")
        try:
            rows.append([float(field) for field in fields])
        except ValueError as exc:
            raise data_error(path, f"line {lineno} is not numeric ({line.strip()!r})") from exc
    table = np.array(rows, dtype=np.float64).reshape(len(rows), ncols)
    if nrows is not None and len(rows) != nrows:
        raise data_error(
            path, f"has {len(rows)} data lines, expected {nrows} (truncated or extended file?)"
        )
    if not rows:
        raise data_error(path, "has no data lines (empty or truncated file)")
    if not np.isfinite(table).all():
        raise data_error(path, "contains non-finite values (nan or inf)")
    return table


def uniform_edges(path: str | os.PathLike, centres: np.ndarray, what: str) -> np.ndarray:
    """Bin edges inferred from equally spaced, increasing bin centres.

    Args:
        path: File the centres come from (for error messages).
        centres: Bin centres, shape ``(n,)`` with ``n >= 2``.
        what: Name and unit of the axis, for error messages.

    Returns:
        Edges of shape ``(n + 1,)``: ``centres[0] - w/2 + w * arange(n + 1)`` with
        ``w`` the common spacing, rounded to 10 decimals.

    Raises:
        DataError: fewer than two centres, or centres not increasing evenly.
    """
    steps = np.diff(centres)
    if centres.size < 2 or steps[0] <= 0 or not np.allclose(steps, steps[0], rtol=1e-6):
        raise data_error(
            path, f"the {what} bin centres {centres.tolist()} are not increasing evenly"
        )
    width = (centres[-1] - centres[0]) / (centres.size - 1)
    return np.round(centres[0] - width / 2 + width * np.arange(centres.size + 1), 10)
