"""Published reference numbers: the single source of every COHERENT and paper value we compare to.

Two groups (transcribed from the publications below):

* :data:`COHERENT`: the collaboration's own results for the two data sets —
  CsI[Na] 2021, D. Akimov et al. (COHERENT), PRL 129 (2022) 081801, arXiv:2110.07730;
  CENNS-10 LAr 2020 (analysis A), D. Akimov et al. (COHERENT), PRL 126 (2021) 012002,
  arXiv:2003.10630, and the release's parameter YAML (Zenodo 10.5281/zenodo.3903810).
* :data:`PUBLISHED_BOUNDS`: the 2σ (95.45 % C.L., Δχ² = 4, one parameter) upper bounds on
  light mediators of Table II of arXiv:2202.11002 (the part reproduced here: universal,
  B−L, L_μ−L_τ and the scalar). ``"low"`` is the coupling g (g~_φ for the scalar) at low
  mediator mass; ``"high"`` is g/M in GeV^-1 at high mediator mass. Models use the
  registry names of :mod:`cevns_jax.charges`; data sets are ``"csi"``, ``"lar"`` and
  ``"csi+lar"`` (the paper's CsI, Ar and CsI+Ar columns).

Commands and tests import these numbers from here; nothing else hard-codes them.
"""

import dataclasses

__all__ = [
    "BOUNDS_REFERENCE",
    "COHERENT",
    "CoherentResult",
    "PUBLISHED_BOUNDS",
    "PUBLISHED_DATASETS",
    "PUBLISHED_MODELS",
    "published_bound",
]


@dataclasses.dataclass(frozen=True)
class CoherentResult:
    """The COHERENT collaboration's published numbers for one data set.

    Attributes:
        experiment: the package's experiment name (``"csi2021"``/``"lar2020"``).
        sm_prediction: SM CEvNS counts predicted in the analysis region.
        sm_prediction_errors: its uncertainties by kind, e.g. ``{"th": 11, "exp": 42}``
            or ``{"total": 17}``.
        cevns_fitted: CEvNS counts fitted to the data.
        cevns_fitted_err: symmetric error of ``cevns_fitted``.
        significance_sigma: rejection of the no-CEvNS hypothesis (CsI) or significance of
            the CEvNS signal (LAr), in σ.
        reference: journal reference.
        arxiv: arXiv identifier.
        cross_section_1e40_cm2: flux-averaged cross section (value, −err, +err) in
            1e-40 cm², where published; ``cross_section_sm_1e40_cm2``: its SM (value, err).
    """

    experiment: str
    sm_prediction: float
    sm_prediction_errors: dict
    cevns_fitted: float
    cevns_fitted_err: float
    significance_sigma: float
    reference: str
    arxiv: str
    cross_section_1e40_cm2: tuple[float, float, float] | None = None
    cross_section_sm_1e40_cm2: tuple[float, float] | None = None

    @property
    def sm_text(self) -> str:
        """The SM prediction as quoted, e.g. ``"341 ± 11 (th) ± 42 (exp), PRL 129 ..."``."""
        errs = " ".join(
            f"± {v:g}" if k == "total" else f"± {v:g} ({k})"
            for k, v in self.sm_prediction_errors.items()
        )
        return f"{self.sm_prediction:g} {errs}, {self.reference}"

    @property
    def fitted_text(self) -> str:
        """The fitted CEvNS counts as quoted, e.g. ``"306 ± 20"``."""
        return f"{self.cevns_fitted:g} ± {self.cevns_fitted_err:g}"


#: COHERENT's results per experiment (see the module docstring for the sources).
COHERENT: dict[str, CoherentResult] = {
    "csi2021": CoherentResult(
        experiment="csi2021",
        sm_prediction=341.0,
        sm_prediction_errors={"th": 11.0, "exp": 42.0},
        cevns_fitted=306.0,
        cevns_fitted_err=20.0,
        significance_sigma=11.6,
        reference="PRL 129 (2022) 081801",
        arxiv="2110.07730",
        cross_section_1e40_cm2=(165.0, 25.0, 30.0),
        cross_section_sm_1e40_cm2=(189.0, 6.0),
    ),
    "lar2020": CoherentResult(
        experiment="lar2020",
        sm_prediction=128.0,
        sm_prediction_errors={"total": 17.0},
        cevns_fitted=159.0,
        cevns_fitted_err=43.0,
        significance_sigma=3.5,
        reference="PRL 126 (2021) 012002",
        arxiv="2003.10630",
    ),
}

#: Where :data:`PUBLISHED_BOUNDS` come from.
BOUNDS_REFERENCE = "arXiv:2202.11002, Table II (2σ, Δχ² = 4)"

#: Models and data sets of :data:`PUBLISHED_BOUNDS` (registry names; paper column order
#: Ar, CsI, CsI+Ar).
PUBLISHED_MODELS = ("universal", "B-L", "L_mu-L_tau", "scalar")
PUBLISHED_DATASETS = ("lar", "csi", "csi+lar")

# model: (Ar low, Ar high, CsI low, CsI high, CsI+Ar low, CsI+Ar high), as in Table II
_TABLE_II = {
    "universal": (3.91e-5, 0.82e-3, 2.36e-5, 0.53e-3, 2.07e-5, 0.48e-3),
    "B-L": (5.35e-5, 1.67e-3, 5.27e-5, 1.00e-3, 4.42e-5, 0.99e-3),
    "L_mu-L_tau": (234e-5, 80.9e-3, 116e-5, 26.6e-3, 103e-5, 24.2e-3),
    "scalar": (2.30e-5, 0.58e-3, 1.80e-5, 0.31e-3, 1.68e-5, 0.30e-3),
}

#: ``PUBLISHED_BOUNDS[(model, data, regime)]``: 2σ upper bound of arXiv:2202.11002 Table II;
#: ``"low"``: g (dimensionless), ``"high"``: g/M in GeV^-1.
PUBLISHED_BOUNDS: dict[tuple[str, str, str], float] = {
    (model, data, regime): float(values[2 * i + j])
    for model, values in _TABLE_II.items()
    for i, data in enumerate(PUBLISHED_DATASETS)
    for j, regime in enumerate(("low", "high"))
}


def published_bound(model: str, data: str, regime: str) -> float | None:
    """The Table II bound for (model, data, regime), or ``None`` if the paper's part
    reproduced here has none (e.g. the other anomaly-free models)."""
    return PUBLISHED_BOUNDS.get((model, data, regime))
