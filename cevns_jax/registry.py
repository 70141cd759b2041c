"""The one registry of experiments and data sets: what exists, how to build it, its likelihood.

An :class:`ExperimentEntry` says everything the package needs about one experiment: its
name, the short key used for data sets (``"csi"``), a title, the builder of its
:class:`~cevns_jax.experiment.Experiment`, the :class:`~cevns_jax.likelihood.AbstractLikelihood`
implementation and settings type, the release files it reads and COHERENT's published
numbers where they exist. A data set is a tuple of experiment keys whose χ² add up
(``"csi+lar"``). Nothing else in the package dispatches on an experiment's name: every
command, fit, bound, scan and table goes through :func:`entry`, :func:`data_set` and
:func:`build_likelihood`.

Adding an experiment: write one module with its builder and likelihood (a final subclass
of :class:`~cevns_jax.likelihood.AbstractLikelihood`), then add one :class:`ExperimentEntry`
to :data:`EXPERIMENTS` (see ``docs/adding_an_experiment.md``).
"""

import dataclasses
import importlib
from collections.abc import Callable, Mapping

from .errors import ConfigError
from .published import COHERENT, CoherentResult

__all__ = [
    "DATASETS",
    "EXPERIMENTS",
    "ExperimentEntry",
    "build_likelihood",
    "data_set",
    "data_set_title",
    "entry",
    "likelihood_for",
]


def _lazy(path: str) -> Callable:
    """``"module:attr"`` -> a callable importing the module on first use."""
    module, attr = path.split(":")

    def load(*args, **kwargs):
        return getattr(importlib.import_module(module, __package__), attr)(*args, **kwargs)

    load.__qualname__ = attr
    load.resolve = lambda: getattr(importlib.import_module(module, __package__), attr)
    return load


@dataclasses.dataclass(frozen=True)
class ExperimentEntry:
    """One registered experiment.

    Attributes:
        name: experiment name (``Experiment.name``, CLI ``--experiment``), e.g. ``"csi2021"``.
        key: short key used in data-set names, e.g. ``"csi"``.
        title: human-readable title for tables and figures.
        short_title: the paper's column name (``"CsI"``).
        builder: ``(data_dir=None, **options) -> Experiment``.
        likelihood: ``(experiment, settings=None) -> AbstractLikelihood``.
        settings: ``() -> default settings`` of that likelihood.
        data_files: registry names of the release files the builder reads.
        published: COHERENT's published numbers, or ``None``.
        notes: ``(experiment, sm_cevns_total) -> lines`` that ``cevns-jax predict`` prints
            under its table (a future detector's run plan and counts per year), or ``None``.
        settings_table: ``() -> tuple of`` :class:`~cevns_jax.settings.Setting`: the named
            physics settings (``--set``) of this experiment, or ``None`` (none).
    """

    name: str
    key: str
    title: str
    short_title: str
    builder: Callable
    likelihood: Callable
    settings: Callable
    data_files: tuple[str, ...]
    published: CoherentResult | None = None
    notes: Callable | None = None
    settings_table: Callable | None = None


_CSI_FILES = (
    "dataBeamOnC.txt", "dataBeamOnAC.txt", "brnPE.txt", "ninPE.txt", "brnTrec.txt",
    "ninTrec.txt", "effCoefficients.txt", "scintRespCoefficients.txt",
)  # fmt: skip
_LAR_FILES = (
    "datanobkgsub.txt", "cevnspdf.txt", "brnpdf.txt", "delbrnpdf.txt", "bkgpdf.txt",
    "cevnspdf+1sigF90.txt", "cevnspdf-1sigF90.txt", "cevnspdfCEvNSTimingMeanSyst.txt",
    "brnpdf+1sigEnergy.txt", "brnpdf-1sigEnergy.txt", "brnpdf+1sigBRNTimingMean.txt",
    "brnpdf-1sigBRNTimingMean.txt", "brnpdfBRNTimingWidthSyst.txt",
    "CENNS10AnlAEfficiency.txt", "LArParametersAnlA.yaml",
)  # fmt: skip

#: Every registered experiment, by name.
EXPERIMENTS: dict[str, ExperimentEntry] = {
    e.name: e
    for e in (
        ExperimentEntry(
            name="csi2021", key="csi", title="COHERENT CsI[Na] 2021", short_title="CsI",
            builder=_lazy(".csi2021:build_csi2021"),
            likelihood=_lazy(".likelihood_csi:CsILikelihood"),
            settings=_lazy(".likelihood_csi:CsISettings"),
            data_files=tuple(f"csi2021/{f}" for f in _CSI_FILES),
            published=COHERENT["csi2021"],
            settings_table=_lazy(".settings_coherent:csi2021_settings"),
        ),
        ExperimentEntry(
            name="lar2020", key="lar", title="COHERENT CENNS-10 LAr 2020", short_title="Ar",
            builder=_lazy(".lar2020:build_lar2020"),
            likelihood=_lazy(".likelihood_lar:LArLikelihood"),
            settings=_lazy(".likelihood_lar:LArSettings"),
            data_files=tuple(f"lar2020/{f}" for f in _LAR_FILES),
            published=COHERENT["lar2020"],
            settings_table=_lazy(".settings_coherent:lar2020_settings"),
        ),
        # future detectors (docs/cryo_csi.md): no release files, Asimov data
        ExperimentEntry(
            name="cryo-csi-1", key="cryo1", title="Cryo-CsI-I (10 kg, projected)",
            short_title="Cryo-CsI-I", builder=_lazy(".cryo_csi:build_cryo_csi_1"),
            likelihood=_lazy(".likelihood_cryo:CryoLikelihood"),
            settings=_lazy(".likelihood_cryo:CryoSettings"),
            data_files=(), notes=_lazy(".cryo_csi:predict_notes"),
        ),
        ExperimentEntry(
            name="cryo-csi-2", key="cryo2", title="Cryo-CsI-II (700 kg, projected)",
            short_title="Cryo-CsI-II", builder=_lazy(".cryo_csi:build_cryo_csi_2"),
            likelihood=_lazy(".likelihood_cryo:CryoLikelihood"),
            settings=_lazy(".likelihood_cryo:CryoSettings"),
            data_files=(), notes=_lazy(".cryo_csi:predict_notes"),
        ),
    )
}  # fmt: skip


def _by_key() -> dict[str, ExperimentEntry]:
    """Entries by key, read from :data:`EXPERIMENTS` at each call (entries may be added)."""
    return {e.key: e for e in EXPERIMENTS.values()}


#: Data sets: name -> experiment keys whose χ² add (independent nuisances).
DATASETS: dict[str, tuple[str, ...]] = {
    "csi": ("csi",),
    "lar": ("lar",),
    "csi+lar": ("csi", "lar"),
}


def entry(name_or_key: str) -> ExperimentEntry:
    """The entry of an experiment, by name (``"csi2021"``) or key (``"csi"``).

    Raises:
        ConfigError: unknown experiment (the message lists the known ones).
    """
    by_key = _by_key()
    found = EXPERIMENTS.get(name_or_key) or by_key.get(name_or_key)
    if found is None:
        raise ConfigError(
            f"unknown experiment {name_or_key!r}; choose from {', '.join(EXPERIMENTS)} "
            f"(keys {', '.join(by_key)})"
        )
    return found


def data_set(name: str) -> tuple[ExperimentEntry, ...]:
    """The experiments of a data set (``"csi"``, ``"lar"``, ``"csi+lar"``).

    Raises:
        ConfigError: unknown data set.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return tuple(entry(k) for k in DATASETS[name])


def data_set_title(name: str) -> str:
    """The paper's column name of a data set, e.g. ``"CsI+Ar"``."""
    return "+".join(e.short_title for e in data_set(name))


def likelihood_for(experiment, settings=None):
    """The registered likelihood of a built experiment (looked up by its name)."""
    return entry(experiment.name).likelihood(experiment, settings)


def build_likelihood(
    data: str,
    data_dir=None,
    *,
    experiments: Mapping | None = None,
    settings=None,
):
    """The :class:`~cevns_jax.likelihood.JointLikelihood` of a data set.

    Args:
        data: data-set name (``"csi"``, ``"lar"``, ``"csi+lar"``).
        data_dir: release-file directory for experiments not given.
        experiments: optional already-built experiments, keyed by key or name.
        settings: optional: likelihood settings objects keyed by experiment key or name;
            or named physics settings (:mod:`cevns_jax.settings`): ``"name=value"``
            strings, a mapping name -> value, or :class:`~cevns_jax.settings.Overrides`.
            Experiment-level named settings need the experiment built here.

    Raises:
        ConfigError: unknown data set or setting, or an experiment-level setting for an
            experiment given in ``experiments``. DataError: missing or corrupted files.
    """
    from .likelihood import JointLikelihood
    from .settings import Overrides, parse_settings

    entries = data_set(data)
    experiments = {} if experiments is None else dict(experiments)
    overrides = None
    if isinstance(settings, Overrides):
        overrides, settings = settings, {}
    elif settings is not None and not _settings_objects(settings):
        overrides, settings = parse_settings(settings, entries), {}
    settings = {} if settings is None else dict(settings)
    parts = []
    for e in entries:
        exp = experiments.get(e.key, experiments.get(e.name))
        options = {} if overrides is None else overrides.builder_options(e)
        if exp is not None and options:
            raise ConfigError(
                f"settings {sorted(options)} of {e.key} change how the experiment is built; "
                "build it with them (overrides.builder_options) or let build_likelihood build it"
            )
        exp = e.builder(data_dir, **options) if exp is None else exp
        lik_settings = settings.get(e.key, settings.get(e.name))
        if overrides is not None:
            lik_settings = overrides.likelihood_settings(e, lik_settings)
        parts.append(e.likelihood(exp, lik_settings))
    return JointLikelihood(tuple(parts))


def _settings_objects(settings) -> bool:
    """Whether ``settings`` is a mapping of experiment key/name -> settings object."""
    import equinox as eqx

    return isinstance(settings, Mapping) and all(
        isinstance(v, eqx.Module) or v is None for v in settings.values()
    )
