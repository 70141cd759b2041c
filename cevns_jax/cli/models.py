"""``cevns-jax models``: the registered light-mediator models and their charges."""

from fractions import Fraction

import numpy as np

from ._common import add_command, add_json, check_output
from ._output import format_table, write_json

__all__ = ["register", "run", "model_table"]

_DESCRIPTION = """\
List every registered light-mediator model: its name (as given to --model / --models),
kind (vector Z' or scalar), the U(1)' charges the CEvNS and (g-2) computations use —
quarks per generation (u- and d-type alike), neutrinos and charged leptons per flavour
(e, mu, tau) — whether the charges are anomaly free (with right-handed neutrinos:
c_1 + c_2 + c_3 = c_e + c_mu + c_tau and equal neutrino and charged-lepton charges), and a
description. Conventions: docs/physics.md section 5 and cevns_jax.charges.
"""


def register(subparsers) -> None:
    """Add the ``models`` subcommand."""
    p = add_command(
        subparsers,
        "models",
        help="list the light-mediator models with their charges",
        description=_DESCRIPTION,
    )
    add_json(p)
    p.set_defaults(func=run)


def _fraction(x: float) -> str:
    f = Fraction(float(x)).limit_denominator(12)
    return "0" if f == 0 else str(f)


def _charges_text(values) -> str:
    return "(" + ", ".join(_fraction(v) for v in np.asarray(values)) + ")"


def model_table() -> list[dict]:
    """One dict per registered model: name, kind, charges, anomaly_free, description."""
    from ..charges import MODELS, anomaly_free

    rows = []
    for name, spec in MODELS.items():
        ch = spec.builder()
        rows.append(
            {
                "name": name,
                "kind": spec.kind,
                "quark": np.asarray(ch.quark, dtype=float).tolist(),
                "nu": np.asarray(ch.nu, dtype=float).tolist(),
                "lepton": np.asarray(ch.lepton, dtype=float).tolist(),
                "scalar": float(ch.scalar),
                "anomaly_free": bool(anomaly_free(ch)),
                "description": spec.description,
            }
        )
    return rows


def run(args) -> int:
    """Print the model table (and write it as JSON with ``--json``)."""
    json_path = check_output(args.json, "--json")
    rows = model_table()
    headers = [
        "name",
        "kind",
        "Q'_q (gen 1,2,3)",
        "Q'_nu (e,mu,tau)",
        "Q'_l (e,mu,tau)",
        "anomaly free",
        "description",
    ]
    table = [
        [
            r["name"],
            r["kind"],
            _charges_text(r["quark"]),
            _charges_text(r["nu"]),
            _charges_text(r["lepton"]),
            "yes" if r["anomaly_free"] else "no",
            r["description"],
        ]
        for r in rows
    ]
    print(format_table(headers, table, left=len(headers)))
    print("\nThe scalar model couples flavour-universally with weight 1 (no U(1)' charges).")
    if json_path is not None:
        from ..provenance import provenance

        write_json(json_path, {"models": rows, "provenance": provenance({"command": "models"})})
    return 0
