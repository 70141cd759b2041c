"""Pieces shared by the CLI commands: options, experiment building, JSON output, tables.

Commands stay thin: parse, build the experiment (:func:`build_experiment`), call the
library, print a table (:func:`format_table`), write JSON (:func:`write_json`) with a
``"provenance"`` block (:func:`cevns_jax.provenance.provenance`) and a figure
(the figure modules, :mod:`cevns_jax.plotting`, imported only when a figure is asked for).
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..registry import EXPERIMENTS, entry

__all__ = [
    "add_data_dir",
    "add_experiment",
    "add_json",
    "add_plot",
    "add_settings",
    "build_experiment",
    "check_finite",
    "check_output",
    "figure_format",
    "format_table",
    "info",
    "parse_set",
    "to_jsonable",
    "write_json",
    "wrote_figure",
]


# --- options ----------------------------------------------------------------------------
def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory holding the release files as <DIR>/csi2021/... and <DIR>/lar2020/... "
        "(default: $CEVNS_JAX_DATA, else download once from Zenodo/arXiv into a cache and "
        "verify each file's sha256)",
    )


def add_experiment(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--experiment",
        "-e",
        choices=tuple(EXPERIMENTS),  # the registry's experiments
        required=required,
        help="data set: csi2021 (CsI[Na], arXiv:2110.07730) or lar2020 (CENNS-10 LAr, "
        "analysis A, Zenodo 10.5281/zenodo.3903810)",
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the results, with provenance (versions, device, data sha256, "
        "configuration), to this JSON file",
    )


def add_plot(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help=f"write {what} to this image file (format from the suffix: .png, .pdf, .svg, "
        "...; PNG when the name has no suffix)",
    )


def add_settings(parser: argparse.ArgumentParser) -> None:
    """``--set NAME=VALUE`` (repeatable): named physics settings (:mod:`cevns_jax.settings`)."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a named physics setting (repeatable), e.g. --set csi.r_n_cs=5.1, "
        "--set form_factor=klein_nystrand (every experiment), --set lar.systematics=none; "
        "--set help lists every name with its default and source (docs/ablation.md)",
    )


def parse_set(items, datasets) -> "object":
    """``--set`` items -> :class:`~cevns_jax.settings.Overrides` for the experiments of
    ``datasets``; ``--set help`` prints every setting and exits 0.

    Raises:
        ConfigError: unknown name or bad value (the message lists the valid names).
    """
    from ..registry import data_set
    from ..settings import parse_settings, settings_help

    entries = list({e.key: e for d in datasets for e in data_set(d)}.values())
    if "help" in items:
        print(settings_help(entries))
        raise SystemExit(0)
    return parse_settings(items, entries)


# --- checks and messages -----------------------------------------------------------------
def info(message: str) -> None:
    """A progress message on stderr (stdout carries only results)."""
    print(f"cevns-jax: {message}", file=sys.stderr, flush=True)


def check_output(path: str | None, option: str, *, figure: bool = False) -> Path | None:
    """Fail before any computation if an output file cannot be written.

    Checks that the path is not a directory, that its directory exists and that a file can
    be created there (by creating and removing a probe file, which also catches read-only
    file systems such as /sys where permission bits say "writable"); with ``figure`` that
    matplotlib knows the format of the suffix (:func:`figure_format`).

    Raises:
        ConfigError: naming the option, the path and the fix.
    """
    if path is None:
        return None
    if not str(path).strip():
        raise ConfigError(f"{option}: empty file name. Fix: give a file name, e.g. {option} out/x")
    out = Path(path).expanduser()
    if out.is_dir():
        raise ConfigError(f"{option} {path}: is a directory. Fix: give a file name inside it")
    parent = out.parent
    if not parent.is_dir():
        raise ConfigError(
            f"{option} {path}: directory {parent} does not exist. Fix: create it first "
            f"(mkdir -p {parent}) or choose another path"
        )
    if figure:
        figure_format(out, option)
    if out.exists():
        if not out.is_file():
            raise ConfigError(
                f"{option} {path}: exists and is not a regular file. Fix: choose another path"
            )
        try:
            with open(out, "ab"):
                pass
        except OSError as err:
            raise ConfigError(
                f"{option} {path}: cannot be overwritten ({err.strerror}). "
                "Fix: choose a writable path"
            ) from None
        return out
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".cevns-jax-probe-")
    except OSError as err:
        raise ConfigError(
            f"{option} {path}: cannot create files in {parent} ({err.strerror}). Fix: choose "
            "a writable directory, e.g. out/ (mkdir -p out)"
        ) from None
    os.close(fd)
    os.remove(probe)
    return out


def figure_formats() -> dict[str, str]:
    """Figure formats matplotlib can write: suffix (no dot) -> description."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def figure_format(path: str | os.PathLike, option: str = "--plot") -> str:
    """The matplotlib format of a figure path: its suffix, or ``"png"`` when it has none.

    Raises:
        ConfigError: a suffix matplotlib cannot write; the message lists those it can.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    formats = figure_formats()
    if suffix not in formats:
        raise ConfigError(
            f"{option} {path}: unknown figure format '.{suffix}'. Fix: use one of "
            + ", ".join(f".{k}" for k in sorted(formats))
        )
    return suffix


def wrote_figure(path: str | os.PathLike) -> None:
    """The progress line after a figure is written (says the format when the name has no
    suffix)."""
    if Path(path).suffix:
        info(f"wrote {path}")
    else:
        info(f"wrote {path} (PNG image: the name has no suffix)")


def check_finite(values: Mapping[str, object], what: str, fix: str) -> None:
    """Refuse non-finite results (NaN, inf) before they are printed or written.

    Args:
        values: name -> number or array of the results to check.
        what: which computation, from which inputs (named in the message).
        fix: how to get a finite result.

    Raises:
        ConfigError: naming the first non-finite result, the inputs and the fix.
    """
    for name, value in values.items():
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise ConfigError(
                f"{what}: {name} is not finite ({int(np.sum(~np.isfinite(arr)))} NaN/inf "
                f"values; overflow in the computation). Fix: {fix}"
            )


def check_data_dir(data_dir: str | None) -> None:
    """Raises DataError, naming the directory, if ``--data-dir`` (or $CEVNS_JAX_DATA) is
    not an existing directory."""
    if data_dir is not None:
        where, path = "--data-dir", data_dir
    elif os.environ.get("CEVNS_JAX_DATA"):
        where, path = "$CEVNS_JAX_DATA", os.environ["CEVNS_JAX_DATA"]
    else:
        return
    if not Path(path).is_dir():
        raise DataError(
            f"data directory {path} (from {where}) does not exist. Fix: point {where} at "
            "the directory holding csi2021/ and lar2020/, or set neither --data-dir nor "
            "$CEVNS_JAX_DATA to download the release files"
        )


def build_experiment(name: str, data_dir: str | None = None, overrides=None):
    """Build a named experiment from the release files, with a one-line progress message;
    ``overrides`` (:class:`~cevns_jax.settings.Overrides`) supplies named settings.

    Raises:
        ConfigError: unknown name. DataError: missing or corrupted files.
    """
    spec = entry(name)  # ConfigError naming the known experiments
    check_data_dir(data_dir)
    start = time.perf_counter()
    exp = spec.builder(data_dir, **({} if overrides is None else overrides.builder_options(spec)))
    elapsed = time.perf_counter() - start
    info(f"built {name} (detector response and backgrounds) in {elapsed:.1f} s")
    return exp


# --- output ------------------------------------------------------------------------------
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
