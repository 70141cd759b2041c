"""Pieces shared by the CLI commands: options, experiment building, JSON output, tables.

Commands stay thin: parse, build the experiment (:func:`build_experiment`), call the
library, print a table (:func:`format_table`), write JSON (:func:`write_json`) with a
``"provenance"`` block (:func:`cevns_jax.provenance.provenance`) and a figure
(:mod:`cevns_jax.plotting`, imported only when a figure is asked for).
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError

__all__ = [
    "EXPERIMENTS",
    "ExperimentSpec",
    "add_data_dir",
    "add_experiment",
    "add_json",
    "add_plot",
    "build_experiment",
    "check_output",
    "format_table",
    "info",
    "to_jsonable",
    "write_json",
]


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """A data set the CLI can build.

    Attributes:
        name: CLI name.
        title: human-readable title for tables and figures.
        builder: ``(data_dir) -> Experiment``, imported lazily.
        data_files: registry names of the release files the builder reads.
    """

    name: str
    title: str
    builder: Callable
    data_files: tuple[str, ...]


def _build_csi2021(data_dir):
    from ..csi2021 import build_csi2021

    return build_csi2021(data_dir)


def _build_lar2020(data_dir):
    from ..lar2020 import build_lar2020

    return build_lar2020(data_dir)


_CSI_FILES = (
    "dataBeamOnC.txt", "dataBeamOnAC.txt", "brnPE.txt", "ninPE.txt", "brnTrec.txt",
    "ninTrec.txt", "effCoefficients.txt", "scintRespCoefficients.txt",
)
_LAR_FILES = (
    "datanobkgsub.txt", "cevnspdf.txt", "brnpdf.txt", "delbrnpdf.txt", "bkgpdf.txt",
    "cevnspdf+1sigF90.txt", "cevnspdf-1sigF90.txt", "cevnspdfCEvNSTimingMeanSyst.txt",
    "brnpdf+1sigEnergy.txt", "brnpdf-1sigEnergy.txt", "brnpdf+1sigBRNTimingMean.txt",
    "brnpdf-1sigBRNTimingMean.txt", "brnpdfBRNTimingWidthSyst.txt",
    "CENNS10AnlAEfficiency.txt", "LArParametersAnlA.yaml",
)

#: Experiments selectable with ``--experiment``.
EXPERIMENTS: dict[str, ExperimentSpec] = {
    "csi2021": ExperimentSpec(
        "csi2021", "COHERENT CsI[Na] 2021", _build_csi2021,
        tuple(f"csi2021/{f}" for f in _CSI_FILES),
    ),
    "lar2020": ExperimentSpec(
        "lar2020", "COHERENT CENNS-10 LAr 2020", _build_lar2020,
        tuple(f"lar2020/{f}" for f in _LAR_FILES),
    ),
}


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
        choices=tuple(EXPERIMENTS),
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
        help=f"write {what} to this image file (format from the suffix: .png, .pdf, .svg)",
    )


# --- checks and messages -----------------------------------------------------------------
def info(message: str) -> None:
    """A progress message on stderr (stdout carries only results)."""
    print(f"cevns-jax: {message}", file=sys.stderr, flush=True)


def check_output(path: str | None, option: str) -> Path | None:
    """Fail before any computation if an output file cannot be written.

    Raises:
        ConfigError: the parent directory does not exist, or the path is a directory.
    """
    if path is None:
        return None
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    if not out.parent.is_dir():
        raise ConfigError(f"{option} {path}: directory {out.parent} does not exist")
    return out


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


def build_experiment(name: str, data_dir: str | None = None):
    """Build a named experiment from the release files, with a one-line progress message.

    Raises:
        ConfigError: unknown name. DataError: missing or corrupted files.
    """
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    check_data_dir(data_dir)
    start = time.perf_counter()
    exp = EXPERIMENTS[name].builder(data_dir)
    elapsed = time.perf_counter() - start
    info(f"built {name} (detector response and backgrounds) in {elapsed:.1f} s")
    return exp


# --- output ------------------------------------------------------------------------------
def to_jsonable(obj):
    """Nested dicts/lists with arrays and numpy scalars -> plain JSON types.

    Arrays become (nested) lists of Python floats; non-finite floats become ``None``.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, str | bool) or obj is None:
        return obj
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, int | np.integer) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    arr = np.asarray(obj)
    if arr.dtype.kind not in "fiub":
        return str(obj)
    if arr.ndim:
        return [to_jsonable(v) for v in arr]
    value = float(arr)
    return value if math.isfinite(value) else None


def write_json(path: str | os.PathLike, payload: Mapping) -> None:
    """Write ``payload`` as indented JSON (numbers as plain floats)."""
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(to_jsonable(payload), stream, indent=2, allow_nan=False)
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
