"""COHERENT public data releases: verified file access and strict parsers.

Files come from a local data directory (``data_dir`` argument or ``$CEVNS_JAX_DATA``)
or are downloaded once into a cache with SHA-256 verification; see :func:`data_path`.
Loaders return :class:`equinox.Module` objects holding float64 numpy arrays, so
loading needs no JAX configuration.
"""

from ._csi2021 import CsI2021Release as CsI2021Release
from ._csi2021 import binned_counts as binned_counts
from ._csi2021 import load_csi2021 as load_csi2021
from ._fetch import data_path as data_path
from ._fetch import file_sha256 as file_sha256
from ._flux_table import FLUX_FLAVOURS as FLUX_FLAVOURS
from ._flux_table import FluxTable2D as FluxTable2D
from ._flux_table import read_sns_flux_2d as read_sns_flux_2d
from ._lar2020 import LAr2020Release as LAr2020Release
from ._lar2020 import load_lar2020 as load_lar2020
from ._lar2020_params import LArParameters as LArParameters
from ._registry import REGISTRY as REGISTRY
from ._registry import RegistryEntry as RegistryEntry
from ._registry import registry_names as registry_names

__all__ = [
    "FLUX_FLAVOURS",
    "REGISTRY",
    "CsI2021Release",
    "FluxTable2D",
    "LAr2020Release",
    "LArParameters",
    "RegistryEntry",
    "binned_counts",
    "data_path",
    "file_sha256",
    "load_csi2021",
    "load_lar2020",
    "read_sns_flux_2d",
    "registry_names",
]
