"""NUTS results as ArviZ InferenceData: groups, log likelihood, netCDF round trip, CLI."""

import json

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cevns_jax.charges import get_model
from cevns_jax.mediator import Mediator
from cevns_jax.posterior import diagnostics, load_netcdf, save_netcdf, to_inference_data
from cevns_jax.rates import recoil_spectrum
from cevns_jax.sample import mediator_model, run_nuts

BL = get_model("B-L")


pytestmark = pytest.mark.slow  # NUTS compiles for ~1-2 min on two shared cores


@pytest.fixture(scope="module")
def lar_run(lar_lik):
    liks = {"lar": lar_lik}
    res = run_nuts(
        mediator_model(log10_g=(-6.0, -3.0)), jax.random.key(3), 20, 20, 2, "vectorized",
        model_args=(liks, BL, 10.0), max_tree_depth=4,
    )  # shallow trees: a cheap run, enough to test the conversion  # fmt: skip
    return liks, res, to_inference_data(res, liks)


def test_groups_and_observed_data(lar_run, lar_lik):
    _, _, idata = lar_run
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(idata.groups())
    post = idata.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 20
    assert "log10_g" in post and "lar_norm_cevns" in post
    assert "chi2_data" not in post and "lar_chi2_data" not in post
    assert "diverging" in idata.sample_stats
    np.testing.assert_array_equal(
        np.asarray(idata.observed_data["lar_observed"]), np.asarray(lar_lik.experiment.observed)
    )


def test_log_likelihood_is_minus_half_the_data_chi2(lar_run, lar_lik):
    """Independent recomputation at one draw: χ²_data from the draw's nuisances and g."""
    _, _, idata = lar_run
    post = idata.posterior.isel(chain=1, draw=7)
    nu = jnp.asarray([float(post[f"lar_{n}"]) for n in lar_lik.names])
    signal = lar_lik.signal(
        recoil_spectrum(lar_lik.experiment, Mediator(BL, 10.0, float(post["g"])))
    )
    chi2 = lar_lik.data_chi2(sum(lar_lik.components(nu, signal).values()))
    value = float(idata.log_likelihood["lar"].isel(chain=1, draw=7))
    np.testing.assert_allclose(value, -0.5 * float(chi2), rtol=1e-10)


def test_netcdf_round_trip_with_diagnostics(lar_run, tmp_path):
    _, res, idata = lar_run
    diag = diagnostics(idata)
    assert set(diag["parameters"]) == {"log10_g", "g"}  # mass fixed: not sampled
    assert diag["divergences"] == res.diagnostics["num_divergences"]
    # ArviZ's r_hat against numpyro's split r_hat (same definition up to rank normalisation)
    ours = diag["parameters"]["log10_g"]["r_hat"]
    assert (
        np.isfinite(ours)
        and abs(ours - float(res.diagnostics["summary"]["log10_g"]["r_hat"])) < 0.1
    )
    path = tmp_path / "post.nc"
    save_netcdf(idata, path, attrs={"diagnostics": diag})
    back, attrs = load_netcdf(path)
    assert attrs["diagnostics"]["num_draws"] == 20
    np.testing.assert_array_equal(np.asarray(back.posterior["log10_g"]),
                                  np.asarray(idata.posterior["log10_g"]))  # fmt: skip
    assert "lar" in az.from_netcdf(str(path)).log_likelihood


def test_cli_sample_writes_netcdf(tmp_path, data_dir):
    """``cevns-jax sample --out F.nc`` opens with arviz.from_netcdf and stores diagnostics
    (tiny run: the r_hat criterion needs the default 4 x (500 + 500) draws)."""
    from cevns_jax.cli import main

    out, plot = tmp_path / "post.nc", tmp_path / "post.png"
    argv = ["sample", "--model", "B-L", "--data", "lar", "--chains", "2", "--warmup", "30",
            "--samples", "30", "--out", str(out), "--plot", str(plot),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert main(argv) == 0
    idata = az.from_netcdf(str(out))
    diag = json.loads(idata.posterior.attrs["diagnostics"])
    assert {"log10_g", "log10_mass_mev"} <= set(diag["parameters"])
    assert plot.stat().st_size > 0
