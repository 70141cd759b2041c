"""LAr 2020: our SM CEvNS prediction vs the released CEvNS template (docs/ablation.md §4).

Prints, per reconstructed-energy bin (keVee), our counts, the released template's, our
counts without the efficiency, the efficiency the release implies (released / ours
without efficiency) next to the released efficiency table at the bin centre, and the
totals under alternative responses: efficiency applied at the true (not the smeared)
E_ee, no resolution, and the time distributions (fractions per time bin).

    PYTHONPATH=. CEVNS_JAX_DATA=... python scripts/lar_sm_template.py
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

import cevns_jax
from cevns_jax.datasets import load_lar2020
from cevns_jax.lar2020 import build_lar2020
from cevns_jax.mediator import standard_model
from cevns_jax.rates import counts_from_spectrum, recoil_spectrum
from cevns_jax.response import lar_energy_response


def main() -> None:
    cevns_jax.enable_x64()
    exp = build_lar2020()
    rel = load_lar2020()
    p = rel.params
    spec = recoil_spectrum(exp, standard_model())

    def counts(response):
        e = dataclasses.replace(exp, response=response[None])
        return np.asarray(counts_from_spectrum(e, spec).sum(axis=0))  # (n_e, n_t)

    ours = counts(exp.response[0])
    ones = np.ones_like(rel.eff)
    no_eff = counts(
        lar_energy_response(
            exp.T,
            rel.e_edges,
            p.qf_a,
            p.qf_b_per_kevnr,
            rel.eff_kevee,
            ones,
            p.energy_resolution_a,
        )
    )
    no_res = counts(
        lar_energy_response(
            exp.T, rel.e_edges, p.qf_a, p.qf_b_per_kevnr, rel.eff_kevee, rel.eff, 1e-6
        )
    )
    # efficiency at the true E_ee: weight the recoil spectrum, then smear with eff = 1
    t_kev = 1e3 * np.asarray(exp.T)
    e_true = (p.qf_a + p.qf_b_per_kevnr * t_kev) * t_kev
    w = np.interp(e_true, rel.eff_kevee, rel.eff)
    resp_true = np.asarray(
        lar_energy_response(
            exp.T,
            rel.e_edges,
            p.qf_a,
            p.qf_b_per_kevnr,
            rel.eff_kevee,
            ones,
            p.energy_resolution_a,
        )
    )
    true_eff = counts(jnp.asarray(resp_true * w[:, None]))
    released = np.asarray(exp.backgrounds.cevns_released())
    edges = np.asarray(rel.e_edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    print(
        "| E_ee bin (keVee) | ours | released | released/ours | ours, no eff. | implied eff. | "
        "table eff. (centre) | eff. at true E_ee |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k in range(len(centres)):
        o, r, n = ours[k].sum(), released[k].sum(), no_eff[k].sum()
        print(
            f"| {edges[k]:.0f}–{edges[k + 1]:.0f} | {o:.2f} | {r:.2f} | "
            f"{r / o if o > 0 else float('nan'):.2f} | {n:.2f} | "
            f"{r / n if n > 0 else float('nan'):.3f} | "
            f"{np.interp(centres[k], rel.eff_kevee, rel.eff):.3f} | {true_eff[k].sum():.2f} |"
        )
    print(
        f"| total | {ours.sum():.1f} | {released.sum():.1f} | {released.sum() / ours.sum():.3f} "
        f"| {no_eff.sum():.1f} | | | {true_eff.sum():.1f} |"
    )
    print(
        f"\nno resolution: {no_res.sum():.1f}; recoil spectrum integral (all T): "
        f"{float(jnp.sum(spec.sum(axis=0) * exp.dT) * exp.n_targets[0]):.4g} (units of the "
        "spectrum × targets)"
    )
    print("time fractions ours:    ", np.round(ours.sum(axis=0) / ours.sum(), 3).tolist())
    print("time fractions released:", np.round(released.sum(axis=0) / released.sum(), 3).tolist())


if __name__ == "__main__":
    main()
