"""Command-line interface: ``cevns-jax <command> --help`` explains each command.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` to the function that runs it. The entry point enables float64
before anything else is computed.
"""

import argparse
import importlib
import sys

from .. import __version__
from .._x64 import check_backend, enable_x64
from ..errors import CevnsJaxError
from ..executors import use_compile_cache

__all__ = ["main", "build_parser"]

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = (
    "predict",
    "fit",
    "bounds",
    "table",
    "scan",
    "toys",
    "sample",
    "project",
    "design",
    "models",
)

_DESCRIPTION = """\
Differentiable CEvNS predictions and likelihoods for the COHERENT CsI (2021) and LAr
(2020) data, in the Standard Model and with light vector (Z') or scalar mediators.

Data: the release files are read from --data-dir, else from $CEVNS_JAX_DATA, else
downloaded once from the official sources (Zenodo, arXiv) into a cache and verified
by sha256.

Compiled functions are kept in JAX's persistent compilation cache, so a second run
starts in seconds: $CEVNS_JAX_COMPILE_CACHE (a directory, or "off"), else
jax-compilation/ in the cevns_jax user cache ($CEVNS_JAX_CACHE).
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="cevns-jax",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {_version_text()}",
        help="print the version (and the git commit when run from a checkout) and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _version_text() -> str:
    from ..provenance import code_version

    code = code_version()
    if not code["git_commit"]:
        return __version__
    dirty = ", modified" if code["git_dirty"] else ""
    return f"{__version__} (git {code['git_commit'][:12]}{dirty})"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 for user and environment errors).

    Every error raised on purpose (:class:`~cevns_jax.errors.CevnsJaxError`: bad input,
    missing data, a JAX platform that cannot start) and every check that fired inside a
    compiled function (:class:`equinox.EquinoxRuntimeError`) is printed as one
    ``cevns-jax COMMAND: error: ...`` line; no traceback.
    """
    import equinox as eqx

    from ..provenance import set_command_line

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    set_command_line(["cevns-jax", *argv])
    try:
        check_backend()
        enable_x64()
        use_compile_cache()
        return int(args.func(args) or 0)
    except CevnsJaxError as err:
        print(f"cevns-jax {args.command}: error: {err}", file=sys.stderr)
        return 2
    except eqx.EquinoxRuntimeError as err:
        message = _runtime_message(err)
        print(f"cevns-jax {args.command}: error: {message}", file=sys.stderr)
        return 2


def _runtime_message(err: Exception) -> str:
    """The check's own message out of equinox's runtime error text."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if "Fix:" in ln or "must" in ln:
            return ln
    return lines[0] if lines else type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
