"""Test set-up: float64 everywhere, strict dtype promotion, data directory from ../shared."""

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coherent"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory with the COHERENT release files (CEVNS_JAX_DATA, else ../shared)."""
    path = Path(os.environ.get("CEVNS_JAX_DATA", _SHARED))
    if not path.is_dir():
        pytest.skip(f"COHERENT data directory {path} not found; set CEVNS_JAX_DATA")
    return path
