"""Command-line interface: ``cevns-jax <command> --help`` explains each command.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` to the function that runs it. The entry point enables float64
before anything else is computed.
"""

import argparse
import importlib
import sys

from .._x64 import enable_x64
from ..errors import CevnsJaxError

__all__ = ["main", "build_parser"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("predict", "fit", "bounds", "table", "scan", "models")

_DESCRIPTION = """\
Differentiable CEvNS predictions and likelihoods for the COHERENT CsI (2021) and LAr
(2020) data, in the Standard Model and with light vector (Z') or scalar mediators.

Data: the release files are read from --data-dir, else from $CEVNS_JAX_DATA, else
downloaded once from the official sources (Zenodo, arXiv) into a cache and verified
by sha256.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="cevns-jax",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 for user errors)."""
    enable_x64()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CevnsJaxError as err:
        print(f"cevns-jax {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
