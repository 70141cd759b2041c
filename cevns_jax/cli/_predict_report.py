"""The text report of ``cevns-jax predict``: counts per source, backgrounds and data."""

import numpy as np

from ..plotting import mass_label
from ._output import format_table

__all__ = ["by_source", "print_comparison", "print_prediction"]


def by_source(counts: np.ndarray) -> dict[str, float]:
    """Neutrino source -> CEvNS counts summed over the bins of ``counts`` (n_src, n_e, n_t)."""
    from ..flux import SOURCES

    return {s: float(v) for s, v in zip(SOURCES, counts.sum(axis=(1, 2)), strict=True)}


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def print_prediction(spec, exp, sm, model, model_counts, backgrounds, released) -> None:
    """Print the expected counts per source (SM and, if ``model`` = (name, M [GeV], g), the
    mediator), the backgrounds, the observed total and the published SM prediction."""
    from ..flux import SOURCES

    cols = [sm] if model is None else [sm, model_counts]
    headers = ["", "SM"]
    if model is not None:
        headers.append(f"{model[0]} (M = {mass_label(model[1])}, g = {model[2]:g})")
    label = {
        "nu_e": "CEvNS nu_e (delayed)",
        "nu_mu": "CEvNS nu_mu (prompt)",
        "nubar_mu": "CEvNS anti-nu_mu (delayed)",
    }
    rows = [[label.get(s, s)] + [_fmt(c[i].sum()) for c in cols] for i, s in enumerate(SOURCES)]
    rows.append(["CEvNS total"] + [_fmt(c.sum()) for c in cols])
    bkg_total = sum(float(v.sum()) for v in backgrounds.values())
    for name, v in backgrounds.items():
        rows.append([f"background {name}"] + [_fmt(v.sum())] * len(cols))
    rows.append(["total expected"] + [_fmt(c.sum() + bkg_total) for c in cols])
    rows.append(["observed"] + [f"{exp.observed.sum():,.0f}"] * len(cols))
    e, t = np.asarray(exp.e_edges), np.asarray(exp.t_edges)
    print(f"{spec.title}: expected counts in the analysis region, after all efficiencies")
    print(
        f"({len(e) - 1} energy bins {e[0]:g}-{e[-1]:g} {exp.e_unit} x {len(t) - 1} time "
        f"bins {t[0]:g}-{t[-1]:g} us)\n"
    )
    print(format_table(headers, rows))
    if spec.published is not None:
        print(f"\nCOHERENT SM CEvNS prediction: {spec.published.sm_text}")
    if spec.notes is not None:
        print("\n" + "\n".join(spec.notes(exp, float(sm.sum()))))
    if released is not None:
        print(f"COHERENT released CEvNS template (F90-integrated): {released.sum():.2f}")


def print_comparison(sm_total, compare, results) -> None:
    """Print the CEvNS totals of the ``--compare`` models against the SM."""
    mass, g, _ = compare
    rows = [["SM", "-", "-", _fmt(sm_total), "1.000"]]
    for name, counts in results.items():
        rows.append(
            [
                name,
                mass_label(mass),
                f"{g:g}",
                _fmt(counts.sum()),
                f"{counts.sum() / sm_total:.3f}",
            ]
        )
    print("\n" + format_table(["model", "M", "g", "CEvNS total", "ratio to SM"], rows))
