"""The command-line interface: predict, models, --help, and user errors (exit code 2)."""

import json
import subprocess

import pytest

import cevns_jax
from cevns_jax.charges import model_names
from cevns_jax.cli import build_parser, main
from cevns_jax.cli._common import EXPERIMENTS
from cevns_jax.cli._output import to_jsonable
from cevns_jax.datasets import REGISTRY

_KEYS = {
    "experiment",
    "cevns_total",
    "cevns_by_flavour",
    "backgrounds",
    "observed_total",
    "bins",
    "model",
    "provenance",
}


def _read(path):
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


@pytest.mark.parametrize(
    ("experiment", "backgrounds", "observed", "figure_backgrounds"),
    [
        ("csi2021", {"brn", "nin", "ss"}, 1578.0, "nominal"),
        ("lar2020", {"brn_prompt", "brn_delayed", "ss"}, 3752.0, "fitted"),
    ],
)
def test_predict_writes_json_and_plot(
    tmp_path, data_dir, capsys, experiment, backgrounds, observed, figure_backgrounds
):
    # a figure name without suffix: exactly that file is written, as PNG, and said so
    out_json, out_png = tmp_path / "out.json", tmp_path / "plotfile"
    argv = [
        "predict",
        "--experiment",
        experiment,
        "--data-dir",
        str(data_dir),
        "--json",
        str(out_json),
        "--plot",
        str(out_png),
        "--backgrounds",
        figure_backgrounds,
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert f"wrote {out_png} (PNG image: the name has no suffix)" in captured.err
    assert not (tmp_path / "plotfile.png").exists()
    assert "CEvNS total" in printed and "observed" in printed
    res = _read(out_json)
    assert _KEYS <= set(res)
    assert res["experiment"] == experiment
    assert res["cevns_total"] > 0
    flav = res["cevns_by_flavour"]
    assert set(flav) == {"nu_e", "nu_mu", "nubar_mu"}
    assert sum(flav.values()) == pytest.approx(res["cevns_total"], rel=1e-12)
    assert set(res["backgrounds"]) == backgrounds
    assert res["observed_total"] == observed
    assert set(res["bins"]) == {"energy_edges", "energy_unit", "time_edges_us"}
    assert res["model"]["name"] == "SM"
    prov = res["provenance"]
    assert {"cevns_jax", "jax", "jaxlib", "equinox", "optax", "numpy", "python"} <= set(
        prov["versions"]
    )
    assert prov["jax"]["x64"] is True
    assert set(prov["data_files"]) == set(EXPERIMENTS[experiment].data_files)
    assert all(f["verified"] for f in prov["data_files"].values())
    assert prov["code"]["version"] == cevns_jax.__version__
    assert prov["command_line"] == ["cevns-jax", *argv]
    assert prov["config"]["figure_backgrounds"] == figure_backgrounds
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_mediator_and_compare(tmp_path, data_dir, capsys):
    out_json, out_png = tmp_path / "bl.json", tmp_path / "cmp.png"
    argv = [
        "predict",
        "-e",
        "lar2020",
        "--data-dir",
        str(data_dir),
        "--model",
        "B-L",
        "--mass",
        "0.01",
        "--coupling",
        "5e-5",
        "--compare",
        "--models",
        "scalar",
        "--json",
        str(out_json),
        "--plot",
        str(out_png),
    ]
    assert main(argv) == 0
    assert "ratio to SM" in capsys.readouterr().out
    res = _read(out_json)
    assert res["model"]["name"] == "B-L" and res["model"]["kind"] == "vector"
    # B-L interferes constructively with the SM weak charge
    assert res["cevns_total"] > res["sm"]["cevns_total"] > 0
    assert set(res["compare"]["models"]) == {"B-L", "scalar"}  # --model is compared too
    assert out_png.stat().st_size > 10_000


def test_models_table_and_json(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert main(["models", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in model_names():
        assert name in printed
    rows = {r["name"]: r for r in _read(out)["models"]}
    assert list(rows) == model_names()
    assert rows["B-L"]["anomaly_free"] is True and rows["universal"]["anomaly_free"] is False
    assert rows["scalar"]["kind"] == "scalar"
    assert rows["L_mu-L_tau"]["lepton"] == [0.0, 1.0, -1.0]


@pytest.mark.parametrize("argv", [["--help"], ["predict", "--help"], ["models", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "usage: cevns-jax" in text
    if argv[0] == "predict":
        for option in (
            "--experiment",
            "--data-dir",
            "--json",
            "--plot",
            "--model",
            "--mass",
            "--coupling",
            "--compare",
            "--models",
        ):
            assert option in text


def test_every_option_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, name
        for action in p._actions:
            assert action.help, f"{name} {action.option_strings}"


def test_shared_options_are_the_same_everywhere():
    """--model/--data and --json/--plot come from one helper each (cli/_common.py)."""
    from cevns_jax.registry import DATASETS

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("bounds", "scan", "sample", "toys"):
        actions = {a.dest: a for a in sub.choices[name]._actions}
        assert actions["model"].required and actions["model"].metavar == "NAME", name
        assert actions["data"].required and tuple(actions["data"].choices) == tuple(DATASETS)
    for name in ("predict", "fit", "bounds", "scan", "toys", "sample", "project", "design"):
        dests = {a.dest for a in sub.choices[name]._actions}
        assert {"json", "plot"} <= dests, name


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "-e", "lar2020"],
        ["fit", "-e", "lar2020"],
        ["bounds", "--model", "B-L", "--data", "lar"],
        ["toys", "--model", "B-L", "--data", "csi", "--mass", "0.01"],
        ["sample", "--model", "B-L", "--data", "csi"],
    ],
)
def test_unknown_figure_format_exits_2_before_any_work(argv, tmp_path, capsys):
    out = tmp_path / "f.xyz"
    assert main([*argv, "--data-dir", str(tmp_path), "--plot", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown figure format '.xyz'" in err and "built" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--model", "not-a-model", "--mass", "0.01", "--coupling", "1e-4"],
            "unknown model 'not-a-model'",
        ),
        (
            ["--model", "B-L", "--mass", "-1", "--coupling", "1e-4"],
            "mass in GeV) must be finite and > 0",
        ),
        (
            ["--model", "B-L", "--mass", "0.01", "--coupling=-1e-4"],
            "coupling must be finite and >= 0",
        ),
        (["--model", "B-L"], "needs --mass and --coupling"),
        (["--mass", "0.01"], "need --model"),
        (["--compare", "--models", "B-L", "nope"], "unknown model 'nope'"),
        (["--models", "B-L"], "only with --compare"),
    ],
)
def test_bad_model_input_exits_2(extra, message, capsys, tmp_path):
    argv = ["predict", "-e", "lar2020", "--data-dir", str(tmp_path)] + extra
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cevns-jax predict: error:" in err and message in err


def test_missing_data_dir_exits_2(tmp_path, capsys):
    missing = tmp_path / "no-such-dir"
    assert main(["predict", "-e", "csi2021", "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err


def test_data_dir_without_files_exits_2(tmp_path, capsys):
    assert main(["predict", "-e", "csi2021", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "csi2021/" in err and "not found" in err


def test_unwritable_output_exits_2(tmp_path, capsys):
    bad = tmp_path / "missing" / "out.json"
    assert main(["models", "--json", str(bad)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_experiment_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "-e", "xenon"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_registered_data_files_and_jsonable():
    from cevns_jax import registry

    assert EXPERIMENTS is registry.EXPERIMENTS  # the CLI lists the registry's experiments
    for name, spec in EXPERIMENTS.items():
        assert isinstance(spec, registry.ExperimentEntry) and spec.name == name
        assert spec.data_files or spec.published is None  # future detectors read no files
        assert all(name in REGISTRY and not REGISTRY[name].optional for name in spec.data_files)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("predict", "fit"):
        option = next(a for a in sub.choices[command]._actions if a.dest == "experiment")
        assert tuple(option.choices) == tuple(EXPERIMENTS)
    import numpy as np

    assert to_jsonable({"a": np.arange(3.0), "b": np.float64(np.nan), "c": (1, 2.5)}) == {
        "a": [0.0, 1.0, 2.0],
        "b": None,
        "c": [1, 2.5],
    }


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"cevns-jax {cevns_jax.__version__}")
    from cevns_jax.provenance import code_version

    commit = code_version()["git_commit"]
    if commit is not None:  # run from a git checkout: the commit is shown and recorded
        assert commit[:12] in out
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cevns_jax.__path__[0]
        ).stdout.strip()
        assert commit == head


def test_compile_cache_is_configurable(tmp_path, monkeypatch):
    """The CLI's persistent compilation cache: ``$CEVNS_JAX_COMPILE_CACHE`` names its
    directory (created), ``off`` leaves JAX's setting alone."""
    import jax

    from cevns_jax.executors import use_compile_cache

    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("CEVNS_JAX_COMPILE_CACHE", "off")
    assert use_compile_cache() is None
    assert jax.config.jax_compilation_cache_dir == before
    target = tmp_path / "cache"
    monkeypatch.setenv("CEVNS_JAX_COMPILE_CACHE", str(target))
    try:
        assert use_compile_cache() == target
        assert target.is_dir() and jax.config.jax_compilation_cache_dir == str(target)
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
