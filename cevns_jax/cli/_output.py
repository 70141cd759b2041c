"""How the CLI commands write: plain-text tables, JSON (numbers as plain floats, non-finite
values recorded), the progress line after a figure."""

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._common import info

__all__ = ["format_table", "to_jsonable", "write_json", "wrote_figure"]


def wrote_figure(path: str | os.PathLike) -> None:
    """The progress line after a figure is written (says the format when the name has no
    suffix)."""
    if Path(path).suffix:
        info(f"wrote {path}")
    else:
        info(f"wrote {path} (PNG image: the name has no suffix)")


def to_jsonable(obj, non_finite: list | None = None, _path: str = ""):
    """Nested dicts/lists with arrays and numpy scalars -> plain JSON types.

    Arrays become (nested) lists of Python floats. JSON has no NaN or infinity: non-finite
    floats become ``None``, and when ``non_finite`` is a list, ``(path, "nan" | "inf" |
    "-inf")`` is appended to it for each, so that the writer can record where
    (:func:`write_json` does; it never drops a NaN silently).
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, non_finite, f"{_path}/{k}") for k, v in obj.items()}
    if isinstance(obj, str | bool) or obj is None:
        return obj
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, non_finite, f"{_path}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, int | np.integer) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    arr = np.asarray(obj)
    if arr.dtype.kind not in "fiub":
        return str(obj)
    if arr.ndim:
        return [to_jsonable(v, non_finite, f"{_path}/{i}") for i, v in enumerate(arr)]
    value = float(arr)
    if math.isfinite(value):
        return value
    if non_finite is not None:
        non_finite.append((_path or "/", str(value)))
    return None


def write_json(path: str | os.PathLike, payload: Mapping) -> None:
    """Write ``payload`` as indented JSON (numbers as plain floats).

    Non-finite numbers are written as ``null`` and listed, with their JSON path and value,
    under ``"non_finite_values"`` (plus a warning on stderr), so a reader can tell a NaN
    from a value that does not apply.
    """
    non_finite: list = []
    data = to_jsonable(payload, non_finite)
    if non_finite:
        data["non_finite_values"] = {
            "description": "numbers that were NaN or infinite, written as null",
            "values": {p: v for p, v in non_finite},
        }
        shown = ", ".join(p for p, _ in non_finite[:3])
        more = f" and {len(non_finite) - 3} more" if len(non_finite) > 3 else ""
        info(
            f"warning: {len(non_finite)} non-finite number(s) written as null in {path} "
            f"({shown}{more}); listed under 'non_finite_values'"
        )
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, allow_nan=False)
        stream.write("\n")
    info(f"wrote {path}")


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1
) -> str:
    """A plain-text table; the first ``left`` columns are left-aligned, the others right."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])
