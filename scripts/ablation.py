"""Ablation of arXiv:2202.11002 Table II over the named physics settings (docs/ablation.md).

For each variant (a list of ``--set`` items, :data:`VARIANTS`) this computes, in one
process reusing the compiled functions: the SM CEvNS prediction and the SM fit of CsI and
LAr (:func:`cevns_jax.fit.fit_sm`), the 24 published Table II entries held in the package
(:data:`cevns_jax.published.PUBLISHED_BOUNDS`: universal, B−L, L_μ−L_τ, scalar × Ar, CsI,
CsI+Ar × low, high) with both readings (connected, outer), and the interference-island
barrier height (largest Δχ² between the two minima of the χ²(g) curve at the regime's main
mass). Experiments are rebuilt only for variants with experiment-level settings.

Results go to a JSON file as each variant finishes (resumable: finished variants are
skipped); ``--markdown`` writes the one-page ratio table (variants × entries) from that JSON.

    PYTHONPATH=. CEVNS_JAX_DATA=... python scripts/ablation.py --json docs/ablation.json \
        --markdown docs/ablation_table.md
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

#: name -> --set items. The first is the defaults.
VARIANTS = {
    "default": [],
    "form factor Klein–Nystrand": ["form_factor=klein_nystrand"],
    "LAr σ_ij² = N^exp": ["lar.sigma_ij_ss_ratio=inf"],
    "LAr CEvNS shifts absolute": ["lar.cevns_shift=absolute"],
    "LAr no released systematics": ["lar.systematics=none"],
    "tree-level g_V (no radiative corr.)": ["radiative=off"],
    "CsI efficiency +1σ row": ["csi.efficiency=plus"],
    "CsI efficiency −1σ row": ["csi.efficiency=minus"],
    "r_n Cs, I = 5.104, 5.050 fm": ["csi.r_n_cs=5.104", "csi.r_n_i=5.050"],
    "CsI pulse mean 0.44 μs": ["csi.pulse_mean_us=0.44"],
    "CsI shape & timing nuisances fixed": [
        "csi.sigma_theta=1e-6", "csi.sigma_dt_cevns=1e-6", "csi.sigma_dt_neutron=1e-6",
    ],
    "no neutron skin (r_n = r_p)": [
        "csi.r_n_cs=4.821", "csi.r_n_i=4.766", "lar.r_n_ar=3.448",
    ],
    "CsI quenching qf0 +1σ": ["csi.quenching=qf0_plus"],
    "CsI quenching qf0 −1σ": ["csi.quenching=qf0_minus"],
    "σ_CEvNS CsI 0.10, LAr 0.10": ["csi.sigma_cevns=0.10", "lar.sigma_cevns=0.10"],
    "LAr ν/POT 0.0848": ["lar.nu_per_pot=0.0848"],
    "LAr scaled to the release's 128 (ν/POT 0.0966)": ["lar.nu_per_pot=0.0966"],
    "LAr r_n 3.2 fm (the release's shape)": ["lar.r_n_ar=3.2"],
    "LAr quenching +1σ (a, b)": ["lar.qf_a=0.252", "lar.qf_b=0.00087"],
    "LAr quenching −1σ (a, b)": ["lar.qf_a=0.240", "lar.qf_b=0.00069"],
    "CsI SS normalisation free": ["csi.sigma_ss=inf"],
    "CsI per-bin steady state (on/off profile)": ["csi.steady_state=per_bin"],
    "CsI SS = the AC (PE, t) histogram (template)": ["csi.steady_state=template"],
    "CsI no time efficiency": ["csi.time_efficiency=off"],
    "CsI linear BRN/NIN time shift": ["csi.neutron_interp=linear"],
    "form factor symmetrized Fermi": ["form_factor=symmetrized_fermi"],
    "LAr Poisson χ² (F90 integrated)": ["lar.chi2=poisson"],
    "LAr F90 binned, Poisson χ² (COHERENT's 3D fit)": ["lar.f90=binned", "lar.chi2=poisson"],
    "LAr F90 binned, Gaussian σ_ij² (ill-defined)": ["lar.f90=binned"],
    "CsI finer binning (PE 4 wide; t 0.5 μs after 1 μs)": [
        "csi.pe_edges=0,8,12,16,20,24,28,32,36,40,44,48,52,56,60",
        "csi.t_edges=0,0.125,0.25,0.375,0.5,0.625,0.75,0.875,1,1.5,2,2.5,3,3.5,4,4.5,5,5.5,6",
    ],
}  # fmt: skip

MODELS = ("universal", "B-L", "L_mu-L_tau", "scalar")
KEYS = ("model", "data", "regime", "value", "value_outer", "island", "published", "ratio",
        "ratio_outer")  # fmt: skip


def barrier(details: dict) -> float | None:
    """Height (Δχ²) of the barrier between the 2σ region connected to g = 0 and the
    interference island: the largest Δχ² between the connected edge g_connected and the
    island's minimum (the lowest point above g_connected); ``None`` without an island."""
    if not details["island"]:
        return None
    lg = np.asarray(details["log10_g"])
    d = np.asarray(details["chi2"]) - details["chi2_min"]
    above = np.flatnonzero(lg > math.log10(details["g_connected"]))
    low = above[int(np.argmin(d[above]))]
    return float(np.max(d[above[0] : low + 1]))


def _island_min(details: dict) -> float | None:
    """Δχ² at the island's minimum (``None`` without an island)."""
    if not details["island"]:
        return None
    lg = np.asarray(details["log10_g"])
    d = np.asarray(details["chi2"]) - details["chi2_min"]
    return float(np.min(d[lg > math.log10(details["g_connected"])]))


def run_variant(items, default_exps, entries, default=None):
    """SM predictions/fits and the 24 table rows of one variant; with ``default`` (the
    default variant's result), what the variant cannot change (the experiments it does
    not touch, the data sets without them) is copied from it."""
    from cevns_jax.fit import fit_sm
    from cevns_jax.registry import build_likelihood
    from cevns_jax.settings import parse_settings
    from cevns_jax.table import bound_rows

    over = parse_settings(items, entries.values())
    exps = {
        k: e.builder(None, **over.builder_options(e))
        if over.has_experiment_settings(k)
        else default_exps[k]
        for k, e in entries.items()
    }
    settings = {k: over.likelihood_settings(e) for k, e in entries.items()}
    out = {"set": list(items), "sm": {}, "rows": []}
    touched = set(over.values) if default is not None else set(entries)
    for k in entries:
        if k not in touched:
            out["sm"][k] = default["sm"][k]
            continue
        lik = build_likelihood(k, experiments=exps, settings=settings).parts[0]
        fit = fit_sm(lik)
        out["sm"][k] = {
            "predicted": fit.cevns_predicted,
            "fitted": fit.cevns_fitted,
            "fitted_err": fit.cevns_fitted_err,
            "significance": fit.significance_sigma,
            "chi2_min": fit.chi2_min,
        }
    entries_24 = [(m, r) for m in MODELS for r in ("low", "high")]
    for data in ("lar", "csi", "csi+lar"):
        if not touched & set(data.split("+")):
            out["rows"] += [r for r in default["rows"] if r["data"] == data]
            continue
        lik = build_likelihood(data, experiments=exps, settings=settings)
        for r in bound_rows(lik, data, entries_24, details=True):
            row = {k: r[k] for k in KEYS}
            row["barrier"] = barrier(r["details"][0])
            row["island_min"] = _island_min(r["details"][0])
            out["rows"].append(row)
    return out


def _closer(r: dict) -> tuple[float, bool]:
    """The ratio of the reading closer to the paper (log distance) and whether it is the
    outer one."""
    outer = r["island"] and abs(math.log(r["ratio_outer"])) < abs(math.log(r["ratio"]))
    return (r["ratio_outer"] if outer else r["ratio"]), bool(outer)


_SHORT = {"universal": "U", "B-L": "B−L", "L_mu-L_tau": "μτ", "scalar": "S"}
_DSHORT = {"csi": "CsI", "lar": "Ar", "csi+lar": "C+A"}
#: a ratio that changes by more than this from the default's is listed as moved
MOVED = 0.03


def _label(key) -> str:
    m, d, g = key
    return f"{_SHORT[m]} {_DSHORT[d]} {g[0]}"


def _cells(res: dict) -> dict:
    """entry key -> (ratio of the reading closer to the paper, outer?) of one variant."""
    return {(r["model"], r["data"], r["regime"]): _closer(r) for r in res["rows"]}


def markdown(results: dict) -> str:
    """The one-page report, one table: a row per variant with its SM numbers, its count
    within 10 % and its ratio per entry — every ratio on the default's row, on a variant's
    row only those that move by more than :data:`MOVED` from the default's (``·``
    otherwise; ``°`` = the outer edge of an island); then the island barriers of the
    variants that change them. Every number of every variant is in the JSON."""
    names = list(results)
    base = _cells(results[names[0]])
    cols = list(base)
    out = ["| variant | CsI pred/fit | Ar pred/fit (σ) | ≤10 % | "
           + " | ".join(_label(k) for k in cols) + " |",
           "|---|---|---|---|" + "---:|" * len(cols)]  # fmt: skip
    for name in names:
        res = results[name]
        cells = _cells(res)
        n10 = sum(abs(v - 1) <= 0.10 for v, _ in cells.values())
        shown = [
            f"{v:.2f}{'°' * o}"
            if name == names[0] or abs(v - base[k][0]) > MOVED or o != base[k][1]
            else "·"
            for k, (v, o) in cells.items()
        ]
        sm = res["sm"]
        out.append(
            f"| {name} | {sm['csi']['predicted']:.0f}/{sm['csi']['fitted']:.0f} | "
            f"{sm['lar']['predicted']:.0f}/{sm['lar']['fitted']:.0f} "
            f"({sm['lar']['significance']:.1f}) | {n10} | " + " | ".join(shown) + " |"
        )
    out += [
        "",
        "Barrier heights Δχ² (island minimum): the default and the variants that "
        "open or close an island or move a barrier below 20 by more than 0.5:",
        "",
    ]
    out += _barriers(results)
    return "\n".join(out) + "\n"


def _barriers(results: dict) -> list[str]:
    """Barrier table rows: the default and the variants that change a barrier."""
    names = list(results)
    rows = {n: {(r["model"], r["data"], r["regime"]): r for r in results[n]["rows"]}
            for n in names}  # fmt: skip
    keys = [k for k in rows[names[0]] if any(rows[n][k]["island"] for n in names)]

    def cell(r):
        return f"{r['barrier']:.1f} ({r['island_min']:.1f})" if r.get("barrier") else "–"

    def differs(n):
        a, b = rows[n], rows[names[0]]
        return any(
            bool(a[k].get("barrier")) != bool(b[k].get("barrier"))
            or (
                a[k].get("barrier")
                and min(a[k]["barrier"], b[k]["barrier"]) < 20
                and abs(a[k]["barrier"] - b[k]["barrier"]) > 0.5
            )
            for k in keys
        )

    lines = ["| variant | " + " | ".join(_label(k) for k in keys) + " |",
             "|---|" + "---|" * len(keys)]  # fmt: skip
    for n in names:
        if n == names[0] or differs(n):
            lines.append(f"| {n} | " + " | ".join(cell(rows[n][k]) for k in keys) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", required=True, help="results file (resumed if it exists)")
    p.add_argument("--markdown", help="write the ratio table here")
    p.add_argument("--only", nargs="*", help="variant names to run (default all)")
    args = p.parse_args(argv)

    import cevns_jax
    from cevns_jax.registry import entry

    cevns_jax.enable_x64()
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {}
    entries = {k: entry(k) for k in ("csi", "lar")}
    todo = [n for n in VARIANTS if n not in results and (not args.only or n in args.only)]
    default_exps = {k: e.builder(None) for k, e in entries.items()} if todo else {}
    for name in todo:
        start = time.perf_counter()
        results[name] = run_variant(VARIANTS[name], default_exps, entries, results.get("default"))
        results[name]["elapsed_s"] = time.perf_counter() - start
        path.write_text(json.dumps(results, indent=1))
        print(f"{name}: {results[name]['elapsed_s']:.0f} s", file=sys.stderr, flush=True)
    if args.markdown:
        ordered = {n: results[n] for n in VARIANTS if n in results}
        Path(args.markdown).write_text(markdown(ordered))
    return 0


if __name__ == "__main__":
    sys.exit(main())
