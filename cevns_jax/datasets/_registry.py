"""Registry of the COHERENT data-release files: official URLs and SHA-256 digests.

Names are relative paths ``"<release>/<file>"``; a data directory (``CEVNS_JAX_DATA``),
a mirror (``CEVNS_JAX_MIRROR``) and the download cache all use that same layout.

Releases:
    * ``csi2021``: CsI[Na] full data set, ancillary files of arXiv:2110.07730v2
      (PRL 129, 081801). No published digests exist for this release; the pinned
      SHA-256 values are those of the staged copies, whose event counts agree with
      an independent download from arXiv (1578 coincidence and 1295
      anti-coincidence events in PE < 60, t < 6 us).
    * ``lar2020``: CENNS-10 liquid argon "Analysis A", Zenodo record 3903810
      (arXiv:2006.12659, arXiv:2003.10630). The staged copies' MD5 digests equal
      the ones Zenodo publishes; the SHA-256 values pinned here are of those copies.
"""

import dataclasses
import types
from collections.abc import Mapping

from ..errors import ConfigError

__all__ = ["REGISTRY", "RegistryEntry", "registry_names"]

_CSI2021_URL = "https://arxiv.org/src/2110.07730v2/anc/{file}"
_LAR2020_URL = "https://zenodo.org/records/3903810/files/{file}?download=1"


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """One release file.

    Attributes:
        name: Relative name ``"<release>/<file>"``, also the relative path in a data
            directory, a mirror and the cache.
        url: Official download URL.
        sha256: Lower-case hex SHA-256 digest, or ``None`` when no digest is known
            (the file is then used unverified).
        description: What the file holds, with units.
        optional: ``True`` for files no loader needs; they are fetched only on request.
    """

    name: str
    url: str
    sha256: str | None
    description: str
    optional: bool = False


def _entry(
    release: str, file: str, sha256: str | None, description: str, optional: bool = False
) -> RegistryEntry:
    template = {"csi2021": _CSI2021_URL, "lar2020": _LAR2020_URL}[release]
    return RegistryEntry(
        f"{release}/{file}", template.format(file=file), sha256, description, optional
    )


# fmt: off
_ENTRIES = (
    # --- CsI[Na] 2021 -------------------------------------------------------------------
    _entry("csi2021", "dataBeamOnC.txt",
           "0a188a0291af06dd023d966d1c9fea7a82ec32d8c1a10750fd09c2b17f10a749",
           "beam-on coincidence events: PE, recoil time [us]"),
    _entry("csi2021", "dataBeamOnAC.txt",
           "f530d4a50e889333ada0e739db2e36d7f9f3b783822c8c6e932dae88ce071639",
           "beam-on anti-coincidence events: PE, recoil time [us]"),
    _entry("csi2021", "brnPE.txt",
           "0000b042b8d0d28b90370eb70d1409db1d8c510fcf2b3e636370b0d4443ac0b0",
           "beam-related-neutron PE spectrum, 250 bins of 1 PE"),
    _entry("csi2021", "ninPE.txt",
           "41cae0376003cc2dcd028a3913e7c16395471f612b56d311f80e2a6071c9950c",
           "neutrino-induced-neutron PE spectrum, 250 bins of 1 PE"),
    _entry("csi2021", "brnTrec.txt",
           "6f279d835242a868dfc048abaa42b8c400bf961036de7bc7e64636efdd46466f",
           "beam-related-neutron recoil-time spectrum, 650 bins of 0.01 us"),
    _entry("csi2021", "ninTrec.txt",
           "2bb034d648b312f4ee329ae95078dc748ff3f83b999c411b08f86d82ddf8e151",
           "neutrino-induced-neutron recoil-time spectrum, 650 bins of 0.01 us"),
    _entry("csi2021", "effCoefficients.txt",
           "f1e58e6b8ec4db53da3be21fe44ebc4621e9b248b920be09759b1000dada8c51",
           "energy-efficiency coefficients a b c d: nominal and two systematic models"),
    _entry("csi2021", "scintRespCoefficients.txt",
           "ea6b8f34b296bf6e99f2a4ac504030d99155daba3e3c252f51c87d2470319d13",
           "quenching polynomial coefficients a b c d: nominal and 2 x (+-1 sigma) models"),
    _entry("csi2021", "snsFlux2D.root", None,
           "SNS neutrino flux vs arrival time [ns] and energy [MeV], TH2 per flavour",
           optional=True),
    # --- LAr (CENNS-10) 2020, analysis A: 3D histograms (E [keVee], F90, t [us]) --------
    _entry("lar2020", "datanobkgsub.txt",
           "dabf3d80f13959f4b94b77c9b56f7347a645105801e8cc177424e7ffcf7c7f66",
           "observed counts, no background subtraction"),
    _entry("lar2020", "cevnspdf.txt",
           "3b1d5b25749e8d8e1cfdf5c32e48f026ce4aafec0a80632b3a63273e6e0e1f37",
           "CEvNS prediction (128 events)"),
    _entry("lar2020", "brnpdf.txt",
           "02664ce6a84eca8c6146b6502497bc5d8165df945da132193622334ff4ff826f",
           "prompt beam-related-neutron prediction (497 events)"),
    _entry("lar2020", "delbrnpdf.txt",
           "ebccca6c1650b0ace71fdbaade7a80ea289a99ff3c120266ae6ecf0083df5c63",
           "delayed beam-related-neutron prediction (33 events)"),
    _entry("lar2020", "bkgpdf.txt",
           "36c89291dde3032a19ca7a8e64510d036d7b40c34b0805ce475a13ccfa739dd1",
           "steady-state background prediction (3152 events)"),
    _entry("lar2020", "cevnspdf+1sigF90.txt",
           "308f78e19b7fb3e54399dc29c207bd2a89b91825df5309d48068a3495e1c92e2",
           "CEvNS prediction, F90 +1 sigma"),
    _entry("lar2020", "cevnspdf-1sigF90.txt",
           "b4e8071f87aa22a562e0c00654a0989915251acf2c7e569068b9b78c3ae5ac35",
           "CEvNS prediction, F90 -1 sigma"),
    _entry("lar2020", "cevnspdfCEvNSTimingMeanSyst.txt",
           "3170dafd4cf44df35bde0795e1245606d8144c05f3e50f015648c57bcdba97f5",
           "CEvNS prediction, timing-mean systematic"),
    _entry("lar2020", "brnpdf+1sigBRNTimingMean.txt",
           "7f06099e1bba0d2e328555c61cb255bb290607a44202327d29eb3ae3e05c1cd5",
           "prompt BRN prediction, timing mean +1 sigma (sums to 523.67, as released)"),
    _entry("lar2020", "brnpdf-1sigBRNTimingMean.txt",
           "b5c1c8d0cb8b2319d093d38418da5ac2ccda59108755fb23e7f4a559cfe154f8",
           "prompt BRN prediction, timing mean -1 sigma"),
    _entry("lar2020", "brnpdf+1sigEnergy.txt",
           "fb6fdaf99c9941653d33e1a909d8000b81c1ee9bb8e8ad3bf31839561faf6661",
           "prompt BRN prediction, energy shape +1 sigma"),
    _entry("lar2020", "brnpdf-1sigEnergy.txt",
           "20bcad29e716f3fb0f1e9eeb8ffb049b4b3d8b3b3a150800b9c8711e2b177be6",
           "prompt BRN prediction, energy shape -1 sigma"),
    _entry("lar2020", "brnpdfBRNTimingWidthSyst.txt",
           "304dba1553989d7c0cd3f745df9731a5306ec07ecc1044c20efbe2952707b270",
           "prompt BRN prediction, timing-width systematic"),
    # --- LAr 2020: parameters, efficiency, 1D projections --------------------------------
    _entry("lar2020", "LArParametersAnlA.yaml",
           "a206a77220436d0173c4783ae8fddeab97adf5e144f3d65005eff0870257693e",
           "exposure, distance, mass, quenching, flux and normalisation parameters"),
    _entry("lar2020", "CENNS10AnlAEfficiency.txt",
           "21ce25451c1ed552752ff4a22496deab3ff5dba178bf360813eaff1d25be89e2",
           "acceptance efficiency: keVee centre, keVnr centre, efficiency (80 rows)"),
    _entry("lar2020", "energydata1d.txt",
           "d691284e875fb24e72787016f118c171974ca68fa6005da7ea653ca66059aa04",
           "1D energy projection of data and best-fit predictions"),
    _entry("lar2020", "f90data1d.txt",
           "e82988ec2fdb871f21850ceea866213310ee81dca656ee4448282748037f1579",
           "1D F90 projection of data and best-fit predictions"),
    _entry("lar2020", "timingdata1d.txt",
           "fb1054fac8baf2f527b51e6bd45e4341da45fe80dadce815a3d1cad08d729554",
           "1D time projection of data and best-fit predictions"),
    _entry("lar2020", "systerrors1denergy.txt",
           "09fd74b1bc242f1638dae465eefc97e374a2e6efa0aaa1b4452f1ee20dd42aed",
           "systematic band of the 1D energy projection (low, high factors)"),
    _entry("lar2020", "systerrors1dpsd.txt",
           "a553c63ce5861d63c139aa18d3ece0f5e9d32be2029eb2a7474b8e4e39000c0f",
           "systematic band of the 1D F90 projection (low, high factors)"),
    _entry("lar2020", "systerrors1dtime.txt",
           "a7719f21aa5c8820f6ed65d385d7ba14f55631976a6ca289d8685081599529be",
           "systematic band of the 1D time projection (low, high factors)"),
)
# fmt: on

REGISTRY: Mapping[str, RegistryEntry] = types.MappingProxyType({e.name: e for e in _ENTRIES})
"""Read-only mapping from relative file name to :class:`RegistryEntry`."""


def registry_names(release: str | None = None) -> tuple[str, ...]:
    """Names of the registered files.

    Args:
        release: ``"csi2021"`` or ``"lar2020"`` to list one release; ``None`` for all.

    Returns:
        Sorted tuple of names ``"<release>/<file>"``.

    Raises:
        ConfigError: for an unknown release.
    """
    if release not in (None, "csi2021", "lar2020"):
        raise ConfigError(
            f"unknown COHERENT release {release!r}; use 'csi2021', 'lar2020' or None (all)."
        )
    prefix = "" if release is None else f"{release}/"
    return tuple(sorted(n for n in REGISTRY if n.startswith(prefix)))
