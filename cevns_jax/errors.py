"""Exception hierarchy of cevns_jax.

Every error raised on purpose by the package derives from :class:`CevnsJaxError`,
so callers can catch the package's failures without swallowing programming errors.
The data and configuration errors also derive from :class:`ValueError`, which keeps
``except ValueError`` code working. Messages name the offending file (or input) and
say how to fix the problem.
"""

__all__ = ["BackendError", "CevnsJaxError", "ChecksumError", "ConfigError", "DataError"]


class CevnsJaxError(Exception):
    """Base class of all errors raised on purpose by cevns_jax."""


class DataError(CevnsJaxError, ValueError):
    """A data file is missing, truncated, malformed, or could not be downloaded."""


class ChecksumError(DataError):
    """A data file's SHA-256 digest differs from the one pinned in the registry."""


class ConfigError(CevnsJaxError, ValueError):
    """Bad user input: an unknown name, an inconsistent option, a value out of range."""


class BackendError(CevnsJaxError, RuntimeError):
    """JAX cannot start the requested platform (e.g. JAX_PLATFORMS=cuda without a GPU)."""
