"""Test set-up: float64 everywhere, strict dtype promotion, data directory from ../shared."""

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# the CLI's persistent compilation cache stays off in tests (no writes to the user cache;
# tests/test_cli.py checks the cache on its own directory)
os.environ.setdefault("CEVNS_JAX_COMPILE_CACHE", "off")

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coherent"
# the README's command gives a path relative to the checkout: make it absolute, so that
# tests that change directory or start processes elsewhere (CLI, Dask workers, notebooks)
# find the data too
if os.environ.get("CEVNS_JAX_DATA"):
    os.environ["CEVNS_JAX_DATA"] = str(Path(os.environ["CEVNS_JAX_DATA"]).resolve())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory with the COHERENT release files (CEVNS_JAX_DATA, else ../shared)."""
    path = Path(os.environ.get("CEVNS_JAX_DATA", _SHARED)).resolve()
    if not path.is_dir():
        pytest.skip(f"COHERENT data directory {path} not found; set CEVNS_JAX_DATA")
    return path


@pytest.fixture(scope="session")
def csi(data_dir):
    """The CsI 2021 experiment with default settings (built once per session)."""
    from cevns_jax.csi2021 import build_csi2021

    return build_csi2021(data_dir)


@pytest.fixture(scope="session")
def lar(data_dir):
    """The LAr 2020 experiment with default settings (built once per session)."""
    from cevns_jax.lar2020 import build_lar2020

    return build_lar2020(data_dir)


@pytest.fixture(scope="session")
def csi_lik(csi):
    """The CsI likelihood with default settings (its time tables built once per session)."""
    from cevns_jax.likelihood_csi import CsILikelihood

    return CsILikelihood(csi)


@pytest.fixture(scope="session")
def lar_lik(lar):
    """The LAr likelihood with default settings (built once per session)."""
    from cevns_jax.likelihood_lar import LArLikelihood

    return LArLikelihood(lar)


@pytest.fixture(scope="session")
def csi_sm_fit(csi_lik):
    """The SM fit of CsI (cevns_jax.fit.fit_sm), computed once per session and shared by
    every test that needs it (a fit is several seconds of profiling)."""
    from cevns_jax.fit import fit_sm

    return fit_sm(csi_lik)


@pytest.fixture(scope="session")
def lar_sm_fit(lar_lik):
    """The SM fit of LAr, computed once per session (see :func:`csi_sm_fit`)."""
    from cevns_jax.fit import fit_sm

    return fit_sm(lar_lik)
