"""``cevns-jax fit``: Standard-Model fit of one data set — fitted CEvNS counts, significance.

Thin wrapper over :func:`cevns_jax.fit.fit_sm`: build the experiment, fit with the CEvNS
normalisation free and every other nuisance under its prior, print the result and the
nuisance pulls, optionally write JSON (with provenance) and a data-vs-fit figure.
"""

import dataclasses

import numpy as np

from ..registry import entry
from ._common import (
    add_command,
    add_data_dir,
    add_experiment,
    add_outputs,
    add_settings,
    build_experiment,
    check_finite,
    check_outputs,
    info,
    parse_set,
)
from ._output import format_table, write_json, wrote_figure

__all__ = ["register", "run"]

_DESCRIPTION = """\
Fit the Standard-Model CEvNS signal of a COHERENT data set to the data.

The CEvNS normalisation is free (no prior), as in the COHERENT analyses; every other
nuisance (background normalisations, detector-response shape systematics, timing offsets
for CsI, the released shape systematics for LAr) is profiled under its Gaussian prior
(docs/physics.md section 8: Poissonian chi2 for CsI, Gaussian chi2 for LAr).

Prints the fitted CEvNS counts with the Delta chi2 = 1 profile-likelihood interval, the
significance of CEvNS over the no-CEvNS hypothesis (sqrt of the difference of the two
profiled chi2), chi2_min / ndof, and the fitted nuisances with their pulls (value / prior
width). --json writes the same with a provenance block; --plot draws the energy and time
projections of the data minus the fitted steady-state background (errors: sqrt(N_obs +
var SS): CsI sqrt(C + AC), LAr sqrt(N + SS/5)) against the stacked best-fit components.
"""

_EPILOG = """\
examples:
  cevns-jax fit --experiment csi2021 --json csi_fit.json --plot csi_fit.png
  cevns-jax fit -e lar2020 --data-dir ~/coherent-data
"""


def register(subparsers) -> None:
    """Add the ``fit`` subcommand."""
    p = add_command(
        subparsers,
        "fit",
        help="SM fit of one data set: fitted CEvNS counts, significance, nuisance pulls",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_experiment(p)
    add_data_dir(p)
    add_settings(p)
    add_outputs(p, "the data-vs-best-fit projections (energy and time)")
    p.set_defaults(func=run)


def _module_dict(module) -> dict:
    """Fields of a settings/options Module as plain values (for the provenance config)."""
    out = {}
    for f in dataclasses.fields(module):
        v = getattr(module, f.name)
        out[f.name] = v if isinstance(v, str | int) else np.asarray(v).tolist()
    return out


def _print_result(title: str, res) -> None:
    ref = entry(res.experiment).published
    print(f"{title}: Standard-Model fit (CEvNS normalisation free)\n")
    rows = [
        ["CEvNS predicted (SM, nominal)", f"{res.cevns_predicted:.1f}", "-"],
        [
            "CEvNS fitted",
            f"{res.cevns_fitted:.1f} ± {res.cevns_fitted_err:.1f} "
            f"(-{res.cevns_fitted_err_minus:.1f} +{res.cevns_fitted_err_plus:.1f})",
            ref.fitted_text,
        ],
        [
            "significance (no CEvNS)",
            f"{res.significance_sigma:.2f} σ",
            f"{ref.significance_sigma:g} σ",
        ],
        ["chi2_min / ndof", f"{res.chi2_min:.2f} / {res.ndof}", "-"],
        ["chi2 without CEvNS", f"{res.chi2_no_cevns:.2f}", "-"],
        ["converged", str(res.converged), "-"],
    ]
    print(format_table(["", "this fit", f"COHERENT ({ref.reference})"], rows))
    print("\nnuisance parameters (pull = fitted value / prior width):\n")
    nrows = [
        [k, f"{v['value']:+.4f}", "free" if v["pull"] is None else f"{v['pull']:+.3f}",
         "-" if v["prior_width"] is None else f"{v['prior_width']:g}"]
        for k, v in res.nuisances.items()
    ]  # fmt: skip
    print(format_table(["nuisance", "value", "pull", "prior width"], nrows))


def run(args) -> int:
    """Run ``cevns-jax fit`` on parsed arguments; returns the exit code."""
    json_path, plot_path = check_outputs(args)

    from ..fit import fit_sm
    from ..provenance import provenance

    spec = entry(args.experiment)
    overrides = parse_set(args.set, [spec.key])
    exp = build_experiment(args.experiment, args.data_dir, overrides)
    info("profiling the best fit, the no-CEvNS hypothesis and the Δχ² = 1 interval")
    res = fit_sm(spec.likelihood(exp, overrides.likelihood_settings(spec)))
    check_finite(
        {
            k: getattr(res, k)
            for k in (
                "cevns_predicted",
                "cevns_fitted",
                "cevns_fitted_err",
                "chi2_min",
                "chi2_no_cevns",
                "significance_sigma",
            )
        },
        f"fit -e {args.experiment}",
        "the minimiser diverged; report this with the command "
        "line and the data files' sha256 (cevns-jax predict --json shows them)",
    )
    _print_result(spec.title, res)
    if not res.converged:
        info(f"warning: not every profile converged: {res.details}")

    if json_path is not None:
        ref = spec.published
        config = {
            "command": "fit",
            "experiment": exp.name,
            "cevns_normalisation": "free (no prior)",
            "named_settings": overrides.as_dict(),
            "settings": _module_dict(res.likelihood.settings),
            "profiler": {
                type(res.likelihood.solver).__name__: _module_dict(res.likelihood.solver)
            },
            "interval": "Δχ² = 1 profile interval in the total CEvNS counts",
        }
        payload = {
            "experiment": exp.name,
            "title": spec.title,
            "cevns_predicted": res.cevns_predicted,
            "cevns_fitted": res.cevns_fitted,
            "cevns_fitted_err": res.cevns_fitted_err,
            "cevns_fitted_err_minus": res.cevns_fitted_err_minus,
            "cevns_fitted_err_plus": res.cevns_fitted_err_plus,
            "significance_sigma": res.significance_sigma,
            "chi2_min": res.chi2_min,
            "chi2_no_cevns": res.chi2_no_cevns,
            "ndof": res.ndof,
            "converged": res.converged,
            "nuisances": res.nuisances,
            "diagnostics": res.details,
            "published": {
                "cevns_fitted": ref.cevns_fitted,
                "cevns_fitted_err": ref.cevns_fitted_err,
                "significance_sigma": ref.significance_sigma,
                "reference": ref.reference,
            },  # fmt: skip
            "provenance": provenance(config, spec.data_files, args.data_dir),
        }
        write_json(json_path, payload)
    if plot_path is not None:
        from ..plotting_prediction import plot_sm_fit

        plot_sm_fit(plot_path, res, title=spec.title)
        wrote_figure(plot_path)
    return 0
