"""Named physics settings (cevns_jax.settings): parsing, defaults, and that each one changes
the computation it names."""

import dataclasses
import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.cli import main
from cevns_jax.datasets import load_lar2020
from cevns_jax.errors import ConfigError
from cevns_jax.rates import recoil_spectrum
from cevns_jax.registry import EXPERIMENTS, build_likelihood, entry
from cevns_jax.settings import parse_settings

CSI, LAR = entry("csi"), entry("lar")
#: LAr builder keyword -> release parameter it defaults to
_LAR_RESPONSE = {
    "qf_a": "qf_a",
    "qf_b_per_kevnr": "qf_b_per_kevnr",
    "resolution": "energy_resolution_a",
}


def _table(e):
    return {s.name: s for s in e.settings_table()}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("bogus=1", "unknown setting 'bogus'. Fix: use one of csi.efficiency"),
        ("lar.r_n_cs=5", "unknown setting 'lar.r_n_cs'"),
        ("csi.r_n_cs=abc", "needs a number in [3, 7], got 'abc'"),
        ("csi.r_n_cs=9", "needs a number in [3, 7]"),
        ("csi.quenching=best", "choose from nominal, qf0_plus"),
        ("lar.systematics=cevns_f90", "use all, none or a comma list of cevns_f90_plus"),
        ("csi.sigma_brn=0", "needs a number in [1e-06, inf]"),
        ("no_equals", "expected name=value"),
        ("csi.pe_edges=0,8,x", "use release or a comma list of edges"),
        ("lar.f90=3d", "choose from integrated, binned"),
        ("lar.chi2=neyman", "choose from gaussian, poisson"),
    ],
)
def test_bad_settings_are_config_errors(item, message):
    with pytest.raises(ConfigError) as err:
        parse_settings([item])
    assert message in str(err.value)


def test_unscoped_name_sets_every_experiment_that_has_it():
    over = parse_settings(["form_factor=klein_nystrand", "r_n_cs=5.1", "sigma_cevns=inf"])
    assert over.as_dict() == {
        "csi.form_factor": "klein_nystrand", "csi.r_n_cs": "5.1", "csi.sigma_cevns": "inf",
        "lar.form_factor": "klein_nystrand", "lar.sigma_cevns": "inf",
    }  # fmt: skip
    assert over.builder_options(CSI)["r_n_fm"] == (5.1, 4.94)  # the other radius kept
    assert np.isinf(over.likelihood_settings(LAR).sigma_cevns)


def test_csi_binning_settings_are_builder_edges():
    from cevns_jax.csi2021 import CSI_PE_EDGES

    over = parse_settings(["csi.t_edges=0,1,6", "csi.pe_edges=release"])
    assert over.builder_options(CSI) == {"t_edges": (0.0, 1.0, 6.0), "pe_edges": CSI_PE_EDGES}


def test_defaults_are_the_code_defaults(csi, lar):
    """Each setting's documented default parses to what the builder or settings class
    uses when the setting is not given (so the docs cannot drift from the code)."""
    exps = {"csi": csi, "lar": lar}
    tabled = [e for e in EXPERIMENTS.values() if e.settings_table is not None]
    assert {e.key for e in tabled} >= {"csi", "lar"}
    for e in tabled:
        builder = e.builder.resolve()
        params = inspect.signature(builder).parameters
        defaults = {f.name: f.default for f in dataclasses.fields(e.settings())}
        for s in e.settings_table():
            value = s.parse(s.default)
            if s.target == "likelihood":
                if isinstance(value, str):
                    assert value == defaults[s.field], s.name
                else:
                    np.testing.assert_allclose(value, defaults[s.field], err_msg=s.name)
                continue
            code = params[s.field].default
            code = code if s.index is None or code is None else code[s.index]
            if code is None or s.field in ("form_factor", "couplings"):  # from the release
                exp = exps[e.key]
                built = {
                    "form_factor": exp.form_factor, "couplings": exp.couplings,
                    "pulse_mean_us": exp.flux.pulse_mean_us,
                    "pulse_width_us": exp.flux.pulse_width_us,
                    "n_pot": exp.flux.n_pot, "nu_per_pot": exp.flux.nu_per_pot,
                }.get(s.field)  # fmt: skip
                if s.field == "mass_kg":
                    built = float(exp.n_targets[0]) * 39.9623831 / 6.02214076e26
                if s.field in _LAR_RESPONSE:  # the LAr response is built from the YAML's
                    built = getattr(load_lar2020().params, _LAR_RESPONSE[s.field])
                if s.field in ("form_factor", "couplings"):
                    assert type(value) is type(built), s.name
                    for a, b in zip(jax.tree.leaves(value), jax.tree.leaves(built), strict=True):
                        np.testing.assert_allclose(a, b, err_msg=s.name)
                else:
                    np.testing.assert_allclose(value, built, rtol=1e-9, err_msg=s.name)
            else:
                assert value == code, s.name


def test_likelihood_settings_change_chi2_without_recompiling(lar_lik, csi_lik):
    """Every likelihood-level setting changes χ² at a non-nominal nuisance point, through
    one compiled function (the settings are array leaves; ``neutron_interp``, static and
    rebuilding the CsI time tables, is in the slow test below; the static LAr ``f90`` and
    ``chi2`` change the bins and the data term: tests/test_lar_f90.py; the static CsI
    ``steady_state`` changes the components: tests/test_onoff.py)."""
    alt = {
        "sigma_ij_ss_ratio": "inf", "systematics": "none", "cevns_shift": "absolute",
    }  # fmt: skip
    traces = []

    @eqx.filter_jit
    def chi2(lik, nu, signal):
        traces.append(1)
        return lik.twice_nll(nu, signal)

    for e, base in ((LAR, lar_lik), (CSI, csi_lik)):
        signal = base.signal(recoil_spectrum(base.experiment, _sm()))
        nu = base.nominal() * 1.1 + 0.3  # every nuisance off its nominal value
        ref = float(chi2(base, nu, signal))
        for s in e.settings_table():
            static = ("neutron_interp", "f90", "chi2", "steady_state")
            if s.target != "likelihood" or s.name in static:
                continue
            over = parse_settings([f"{e.key}.{s.name}={alt.get(s.name, '0.5')}"])
            lik = base.replace_settings(over.likelihood_settings(e, base.settings))
            value = float(chi2(lik, nu, signal))
            assert abs(value - ref) > 1e-6 * abs(ref), (e.key, s.name, value, ref)
    assert len(traces) == 2  # one trace per likelihood type


def _sm():
    from cevns_jax.mediator import standard_model

    return standard_model()


def test_lar_shift_readings_agree_on_the_released_template(lar_lik):
    """Relative shifts × the released CEvNS template are the released absolute shifts
    (an identity where the template is non-zero): the two readings differ only through
    our prediction differing from the release's."""
    released = lar_lik.experiment.backgrounds.cevns_released()
    absolute = lar_lik.replace_settings(
        dataclasses.replace(lar_lik.settings, cevns_shift_relative=0.0)
    )
    nu = lar_lik.nominal().at[4:].set(0.7)
    np.testing.assert_allclose(
        lar_lik.components(nu, released)["cevns"],
        absolute.components(nu, released)["cevns"],
        rtol=1e-12,
        atol=1e-12,
    )
    ours = lar_lik.signal(recoil_spectrum(lar_lik.experiment, _sm()))
    assert not np.allclose(
        lar_lik.components(nu, ours)["cevns"], absolute.components(nu, ours)["cevns"]
    )


def test_systematics_off_removes_their_templates(lar_lik):
    off = build_likelihood(
        "lar", experiments={"lar": lar_lik.experiment}, settings=["systematics=cevns_f90_plus"]
    ).parts[0]
    signal = lar_lik.experiment.backgrounds.cevns_released()
    _, jac = off.linearize(off.nominal(), signal)
    assert float(jnp.abs(jac[4]).sum()) > 0  # cevns_f90_plus kept
    assert float(jnp.abs(jac[5:]).sum()) == 0.0  # the others off


def test_experiment_settings_need_the_experiment_built_here(lar):
    with pytest.raises(ConfigError, match="change how the experiment is built"):
        build_likelihood("lar", experiments={"lar": lar}, settings=["lar.r_n_ar=3.4"])


def test_experiment_setting_rebuilds_with_it(data_dir, lar_lik):
    """An experiment-level setting (the Ar neutron radius) reaches the form factor: a
    larger radius lowers the SM prediction."""
    lik = build_likelihood("lar", data_dir, settings={"lar.r_n_ar": 3.8}).parts[0]
    assert float(lik.experiment.target.r_n[0]) == 3.8

    def total(x):
        return float(x.signal(recoil_spectrum(x.experiment, _sm())).sum())

    assert total(lik) < 0.99 * total(lar_lik)


def test_cli_set_errors_and_help(capsys):
    assert main(["table", "--models", "B-L", "--set", "csi.r_n_x=1"]) == 2
    assert "unknown setting 'csi.r_n_x'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["bounds", "--model", "B-L", "--data", "lar", "--set", "help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "lar.systematics = all" in out and "csi." not in out  # only the data set's


@pytest.mark.slow
def test_neutron_interp_changes_the_profile(csi_lik):
    lik = build_likelihood(
        "csi", experiments={"csi": csi_lik.experiment}, settings=["neutron_interp=linear"]
    ).parts[0]
    nu = csi_lik.nominal().at[-1].set(0.013)
    signal = csi_lik.signal(recoil_spectrum(csi_lik.experiment, _sm()))
    assert (
        float(
            jnp.abs(
                lik.components(nu, signal)["brn"] - csi_lik.components(nu, signal)["brn"]
            ).max()
        )
        > 0
    )


@pytest.mark.slow
def test_every_experiment_setting_changes_the_sm_prediction(data_dir, csi, lar):
    """Each experiment-level setting at a non-default value changes the SM counts."""
    alt = {
        "form_factor": "klein_nystrand", "radiative": "off", "quenching": "qf0_plus",
        "efficiency": "plus", "time_efficiency": "off", "pulse_mean_us": "0.7",
        "pulse_width_us": "0.3", "pe_edges": "0,10,20,30,40,60", "t_edges": "0,0.5,1,6",
    }  # fmt: skip
    for e, exp in ((CSI, csi), (LAR, lar)):
        base = build_likelihood(e.key, experiments={e.key: exp}).parts[0]
        ref = _cevns(base)
        for s in e.settings_table():
            if s.target != "experiment":
                continue
            text = alt.get(s.name) or str(1.05 * float(s.default))
            lik = build_likelihood(e.key, data_dir, settings=[f"{s.name}={text}"]).parts[0]
            got = _cevns(lik)
            assert got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-6), s.name


def _cevns(lik):
    """(n_e, n_t) SM CEvNS counts at nominal nuisances (energy and time response)."""
    from cevns_jax.rates import recoil_spectrum

    signal = lik.signal(recoil_spectrum(lik.experiment, _sm()))
    return np.asarray(lik.components(lik.nominal(), signal)["cevns"])
