"""``cevns-jax table``: the bound table of arXiv:2202.11002 (Table II) for every model.

Thin wrapper over :func:`cevns_jax.table.bound_table`: validate the models, build CsI and
LAr once, compute the low- and high-mass 2σ bounds of every model on CsI, LAr and
CsI+LAr, print them next to the published values, optionally write JSON (with
provenance) and Markdown.
"""

import time

from ._common import (
    add_command,
    add_data_dir,
    add_json,
    add_settings,
    check_output,
    info,
    parse_set,
)
from ._output import format_table, write_json

__all__ = ["register", "run"]

_DESCRIPTION = """\
The table of 2 sigma (95.45 % C.L., Delta chi2 = 4) upper bounds of arXiv:2202.11002
Table II, for every registered light-mediator model (or --models) on CsI, LAr and
CsI+LAr, in the low-mass regime (bound on g; {low}) and the
high-mass regime (bound on g/M in GeV^-1; {high}).

Each row gives the bound connected to g = 0 ("value"), the outer edge when a
destructive-interference island is also allowed ("outer"), the published number where
Table II has one (universal, B-L, L_mu-L_tau, scalar) and the ratios ours/published.
Every model goes through the same code (see cevns-jax bounds --help); the full table
takes about a minute on 2 CPU cores (benchmarks/README.md).

--json FILE writes {{"bounds": [rows...], "provenance": {{...}}, "elapsed_s": ...}}; each row
has model, data, regime, value, value_outer, island, convergence, converged,
all_converged, mass_gev, check_mass_gev, published, ratio, ratio_outer, closer.
--markdown FILE writes one table per regime like the paper (rows models, columns
Ar / CsI / CsI+Ar).
"""

_EPILOG = """\
examples:
  cevns-jax table --json table.json --markdown table.md
  cevns-jax table --models B-L scalar --data-dir ~/coherent-data
  cevns-jax table --models universal --set form_factor=klein_nystrand --set lar.systematics=none
  cevns-jax table --set help      (every named setting, its default and source)
"""


def register(subparsers) -> None:
    """Add the ``table`` subcommand."""
    from ..table import regime_text

    p = add_command(
        subparsers,
        "table",
        help="2σ bounds of every model on CsI, LAr, CsI+LAr vs arXiv:2202.11002 Table II",
        description=_DESCRIPTION.format(low=regime_text("low"), high=regime_text("high")),
        epilog=_EPILOG,
    )
    add_data_dir(p)
    add_settings(p)
    p.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="models to tabulate (default: every registered model; list: cevns-jax models)",
    )
    add_json(p)
    p.add_argument(
        "--markdown",
        metavar="FILE",
        help="also write the table as Markdown, one table per regime (columns Ar, CsI, "
        "CsI+Ar; cells: value (outer) [published; ratio])",
    )
    p.set_defaults(func=run)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3e}"


def _print(rows) -> None:
    from ..published import BOUNDS_REFERENCE
    from ..table import regime_text

    headers = [
        "model",
        "data",
        "regime",
        "value",
        "outer",
        "island",
        "change",
        "published",
        "ratio",
        "ratio outer",
        "closer",
    ]
    table = [
        [r["model"], r["data"], r["regime"], _fmt(r["value"]),
         _fmt(r["value_outer"]), "yes" if r["island"] else "no",
         f"{r['convergence']:+.1e}" + ("" if r["converged"] and r["all_converged"] else " !"),
         _fmt(r["published"]), "-" if r["ratio"] is None else f"{r['ratio']:.3f}",
         "-" if r["ratio_outer"] is None else f"{r['ratio_outer']:.3f}", r["closer"] or "-"]
        for r in rows
    ]  # fmt: skip
    print(
        f"2σ upper bounds (Δχ² = 4): low = g at {regime_text('low')}, high = g/M "
        f"[GeV^-1] at {regime_text('high')}\n"
    )
    print(format_table(headers, table, left=3))
    print(
        f"\npublished: {BOUNDS_REFERENCE}; change: relative change of the bound between "
        "the regime's two masses ('!' = not converged)"
    )


def run(args) -> int:
    """Run ``cevns-jax table`` on parsed arguments; returns the exit code."""
    from ..registry import DATASETS
    from ..table import bound_table, check_models, markdown_table
    from .bounds import bound_config, build_data_experiments, data_files, likelihood_settings

    models = check_models(args.models)  # unknown names: exit 2 before any data are read
    overrides = parse_set(args.set, DATASETS)
    json_path = check_output(args.json, "--json")
    md_path = check_output(args.markdown, "--markdown")

    start = time.perf_counter()
    experiments = build_data_experiments(DATASETS, args.data_dir, overrides)
    info(f"{len(models)} models x {len(DATASETS)} data sets x 2 regimes, two masses each")
    settings = likelihood_settings(DATASETS, overrides)
    rows = bound_table(experiments, models, tuple(DATASETS), settings=settings)
    elapsed = time.perf_counter() - start
    _print(rows)
    info(f"table done in {elapsed:.1f} s")

    if json_path is not None:
        from ..provenance import provenance

        config = {
            "command": "table",
            "models": models,
            "datasets": list(DATASETS),
            "regimes": ["low", "high"],
            "settings": overrides.as_dict(),
            **bound_config(),
        }
        write_json(json_path, {
            "bounds": rows,
            "provenance": provenance(config, data_files(DATASETS), args.data_dir),
            "elapsed_s": elapsed,
        })  # fmt: skip
    if md_path is not None:
        with open(md_path, "w", encoding="utf-8") as stream:
            stream.write(
                markdown_table(
                    rows, title="COHERENT light-mediator bounds vs arXiv:2202.11002 Table II"
                )
            )
        info(f"wrote {md_path}")
    return 0
