"""The named physics settings of CsI 2021 and LAr 2020 (``--set``; docs/ablation.md).

Each entry names its default and where the default comes from: the release files, the
COHERENT papers (CsI: arXiv:2110.07730; LAr: arXiv:2003.10630 and the release YAML) or
the analysis of arXiv:2202.11002 as docs/physics.md reads it.
"""

from .csi2021 import CSI_EFFICIENCY, CSI_PE_EDGES, CSI_QUENCHING, CSI_T_EDGES
from .lar2020 import LAR_SYSTEMATICS
from .likelihood_csi import STEADY_STATE
from .nuclei import Helm, KleinNystrand, SymmetrizedFermi
from .settings import Setting, choice, factory, number, switch
from .xsec import radiative_couplings, tree_level_couplings

__all__ = ["csi2021_settings", "lar2020_settings"]

_FORM_FACTORS = {
    "helm": Helm,
    "klein_nystrand": KleinNystrand,
    "symmetrized_fermi": SymmetrizedFermi,
}
_PHYS = "docs/physics.md"


def _exp(name, field, default, parse, source, doc, index=None, values=None) -> Setting:
    return Setting(name, "experiment", field, default, parse, source, doc, index, values)


def _lik(name, field, default, parse, source, doc, values=None) -> Setting:
    return Setting(name, "likelihood", field, default, parse, source, doc, None, values)


def _common(pulse_mean: str, pulse_src: str) -> tuple[Setting, ...]:
    """Settings every COHERENT experiment has (same names, same meaning)."""
    return (
        _exp("form_factor", "form_factor", "helm", factory(_FORM_FACTORS),
             f"{_PHYS} §2 (Helm, s = 0.9 fm)", "nuclear form factor of protons and neutrons",
             values=tuple(_FORM_FACTORS)),
        _exp("radiative", "couplings", "on",
             factory({"on": radiative_couplings, "off": tree_level_couplings}), "Erler & Su 2013",
             "radiative corrections to g_V (off: tree level, sin²θ_W = 0.23857)",
             values=("on", "off")),
        _exp("pulse_mean_us", "pulse_mean_us", pulse_mean, number(-5.0, 5.0), pulse_src,
             "mean of the Gaussian proton pulse on the detector's time axis (μs)"),
        _exp("pulse_width_us", "pulse_width_us", "0.15", number(1e-3, 5.0),
             "LAr release YAML", "width of the Gaussian proton pulse (μs)"),
    )  # fmt: skip


def _edges(release: tuple[float, ...]):
    """A parser of bin edges: ``release`` (the given ones) or a comma list of numbers
    (the builder checks order and range)."""

    def parse(text: str) -> tuple[float, ...]:
        if text == "release":
            return tuple(release)
        try:
            return tuple(float(x) for x in text.split(","))
        except ValueError:
            raise ValueError(f"use release or a comma list of edges, got {text!r}") from None

    return parse


def csi2021_settings() -> tuple[Setting, ...]:
    """The named settings of CsI 2021."""
    rel = "CsI 2021 release"
    return (*_common("0.565", f"best fit to the CsI data, {_PHYS} §4"),
        _exp("r_n_cs", "r_n_fm", "5.01", number(3.0, 7.0), f"{_PHYS} §2 (verify)",
             "Cs-133 neutron rms radius (fm)", index=0),
        _exp("r_n_i", "r_n_fm", "4.94", number(3.0, 7.0), f"{_PHYS} §2 (verify)",
             "I-127 neutron rms radius (fm)", index=1),
        _exp("r_p_cs", "r_p_fm", "4.821", number(3.0, 7.0), "muonic-atom charge radius",
             "Cs-133 point-proton rms radius (fm)", index=0),
        _exp("r_p_i", "r_p_fm", "4.766", number(3.0, 7.0), "muonic-atom charge radius",
             "I-127 point-proton rms radius (fm)", index=1),
        _exp("quenching", "quenching", "nominal", choice(tuple(CSI_QUENCHING)),
             f"{rel} scintRespCoefficients.txt", "central quenching curve (row of the file)",
             values=tuple(CSI_QUENCHING)),
        _exp("efficiency", "efficiency", "nominal", choice(tuple(CSI_EFFICIENCY)),
             f"{rel} effCoefficients.txt", "central energy-efficiency curve",
             values=tuple(CSI_EFFICIENCY)),
        _exp("time_efficiency", "time_efficiency", "on", switch(), f"{rel} (arXiv:2110.07730)",
             "time efficiency (1 to 0.52 μs, then exp(−0.0494/μs (t − 0.52 μs)))",
             values=("on", "off")),
        _exp("light_yield", "light_yield", "13.35", number(1.0, 100.0), rel, "PE per keVee"),
        _exp("pe_edges", "pe_edges", "release", _edges(CSI_PE_EDGES), f"{_PHYS} §4 (verify)",
             "analysis PE edges: release (9 bins 0–60 PE) or a comma list"),
        _exp("t_edges", "t_edges", "release", _edges(CSI_T_EDGES), f"{_PHYS} §4 (verify)",
             "analysis time edges (μs): release (11 bins 0–6 μs) or a comma list"),
        _exp("n_pot", "n_pot", "3.198e23", number(1e20, 1e26), "arXiv:2110.07730 (13.99 GWh)",
             "protons on target"),
        _exp("nu_per_pot", "nu_per_pot", "0.0848", number(1e-3, 1.0),
             "COHERENT Geant4 (CsI 2021)", "neutrinos per flavour per proton"),
        _exp("mass_kg", "mass_kg", "14.6", number(0.1, 1e4), "arXiv:2110.07730",
             "CsI mass (kg)"),
        _lik("sigma_cevns", "sigma_cevns", "0.12", number(1e-6), f"{_PHYS} §8 (verify)",
             "CEvNS normalisation prior (inf: free)"),
        _lik("sigma_brn", "sigma_brn", "0.25", number(1e-6), f"{_PHYS} §8",
             "BRN normalisation prior"),
        _lik("sigma_nin", "sigma_nin", "0.35", number(1e-6), f"{_PHYS} §8",
             "NIN normalisation prior"),
        _lik("sigma_ss", "sigma_ss", "0.021", number(1e-6), f"{_PHYS} §8 (AC statistics)",
             "steady-state normalisation prior (inf: SS normalisation fitted freely)"),
        _lik("sigma_theta", "sigma_theta", "1", number(1e-6), "release ±1σ variants",
             "prior of the quenching/efficiency shape nuisances (tiny: shapes fixed)"),
        _lik("sigma_dt_cevns", "sigma_dt_cevns", "0.05", number(1e-6), f"{_PHYS} §4",
             "CEvNS timing-offset prior (μs; tiny: fixed)"),
        _lik("sigma_dt_neutron", "sigma_dt_neutron", "0.1", number(1e-6),
             "LAr BRN timing-mean variants", "BRN/NIN timing-offset prior (μs; tiny: fixed)"),
        _lik("neutron_interp", "neutron_interp", "hermite", choice(("hermite", "linear")),
             "this package", "BRN/NIN time shift through a C¹ (hermite) or linear CDF",
             values=("hermite", "linear")),
        _lik("steady_state", "steady_state", "uniform_time", choice(STEADY_STATE),
             "beam-uncorrelated; reproduces COHERENT's fit, docs/ablation.md §3",
             "SS: the AC PE spectrum uniform in time × a_SS (uniform_time), the AC (PE, t) "
             "histogram as a fixed template × a_SS (template), or each bin's SS profiled "
             "against its AC count (per_bin)", values=STEADY_STATE),
    )  # fmt: skip


def _systematics(text: str) -> tuple[float, ...]:
    """``all``, ``none`` or a comma list of names of :data:`LAR_SYSTEMATICS` -> 0/1 flags."""
    if text in ("all", "none"):
        return (1.0 if text == "all" else 0.0,) * len(LAR_SYSTEMATICS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in LAR_SYSTEMATICS]
    if bad or not names:
        raise ValueError(f"use all, none or a comma list of {', '.join(LAR_SYSTEMATICS)}")
    return tuple(1.0 if n in names else 0.0 for n in LAR_SYSTEMATICS)


def lar2020_settings() -> tuple[Setting, ...]:
    """The named settings of LAr 2020."""
    yaml = "LAr release YAML"
    return (*_common("0.44", yaml),
        _exp("r_n_ar", "r_n_fm", "3.55", number(2.0, 5.0), f"{_PHYS} §2 (verify)",
             "Ar-40 neutron rms radius (fm)"),
        _exp("r_p_ar", "r_p_fm", "3.448", number(2.0, 5.0), "muonic-atom charge radius",
             "Ar-40 point-proton rms radius (fm)"),
        _exp("n_pot", "n_pot", "1.38e23", number(1e20, 1e26), yaml, "protons on target"),
        _exp("nu_per_pot", "nu_per_pot", "0.09", number(1e-3, 1.0), yaml,
             "neutrinos per flavour per proton"),
        _exp("mass_kg", "mass_kg", "24.4", number(0.1, 1e4), yaml, "fiducial mass (kg)"),
        _exp("qf_a", "qf_a", "0.246", number(0.05, 1.0), f"{yaml} (± 0.006)",
             "quenching QF = a + b T[keVnr]: offset a"),
        _exp("qf_b", "qf_b_per_kevnr", "0.00078", number(-0.01, 0.01), f"{yaml} (± 0.00009)",
             "quenching slope b (1/keVnr)"),
        _exp("resolution", "resolution", "0.58", number(0.01, 5.0), yaml,
             "energy resolution σ/E = resolution/sqrt(E[keVee])"),
        _lik("sigma_cevns", "sigma_cevns", "0.13", number(1e-6), f"{_PHYS} §8",
             "CEvNS normalisation prior (inf: free)"),
        _lik("sigma_brn_prompt", "sigma_brn_prompt", "0.32", number(1e-6), f"{_PHYS} §8",
             "prompt-BRN normalisation prior"),
        _lik("sigma_brn_delayed", "sigma_brn_delayed", "1", number(1e-6), f"{_PHYS} §8",
             "delayed-BRN normalisation prior"),
        _lik("sigma_ss", "sigma_ss", "0.0079", number(1e-6), f"{_PHYS} §8",
             "steady-state normalisation prior"),
        _lik("sigma_eps", "sigma_eps", "1", number(1e-6), "release ±1σ variants",
             "prior of the released shape systematics"),
        _lik("sigma_ij_ss_ratio", "ss_sample_ratio", "5", number(1e-3),
             f"{_PHYS} §8 (verify)", "σ_ij² = N^exp + N^SS/ratio (inf: σ_ij² = N^exp)"),
        _lik("systematics", "systematics", "all", _systematics, "LAr release",
             "released shape systematics that enter (all, none, or a comma list)"),
        _lik("cevns_shift", "cevns_shift_relative", "relative",
             choice({"relative": 1.0, "absolute": 0.0}), f"{_PHYS} §8",
             "CEvNS systematics: relative shifts × our prediction, or the released "
             "absolute shifts", values=("relative", "absolute")),
        _lik("f90", "f90_binned", "integrated", choice({"integrated": False, "binned": True}),
             f"{_PHYS} §8", "fit (E_ee, t) with F90 summed, or the release's (E_ee, F90, t) "
             "bins (our CEvNS × the released F90 shape)", values=("integrated", "binned")),
        _lik("chi2", "poisson", "gaussian", choice({"gaussian": False, "poisson": True}),
             f"{_PHYS} §8", "data term: Gaussian with σ_ij², or the Poisson deviance (needed "
             "for f90=binned: low-count bins)", values=("gaussian", "poisson")),
    )  # fmt: skip
