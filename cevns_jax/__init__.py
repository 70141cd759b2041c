"""cevns_jax: differentiable CEvNS likelihoods for COHERENT data and light mediators."""

from ._x64 import enable_x64 as enable_x64, require_x64 as require_x64

__version__ = "0.1.0"
