"""``cevns-jax predict``: expected CEvNS counts for one data set, backgrounds and data.

Prints a table of the expected CEvNS counts in the analysis region after all efficiencies
(total and per neutrino source), the background expectations and the observed total; for a
light mediator (``--model/--mass/--coupling``) next to the SM. ``--json`` writes the numbers
with the binning, the 2D (energy × time) arrays and the run's provenance; ``--plot`` draws
prediction vs data projections, or with ``--compare`` the CEvNS spectra of the SM and of
several mediator models.
"""

import numpy as np

from ..registry import entry
from ._common import (
    add_command,
    add_data_dir,
    add_experiment,
    add_outputs,
    build_experiment,
    check_finite,
    check_outputs,
    info,
)
from ._output import write_json, wrote_figure
from ._predict_report import by_source, print_comparison, print_prediction

__all__ = ["register", "run", "DEFAULT_COMPARE"]

#: Models of the ``--compare`` figure unless ``--models`` says otherwise.
DEFAULT_COMPARE = ("universal", "B-L", "L_mu-L_tau", "scalar")
_COMPARE_MASS_GEV = 0.01
_COMPARE_COUPLING = 1e-4

_DESCRIPTION = """\
Predict the CEvNS event counts of a COHERENT data set and compare them with the data.

Prints the expected CEvNS counts in the analysis region after all efficiencies (total and
per neutrino source: delayed nu_e, prompt nu_mu, delayed anti-nu_mu), the expected
backgrounds and the observed total. Without --model the prediction is the Standard Model
(radiatively corrected weak couplings, Helm form factors, analytic pion-decay-at-rest
flux); with --model NAME --mass M --coupling G it is for that light mediator, shown next
to the SM.

--plot FILE draws the energy and time projections of the prediction (CEvNS stacked by
neutrino source) against the data minus backgrounds. By default (--backgrounds fitted) the
backgrounds are those of the SM fit of the data (cevns-jax fit: CEvNS normalisation free,
every background under its prior), so that the data points show what the fit attributes
to CEvNS; --backgrounds nominal subtracts the nominal (unfitted) expectations instead and
skips the fit. CsI: coincidence minus the (fitted) anti-coincidence steady state, with
sqrt(C + AC) errors, and the (fitted) beam-related and neutrino-induced neutrons stacked
under the CEvNS. LAr: data minus every (fitted) background with sqrt(N) errors, plus the
released COHERENT CEvNS template as a dashed line. The legend and the box say which.

--compare draws instead (to the --plot file) the CEvNS energy and time spectra of the SM
and of several models (--models, plus --model when given) at one mass and coupling
(default M = 0.01 GeV, g = 1e-4), with their ratios to the SM, and adds their totals to the
table and JSON.
"""

_EPILOG = """\
examples:
  cevns-jax predict -e csi2021 --json csi2021.json --plot csi2021.png
  cevns-jax predict -e lar2020 --model B-L --mass 0.01 --coupling 5e-5 --plot bl.png
  cevns-jax predict -e csi2021 --compare --plot spectra.png
  cevns-jax predict -e lar2020 --compare --models B-L B-3L_mu --mass 0.05 --plot cmp.png
"""


def register(subparsers) -> None:
    """Add the ``predict`` subcommand."""
    p = add_command(
        subparsers,
        "predict",
        help="expected CEvNS counts (SM or a light mediator) vs backgrounds and data",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_experiment(p)
    add_data_dir(p)
    add_outputs(p, "the prediction-vs-data figure (with --compare: the SM-vs-models spectra)")
    p.add_argument(
        "--model",
        metavar="NAME",
        help="light-mediator model to predict for, e.g. B-L, universal, L_mu-L_tau, scalar "
        "(list: cevns-jax models); needs --mass and --coupling",
    )
    p.add_argument(
        "--mass",
        type=float,
        metavar="M_GeV",
        help="mediator mass in GeV (> 0), e.g. 0.01 for 10 MeV; with --compare default 0.01",
    )
    p.add_argument(
        "--coupling",
        type=float,
        metavar="G",
        help="mediator coupling g (>= 0; for the scalar the effective g~), e.g. 1e-4; with "
        "--compare default 1e-4",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="compare the CEvNS spectra of the SM and of the --models at --mass/--coupling; "
        "the figure goes to the --plot file",
    )
    p.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help=f"models for --compare (default: {' '.join(DEFAULT_COMPARE)}); --model NAME "
        "is added to them",
    )
    p.add_argument(
        "--backgrounds",
        choices=("fitted", "nominal"),
        default="fitted",
        help="backgrounds subtracted from the data in the --plot figure: fitted (default; "
        "from the SM fit of the data, ~10 s more) or nominal (the unfitted expectations)",
    )
    p.set_defaults(func=run)


# --- helpers -------------------------------------------------------------------------------
def _model_info(name: str, mass_gev: float, coupling: float) -> dict:
    from ..charges import MODELS, anomaly_free, get_model

    ch = get_model(name)
    return {
        "name": name,
        "kind": MODELS[name].kind,
        "mass_gev": mass_gev,
        "coupling": coupling,
        "charges": {
            "quark": np.asarray(ch.quark).tolist(),
            "nu": np.asarray(ch.nu).tolist(),
            "lepton": np.asarray(ch.lepton).tolist(),
            "scalar": float(ch.scalar),
        },
        "anomaly_free": bool(anomaly_free(ch)),
        "description": MODELS[name].description,
    }


def _validate(args):
    """Check the model options before any data are read; returns (model, compare) specs."""
    from ..errors import ConfigError
    from ..mediator import mediator

    for option, value in (("--mass", args.mass), ("--coupling", args.coupling)):
        if value is not None and not np.isfinite(value):
            raise ConfigError(
                f"{option} {value}: must be a finite number. Fix: pass e.g. "
                f"{option} {'0.01' if option == '--mass' else '1e-4'}"
            )
    model = None
    if args.model is not None:
        given = (("--mass", args.mass), ("--coupling", args.coupling))
        missing = [option for option, value in given if value is None]
        if missing:
            raise ConfigError(f"--model {args.model} needs {' and '.join(missing)}")
        med = mediator(args.model, args.mass, args.coupling)
        model = (args.model, args.mass, args.coupling, med)
    elif not args.compare and (args.mass is not None or args.coupling is not None):
        raise ConfigError("--mass/--coupling need --model NAME (or --compare)")
    compare = None
    if args.models is not None and not args.compare:
        raise ConfigError("--models is used only with --compare")
    if args.compare:
        mass = _COMPARE_MASS_GEV if args.mass is None else args.mass
        g = _COMPARE_COUPLING if args.coupling is None else args.coupling
        names = list(DEFAULT_COMPARE if args.models is None else args.models)
        if args.model is not None:
            names.insert(0, args.model)  # --model is drawn too, not ignored
        compare = (mass, g, {n: mediator(n, mass, g) for n in dict.fromkeys(names)})
    return model, compare


# --- the command ---------------------------------------------------------------------------
def run(args) -> int:
    """Run ``cevns-jax predict`` on parsed arguments; returns the exit code."""
    model, compare = _validate(args)
    json_path, plot_path = check_outputs(args)

    import equinox as eqx

    from ..mediator import standard_model
    from ..provenance import provenance
    from ..rates import expected_counts

    spec = entry(args.experiment)
    exp = build_experiment(args.experiment, args.data_dir)
    lik = spec.likelihood(exp)
    counts_fn = eqx.filter_jit(expected_counts)  # one compile serves SM and every mediator
    sm = np.asarray(counts_fn(exp, standard_model()))
    model_counts = None if model is None else np.asarray(counts_fn(exp, model[3]))
    results = {}
    if compare is not None:
        results = {n: np.asarray(counts_fn(exp, m)) for n, m in compare[2].items()}
    backgrounds = {k: np.asarray(v) for k, v in lik.nominal_backgrounds().items()}
    released = exp.backgrounds.reference_cevns()
    released = None if released is None else np.asarray(released)
    checked = {"the SM counts": sm, **{f"the {n} counts": c for n, c in results.items()}}
    if model is not None:
        checked[f"the {model[0]} counts"] = model_counts
    check_finite(
        checked,
        "predict",
        "use a smaller coupling or a mass nearer the "
        "momentum transfer (1e-3..10 GeV); the inputs were "
        f"--model {args.model} --mass {args.mass} --coupling {args.coupling}",
    )

    print_prediction(spec, exp, sm, model, model_counts, backgrounds, released)
    if compare is not None:
        print_comparison(float(sm.sum()), compare, results)

    if json_path is not None:
        main_counts = sm if model is None else model_counts
        payload = {
            "experiment": exp.name,
            "title": spec.title,
            "cevns_total": main_counts.sum(),
            "cevns_by_flavour": by_source(main_counts),
            "backgrounds": {k: v.sum() for k, v in backgrounds.items()},
            "observed_total": exp.observed.sum(),
            "bins": {
                "energy_edges": np.asarray(exp.e_edges),
                "energy_unit": exp.e_unit,
                "time_edges_us": np.asarray(exp.t_edges),
            },
            "model": {"name": "SM", "kind": "standard model"}
            if model is None
            else _model_info(*model[:3]),
            "published_sm_prediction": None if spec.published is None else spec.published.sm_text,
            "counts_2d": {
                "description": "expected counts per (energy, time) bin, after efficiencies",
                "cevns_by_flavour": dict(zip(by_source(main_counts), main_counts, strict=True)),
                "backgrounds": backgrounds,
                "observed": np.asarray(exp.observed),
            },
        }
        if model is not None:
            payload["sm"] = {"cevns_total": sm.sum(), "cevns_by_flavour": by_source(sm)}
        if released is not None:
            payload["released_cevns_total"] = released.sum()
        if compare is not None:
            payload["compare"] = {
                "mass_gev": compare[0],
                "coupling": compare[1],
                "models": {
                    n: {
                        "cevns_total": c.sum(),
                        "ratio_to_sm": c.sum() / sm.sum(),
                        "cevns_by_flavour": by_source(c),
                    }
                    for n, c in results.items()
                },
            }
        config = {
            "command": "predict",
            "experiment": args.experiment,
            "model": args.model,
            "mass_gev": args.mass,
            "coupling": args.coupling,
            "compare": bool(args.compare),
            "figure_backgrounds": args.backgrounds if plot_path is not None else None,
            "compare_models": list(compare[2]) if compare else None,
        }
        payload["provenance"] = provenance(config, spec.data_files, args.data_dir)
        write_json(json_path, payload)

    if plot_path is not None:
        if compare is not None:
            from ..plotting_compare import plot_compare_models

            plot_compare_models(
                plot_path, lik, title=spec.title, sm=sm, models=results, mass_gev=compare[0],
                coupling=compare[1], backgrounds=backgrounds,
            )  # fmt: skip
        else:
            fit = None
            if args.backgrounds == "fitted":
                from ..fit import fit_sm

                info(
                    "SM fit of the data for the backgrounds of the figure "
                    "(--backgrounds nominal skips it)"
                )
                fit = fit_sm(lik)
            from ..plotting_prediction import plot_prediction_vs_data

            plot_prediction_vs_data(
                plot_path, lik, title=spec.title, sm=sm, backgrounds=backgrounds,
                released=released, model=None if model is None else model[:3],
                model_counts=model_counts, fit=fit,
            )  # fmt: skip
        wrote_figure(plot_path)
    elif compare is not None:
        info("--compare: no figure written (pass --plot FILE for the spectra figure)")
    return 0
