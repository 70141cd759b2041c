"""Named physics settings: every analysis choice by name, its default, source and meaning.

A :class:`Setting` is one choice of one experiment: either a keyword of the experiment's
builder (``"experiment"``: form factor, radii, radiative corrections, quenching and
efficiency curves, proton pulse, flux normalisation...; changing it rebuilds the
experiment) or a field of its likelihood settings (``"likelihood"``: prior widths, the LAr
σ_ij, which released systematics enter...; array leaves, so changing them does not
recompile). Each experiment lists its settings in its :class:`~cevns_jax.registry.ExperimentEntry`
(``settings_table``); this module only knows the mechanism.

Names are written ``key.name`` (``csi.pulse_mean_us``, ``lar.sigma_ij_ss_ratio``) or just
``name``, which sets it on every experiment of the data set that has it
(``form_factor=klein_nystrand``). :func:`parse_settings` turns ``"name=value"`` strings
(the CLI's ``--set``) into :class:`Overrides`; :func:`~cevns_jax.registry.build_likelihood`
accepts those (or the strings) as ``settings=``. docs/ablation.md lists every setting.
"""

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

from .errors import ConfigError

__all__ = [
    "Overrides",
    "Setting",
    "choice",
    "factory",
    "number",
    "parse_settings",
    "settings_help",
    "switch",
]


@dataclasses.dataclass(frozen=True)
class Setting:
    """One named choice of one experiment.

    Attributes:
        name: the name after the experiment key (``"pulse_mean_us"``).
        target: ``"experiment"`` (a builder keyword) or ``"likelihood"`` (a settings field).
        field: the builder keyword or settings field it sets.
        default: the default, as the user would write it (text).
        parse: text -> value (raises ``ValueError`` with the reason).
        source: where the default comes from.
        doc: what it changes (one line).
        index: for a tuple-valued builder keyword, the element it sets.
        values: the accepted words, for a choice (else ``None``).
    """

    name: str
    target: str
    field: str
    default: str
    parse: Callable[[str], object]
    source: str
    doc: str
    index: int | None = None
    values: tuple[str, ...] | None = None


def number(lo: float = 0.0, hi: float = float("inf"), *, inclusive_hi: bool = True):
    """A parser of a real number in [lo, hi] (``inf`` allowed when hi is)."""

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise ValueError(f"needs a number in [{lo:g}, {hi:g}], got {text!r}") from None
        if not (lo <= x <= hi) or (x == hi and not inclusive_hi) or x != x:
            raise ValueError(f"needs a number in [{lo:g}, {hi:g}]")
        return x

    return parse


def choice(mapping: Mapping[str, object] | Sequence[str]):
    """A parser of one word among ``mapping``'s keys (or the words given), giving its
    value (or the word)."""
    mapping = mapping if isinstance(mapping, Mapping) else {w: w for w in mapping}

    def parse(text: str):
        if text not in mapping:
            raise ValueError(f"choose from {', '.join(mapping)}")
        return mapping[text]

    return parse


def factory(mapping: Mapping[str, Callable[[], object]]):
    """A parser of one word among ``mapping``'s keys, giving ``mapping[word]()`` (built
    when parsed, i.e. after x64 is on)."""
    pick = choice(mapping)
    return lambda text: pick(text)()


def switch(on: object = True, off: object = False):
    """A parser of on/off (also true/false, yes/no, 1/0)."""
    words = {w: on for w in ("on", "true", "yes", "1")} | {
        w: off for w in ("off", "false", "no", "0")
    }
    return choice(words)


def _table(entry) -> dict[str, Setting]:
    """The settings of a registry entry by name (none if it has no table)."""
    return {s.name: s for s in (entry.settings_table() if entry.settings_table else ())}


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Parsed settings: experiment key -> {setting name -> (Setting, value, text)}.

    Use :meth:`builder_options` to build an experiment and :meth:`likelihood_settings` for
    its likelihood; :meth:`as_dict` records them (provenance).
    """

    values: Mapping[str, Mapping[str, tuple[Setting, object, str]]]

    def for_key(self, key: str) -> Mapping[str, tuple[Setting, object, str]]:
        """The settings given for experiment ``key`` (empty if none)."""
        return self.values.get(key, {})

    def builder_options(self, entry) -> dict:
        """Keyword arguments of ``entry.builder`` for this experiment's settings."""
        import inspect

        builder = getattr(entry.builder, "resolve", lambda: entry.builder)()
        params = inspect.signature(builder).parameters
        out: dict = {}
        for s, value, _ in self.for_key(entry.key).values():
            if s.target != "experiment":
                continue
            if s.index is None:
                out[s.field] = value
            else:
                old = list(out.get(s.field, params[s.field].default))
                old[s.index] = value
                out[s.field] = tuple(old)
        return out

    def likelihood_settings(self, entry, base=None):
        """``base`` (default: the entry's default settings) with this experiment's
        likelihood settings replaced."""
        settings = entry.settings() if base is None else base
        for s, value, _ in self.for_key(entry.key).values():
            if s.target == "likelihood":
                settings = dataclasses.replace(settings, **{s.field: value})
        return settings

    def has_experiment_settings(self, key: str) -> bool:
        """Whether experiment ``key`` must be (re)built for these settings."""
        return any(s.target == "experiment" for s, _, _ in self.for_key(key).values())

    def as_dict(self) -> dict[str, str]:
        """``{"key.name": "value text"}`` of every setting given."""
        return {f"{k}.{n}": t for k, d in self.values.items() for n, (_, _, t) in d.items()}


def settings_help(entries: Iterable) -> str:
    """Every setting of ``entries``: one line each, ``key.name = default  doc [source]``."""
    lines = []
    for e in entries:
        for s in _table(e).values():
            vals = f" ({'|'.join(s.values)})" if s.values else ""
            lines.append(f"{e.key}.{s.name} = {s.default}{vals}: {s.doc} [{s.source}]")
    return "\n".join(lines)


def parse_settings(items: Sequence[str] | Mapping[str, object] | None, entries=None) -> Overrides:
    """``["name=value", ...]`` (or a mapping name -> value) -> :class:`Overrides`.

    Args:
        items: ``"key.name=value"`` or ``"name=value"`` (every experiment of ``entries``
            that has ``name``); a later item overrides an earlier one.
        entries: the experiments the names may refer to (default: every registered one).

    Raises:
        ConfigError: no ``=``, an unknown name (the message lists the valid ones) or a bad
            value (the message says what is accepted).
    """
    from .registry import EXPERIMENTS

    entries = list(EXPERIMENTS.values()) if entries is None else list(entries)
    tables = {e.key: _table(e) for e in entries}
    if isinstance(items, Mapping):
        items = [f"{k}={v}" for k, v in items.items()]
    values: dict[str, dict] = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected name=value, e.g. --set csi.r_n_cs=5.1")
        name, text = (part.strip() for part in item.split("=", 1))
        key, _, short = name.rpartition(".")
        keys = [key] if key else [k for k, t in tables.items() if short in t]
        if not keys or any(short not in tables.get(k, {}) for k in keys):
            valid = sorted({f"{k}.{n}" for k, t in tables.items() for n in t})
            raise ConfigError(
                f"unknown setting {name!r}. Fix: use one of {', '.join(valid)} (a name "
                "without 'key.' sets it on every experiment that has it; meanings: "
                "docs/ablation.md)"
            )
        for k in keys:
            s = tables[k][short]
            try:
                value = s.parse(text)
            except ValueError as err:
                raise ConfigError(f"setting {k}.{short}={text!r}: {err}") from None
            values.setdefault(k, {})[short] = (s, value, text)
    return Overrides(values)
