"""Pieces shared by the CLI commands: options, input and output checks, experiment building.

Commands stay thin: parse (the ``add_*`` options), check the outputs before any work
(:func:`check_outputs`), build the experiment (:func:`build_experiment`), call the
library, and write with :mod:`cevns_jax.cli._output` (tables, JSON with a
``"provenance"`` block from :func:`cevns_jax.provenance.provenance`) and the figure
modules (:mod:`cevns_jax.plotting`, imported only when a figure is asked for).
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..registry import EXPERIMENTS, entry

__all__ = [
    "add_command",
    "add_data_dir",
    "add_experiment",
    "add_json",
    "add_model",
    "add_model_data",
    "add_outputs",
    "add_plot",
    "add_settings",
    "build_experiment",
    "check_finite",
    "check_output",
    "check_outputs",
    "figure_format",
    "info",
    "parse_set",
]


# --- options ----------------------------------------------------------------------------
def add_command(
    subparsers, name: str, *, help: str, description: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """Add the parser of one subcommand: ``help`` is its line in ``cevns-jax --help``, the
    ``description`` and ``epilog`` (examples) are printed as written."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_model(
    parser: argparse.ArgumentParser, help: str = "light-mediator model (list: cevns-jax models)"
) -> None:
    """``--model NAME`` (required): a registered model name, or what ``help`` says."""
    parser.add_argument("--model", metavar="NAME", required=True, help=help)


def add_model_data(
    parser: argparse.ArgumentParser,
    model_help: str = "light-mediator model (list: cevns-jax models)",
    data_help: str = "data set",
) -> None:
    """``--model NAME`` (:func:`add_model`) and ``--data``, one of the registry's data sets
    (both required)."""
    from ..registry import DATASETS

    add_model(parser, model_help)
    parser.add_argument("--data", choices=tuple(DATASETS), required=True, help=data_help)


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


def add_outputs(parser: argparse.ArgumentParser, figure: str) -> None:
    """``--json FILE`` and ``--plot FILE`` (of ``figure``, see :func:`add_plot`)."""
    add_json(parser)
    add_plot(parser, figure)


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


def check_outputs(args) -> tuple[Path | None, Path | None]:
    """The ``--json`` and ``--plot`` paths of parsed arguments, checked by
    :func:`check_output` (the figure's format too) before any computation."""
    return check_output(args.json, "--json"), check_output(args.plot, "--plot", figure=True)


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
