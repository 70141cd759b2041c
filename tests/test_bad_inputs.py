"""Bad inputs, as a new user or a hostile tester gives them: every one is refused with exit
status 2 (CLI, through ``main([...])``) or a typed exception (Python API), and the message
names the problem. Each class of problem has several cases:

- output paths (--json, --plot, --csv, --out, --markdown): missing or unwritable directory,
  a directory instead of a file, an unknown figure format, an empty name;
- non-physical or non-finite numbers: NaN/inf/negative/zero masses, negative, NaN and
  non-perturbative couplings, NaN charges, overflowing results (eagerly and under jit);
- option combinations and names: unknown models, options that need others, grid sizes;
- the environment: missing data directories, a JAX platform that cannot start.

CLI refusals must come before any heavy computation: the ``no_build`` fixture replaces every
experiment builder by one that fails the test, so a case that reached the build (seconds of
response matrices, then the computation) would not pass.
"""

import dataclasses
import json
import math

import equinox as eqx
import jax
import numpy as np
import pytest

from cevns_jax import Mediator, U1Charges, get_model, mediator
from cevns_jax._x64 import check_backend
from cevns_jax.cli import _common, _output, main
from cevns_jax.errors import BackendError, ConfigError
from cevns_jax.rates import expected_counts


@pytest.fixture
def no_build(monkeypatch):
    """Experiment builders that fail the test: refusals must happen before any build."""

    def boom(data_dir):
        raise AssertionError("an experiment was built before the input was refused")

    for name, spec in list(_common.EXPERIMENTS.items()):
        monkeypatch.setitem(_common.EXPERIMENTS, name, dataclasses.replace(spec, builder=boom))


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


# --- CLI: (argv template, message substring); {tmp} is the test's temporary directory ------
_SCAN = ["scan", "--model", "B-L", "--data", "csi", "--out", "{tmp}/s.npz", "--no-progress"]
_BL = ["--model", "B-L", "--mass", "0.01"]
CLI_CASES = {
    # output paths, every command and option
    "predict-plot-readonly": (
        ["predict", "-e", "csi2021", "--plot", "/proc/x.png"],
        "cannot create files in /proc",
    ),
    "fit-plot-readonly": (
        ["fit", "-e", "csi2021", "--plot", "/proc/fit.png"],
        "cannot create files in /proc",
    ),
    "bounds-plot-readonly": (
        ["bounds", "--model", "B-L", "--data", "csi", "--plot", "/proc/b.png"],
        "cannot create files in /proc",
    ),
    "scan-plot-readonly": ([*_SCAN, "--plot", "/proc/s.png"], "cannot create files in /proc"),
    "models-json-readonly": (["models", "--json", "/proc/m.json"], "cannot create files"),
    "predict-plot-format": (
        ["predict", "-e", "csi2021", "--plot", "{tmp}/p.xyz"],
        "unknown figure format '.xyz'",
    ),
    "fit-plot-format": (
        ["fit", "-e", "lar2020", "--plot", "{tmp}/f.docx"],
        "unknown figure format '.docx'",
    ),
    "bounds-plot-format": (
        ["bounds", "--model", "B-L", "--data", "lar", "--plot", "{tmp}/b.txt"],
        "unknown figure format '.txt'",
    ),
    "scan-plot-format": ([*_SCAN, "--plot", "{tmp}/s.xlsx"], "unknown figure format"),
    "predict-json-missing-dir": (
        ["predict", "-e", "csi2021", "--json", "{tmp}/no/x.json"],
        "does not exist",
    ),
    "fit-json-missing-dir": (["fit", "-e", "csi2021", "--json", "{tmp}/no/x.json"], "mkdir -p"),
    "table-json-missing-dir": (["table", "--json", "{tmp}/no/t.json"], "does not exist"),
    "table-markdown-is-dir": (["table", "--markdown", "{tmp}"], "is a directory"),
    "scan-csv-missing-dir": ([*_SCAN, "--csv", "{tmp}/no/s.csv"], "does not exist"),
    "scan-out-is-dir": (
        ["scan", "--model", "B-L", "--data", "csi", "--out", "{tmp}"],
        "is a directory",
    ),
    "predict-json-empty": (["predict", "-e", "csi2021", "--json", ""], "empty file name"),
    "predict-plot-missing-dir": (
        ["predict", "-e", "lar2020", "--plot", "{tmp}/a/b/p.png"],
        "does not exist",
    ),
    # non-physical and non-finite numbers
    "coupling-1e200": ([*_BL, "--coupling", "1e200"], "non-perturbative"),
    "scalar-coupling-10": (
        ["--model", "scalar", "--mass", "0.01", "--coupling", "10"],
        "sqrt(4π)",
    ),
    "compare-coupling-huge": (["--compare", "--coupling", "50"], "non-perturbative"),
    "mass-nan": (
        ["--model", "B-L", "--mass", "nan", "--coupling", "1e-4"],
        "--mass nan: must be a finite number",
    ),
    "mass-inf": (
        ["--model", "B-L", "--mass", "inf", "--coupling", "1e-4"],
        "must be a finite number",
    ),
    "coupling-nan": ([*_BL, "--coupling", "nan"], "--coupling nan: must be a finite"),
    "mass-zero": (
        ["--model", "B-L", "--mass", "0", "--coupling", "1e-4"],
        "must be finite and > 0",
    ),
    "mass-negative": (
        ["--model", "B-L", "--mass", "-1", "--coupling", "1e-4"],
        "must be finite and > 0",
    ),
    "coupling-negative": ([*_BL, "--coupling=-1e-4"], "coupling must be finite and >= 0"),
    # names and option combinations
    "unknown-model": (
        ["--model", "nope", "--mass", "0.01", "--coupling", "1e-4"],
        "unknown model 'nope'",
    ),
    "model-without-mass": (["--model", "B-L"], "needs --mass and --coupling"),
    "mass-without-model": (["--mass", "0.01"], "need --model"),
    "models-without-compare": (["--models", "B-L"], "only with --compare"),
    "compare-unknown-model": (["--compare", "--models", "B-L", "zz"], "unknown model 'zz'"),
    "bounds-unknown-model": (["bounds", "--model", "Z", "--data", "csi"], "unknown model 'Z'"),
    "table-unknown-model": (["table", "--models", "B-L", "Q"], "unknown model 'Q'"),
    "scan-unknown-model": (["scan", "--model", "W", "--data", "lar"], "unknown model 'W'"),
    "scan-n-mass-0": ([*_SCAN, "--n-mass", "0"], "--n-mass must be >= 1"),
    "scan-n-g-1": ([*_SCAN, "--n-g", "1"], "--n-g >= 2"),
    "scan-n-mass-huge": ([*_SCAN, "--n-mass", "100000"], "at most 2000"),
    "scan-mass-range-reversed": (
        [*_SCAN, "--mass-range", "1", "0.1"],
        "the first value must be the smaller",
    ),
    "scan-mass-range-negative": ([*_SCAN, "--mass-range", "-1", "1"], "positive and finite"),
    "scan-mass-range-nan": ([*_SCAN, "--mass-range", "nan", "1"], "positive and finite"),
    "scan-g-range-inf": ([*_SCAN, "--g-range", "1e-6", "inf"], "positive and finite"),
    # the environment
    "data-dir-missing": (
        ["predict", "-e", "csi2021", "--data-dir", "{tmp}/nowhere"],
        "does not exist",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_refuses(case, tmp_path, capsys, no_build):
    argv, message = CLI_CASES[case]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] not in ("predict", "fit", "bounds", "table", "scan", "models"):
        argv = ["predict", "-e", "lar2020", *argv]
    if argv[0] != "models" and "--data-dir" not in argv:
        argv += ["--data-dir", str(tmp_path)]
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert f"cevns-jax {argv[0]}: error:" in err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, f"one line, no traceback: {err}"


def test_env_data_dir_missing(tmp_path, capsys, monkeypatch, no_build):
    monkeypatch.setenv("CEVNS_JAX_DATA", str(tmp_path / "gone"))
    code, err = _run(["fit", "-e", "lar2020"], capsys)
    assert code == 2 and "$CEVNS_JAX_DATA" in err and "does not exist" in err


def _no_gpu(*args, **kwargs):
    raise AssertionError  # what jax.devices() raises for JAX_PLATFORMS=cuda without a GPU


def test_cli_backend_that_cannot_start(monkeypatch, capsys):
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    monkeypatch.setattr(jax, "devices", _no_gpu)
    code, err = _run(["models"], capsys)
    assert code == 2
    assert "JAX cannot start JAX_PLATFORMS='cuda'" in err and "JAX_PLATFORMS=cpu" in err


def test_api_backend_that_cannot_start(monkeypatch):
    monkeypatch.setattr(jax, "devices", _no_gpu)
    with pytest.raises(BackendError, match="run on the CPU with JAX_PLATFORMS=cpu"):
        check_backend()


# --- Python API -----------------------------------------------------------------------------
_BL_CHARGES = get_model("B-L")
NAN = math.nan
API_CASES = {
    "mediator-mass-negative": (lambda: mediator("B-L", -1.0, 1e-4), "mass_gev .* > 0"),
    "mediator-mass-zero": (lambda: mediator("B-L", 0.0, 1e-4), "mass_gev"),
    "mediator-mass-nan": (lambda: mediator("B-L", NAN, 1e-4), "mass_gev .*finite"),
    "mediator-mass-inf": (lambda: mediator("B-L", math.inf, 1e-4), "got inf"),
    "mediator-mass-array": (lambda: mediator("B-L", [0.01, -0.1], 1e-4), r"at index \[1\]"),
    "mediator-coupling-negative": (lambda: mediator("B-L", 0.01, -1e-4), "coupling .*>= 0"),
    "mediator-coupling-nan": (lambda: mediator("B-L", 0.01, NAN), "coupling must be finite"),
    "mediator-coupling-1e200": (lambda: mediator("B-L", 0.01, 1e200), "non-perturbative"),
    "mediator-scalar-4": (lambda: mediator("scalar", 0.01, 4.0), r"sqrt\(4π\)"),
    "mediator-charge-3": (lambda: mediator("B-3L_mu", 0.01, 1.5), r"max\|Q'\| = 3"),
    "mediator-unknown": (lambda: mediator("nope", 0.01, 1e-4), "unknown model 'nope'"),
    "mediator-mass-string": (lambda: mediator("B-L", "0.01", 1e-4), "must be a number"),
    "mediator-mass-none": (lambda: mediator("B-L", None, 1e-4), "must be a number"),
    "Mediator-mass-negative": (lambda: Mediator(_BL_CHARGES, -10.0, 1e-4), "mass_mev"),
    "Mediator-mass-zero": (lambda: Mediator(_BL_CHARGES, 0.0, 1e-4), "mass_mev .*> 0"),
    "Mediator-mass-nan": (lambda: Mediator(_BL_CHARGES, NAN, 1e-4), "mass_mev"),
    "Mediator-coupling-nan": (lambda: Mediator(_BL_CHARGES, 10.0, NAN), "coupling must"),
    "charges-nan": (
        lambda: U1Charges.general([NAN, 0, 0], [0, 0, 0], [0, 0, 0]),
        "U1Charges.quark must be finite",
    ),
    "charges-scalar-inf": (
        lambda: U1Charges.general([0] * 3, [0] * 3, [0] * 3, math.inf),
        "U1Charges.scalar must be finite",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_refuses(case):
    build, pattern = API_CASES[case]
    with pytest.raises(ConfigError, match=pattern):
        build()


def test_api_overflow_is_an_error_naming_the_inputs(csi):
    """An unchecked Mediator whose g⁴ overflows: no inf/NaN counts, eagerly or compiled."""
    overflow = Mediator(_BL_CHARGES, 10.0, 1e200)  # Mediator does not bound the coupling
    with pytest.raises(ConfigError, match="expected counts are not finite.*mass_mev"):
        expected_counts(csi, overflow)
    with pytest.raises(eqx.EquinoxRuntimeError, match="not finite"):
        eqx.filter_jit(expected_counts)(csi, overflow)


def test_api_checks_under_jit_and_grad(csi):
    total = eqx.filter_jit(lambda m, g: expected_counts(csi, mediator("B-L", m, g)).sum())
    assert float(total(0.01, 3e-5)) == pytest.approx(366.0694745, rel=1e-8)
    with pytest.raises(eqx.EquinoxRuntimeError, match="mass_gev"):
        total(-0.01, 3e-5)
    with pytest.raises(eqx.EquinoxRuntimeError, match="non-perturbative"):
        total(0.01, 1e3)
    grad = jax.grad(lambda g: expected_counts(csi, mediator("B-L", 0.01, g)).sum())(3e-5)
    assert np.isfinite(float(grad)) and float(grad) > 0


def test_api_batches(csi):
    med = mediator("B-L", mass_gev=[0.01, 0.1], coupling=3e-5)
    assert med.mass_mev.shape == med.coupling.shape == (2,)
    assert med.charges.quark.shape == (2, 3)
    totals = jax.vmap(lambda m: expected_counts(csi, m).sum())(med)
    assert float(totals[0]) == pytest.approx(366.0694745, rel=1e-8)
    assert float(totals[1]) < float(totals[0])


# --- JSON: no silent NaN -----------------------------------------------------------------
def test_json_records_every_non_finite_number(tmp_path, capsys):
    out = tmp_path / "x.json"
    _output.write_json(out, {"a": np.array([1.0, np.nan]), "b": {"c": np.inf}, "d": 2.0})
    data = json.loads(out.read_text())
    assert data["a"] == [1.0, None] and data["b"]["c"] is None and data["d"] == 2.0
    assert data["non_finite_values"]["values"] == {"/a/1": "nan", "/b/c": "inf"}
    assert "2 non-finite number(s) written as null" in capsys.readouterr().err


def test_cli_refuses_non_finite_results():
    with pytest.raises(ConfigError, match="predict: the B-L counts is not finite.*--mass"):
        _common.check_finite(
            {"the B-L counts": np.array([1.0, np.nan])}, "predict", "change --mass"
        )
