"""Independent NumPy/SciPy oracles the tests (and the benchmarks) compare cevns_jax with.

``numpy_reference`` re-implements the expected CEvNS counts and ``numpy_likelihood`` the
CsI and LAr χ² from the physics document (docs/physics.md), sharing only the data
loaders with the package. ``tests/`` is on ``sys.path`` under pytest, so tests import
them as ``from oracles import numpy_reference``; the benchmark scripts add ``tests/``.
"""
