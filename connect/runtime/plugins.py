"""Plugin discovery: built-ins, Python entry points and plugin directories, one registry.

Sources, in order (all go through the same path, so built-in connectors are found exactly as a
third party's would be):

1. the entry-point group ``headrace.plugins`` — each entry point names a class (built-in connectors
   and transforms are declared there in Headrace's own ``pyproject.toml``);
2. every directory on ``plugin.path`` (default: the ``plugins/`` directory of the working directory
   when it exists): each ``*.py`` file and each package directory in it is imported and the plugin
   classes *defined* in it are registered;
3. the converters known to :mod:`connect.converters`.

A plugin is any subclass of ``Connector``, ``Transformation``, ``Predicate``, ``Converter`` or
``HeaderConverter``. It can be named by its full name (``module.Class``), its class name, or an
alias it declares in a class attribute ``aliases`` (e.g. Kafka's and Debezium's class names). Two
different classes answering to the same name make that name an error that names both; the full
names keep working. Called once at worker start-up (any thread); the registry is read-only after.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from connect.api.connector import Connector, SinkConnector, SourceConnector
from connect.api.converter import Converter, HeaderConverter
from connect.api.errors import ConnectException
from connect.api.transforms import Predicate, Transformation

log = logging.getLogger("connect.plugins")

ENTRY_POINT_GROUP = "headrace.plugins"
PLUGIN_BASES: tuple[tuple[type[Any], str], ...] = (
    (SourceConnector, "source"),
    (SinkConnector, "sink"),
    (Transformation, "transformation"),
    (Predicate, "predicate"),
    (Converter, "converter"),
    (HeaderConverter, "header_converter"),
)


class PluginNotFoundError(ConnectException):
    pass


class PluginConflictError(ConnectException):
    pass


def plugin_type(cls: type[Any]) -> str | None:
    for base, kind in PLUGIN_BASES:
        if issubclass(cls, base):
            return kind
    return None


def full_name(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class PluginDesc:
    cls: type[Any]
    type: str
    source: str  # where it was found: "entry point x", "plugin dir /p/file.py", "built-in converter"

    @property
    def name(self) -> str:
        return full_name(self.cls)

    @property
    def version(self) -> str:
        try:
            if issubclass(self.cls, Connector):
                return str(self.cls().version())
        except Exception:
            pass
        return str(
            getattr(self.cls, "VERSION", getattr(sys.modules.get(self.cls.__module__), "__version__", ""))
        )


@dataclass
class PluginRegistry:
    plugins: dict[str, PluginDesc] = field(default_factory=dict)  # full name -> desc
    names: dict[str, list[PluginDesc]] = field(default_factory=dict)  # any accepted name -> candidates

    def add(self, cls: type[Any], source: str) -> None:
        kind = plugin_type(cls)
        if kind is None or inspect.isabstract(cls):
            return
        desc = PluginDesc(cls, kind, source)
        existing = self.plugins.get(desc.name)
        if existing is not None:
            if existing.cls is not cls:
                log.error("plugin %s found twice: in %s and in %s", desc.name, existing.source, source)
                self.names.setdefault(desc.name, []).append(desc)
            return
        self.plugins[desc.name] = desc
        for alias in {desc.name, cls.__name__, *getattr(cls, "aliases", ())}:
            candidates = self.names.setdefault(alias, [])
            if all(c.cls is not cls for c in candidates):
                candidates.append(desc)

    def conflicts(self) -> dict[str, list[PluginDesc]]:
        return {n: c for n, c in self.names.items() if len(c) > 1}

    def lookup(self, name: str, kinds: Iterable[str] | None = None) -> PluginDesc:
        """Resolve a configured class name; PluginNotFoundError / PluginConflictError otherwise."""
        candidates = self.names.get(name.strip(), [])
        wanted = set(kinds) if kinds is not None else None
        if wanted is not None:
            candidates = [c for c in candidates if c.type in wanted]
        if len(candidates) > 1:
            both = " and ".join(f"{c.name} ({c.source})" for c in candidates)
            raise PluginConflictError(
                f"Plugin name {name!r} is ambiguous: it names {both}; use a full class name"
            )
        if not candidates:
            raise PluginNotFoundError(self._not_found(name.strip(), wanted))
        return candidates[0]

    def _not_found(self, name: str, wanted: set[str] | None) -> str:
        """Kafka's "Failed to find any class that implements ..." listing only plugins of the wanted
        kinds (a connector.class typo must not list transforms and converters), by the short names users
        type, with the closest accepted name as "did you mean"."""
        pool = [d for d in self.plugins.values() if wanted is None or d.type in wanted]
        accepted = {n for n, cs in self.names.items() if any(c in pool for c in cs)}
        by_lower = {n.lower(): n for n in sorted(accepted, key=len, reverse=True)}
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f" Did you mean '{by_lower[close[0]]}'?" if close else ""
        kinds = sorted(wanted) if wanted else ["plugin"]
        what = "Connector" if set(kinds) <= {"source", "sink"} else "/".join(kinds)
        label = "connectors" if what == "Connector" else "plugins"
        short = sorted({d.cls.__name__ for d in pool}, key=str.lower)
        return (
            f"Failed to find any class that implements {what} and which name matches {name}.{hint} "
            f"Available {label}: {', '.join(short)}"
        )

    def of_type(self, *kinds: str) -> list[PluginDesc]:
        return sorted((d for d in self.plugins.values() if d.type in kinds), key=lambda d: d.name)


def _classes_defined_in(module: ModuleType) -> list[type[Any]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__ and plugin_type(obj) is not None
    ]


def _import_path(path: Path) -> ModuleType:
    """Import a plugin file or package directory under a private, unique module name."""
    mod_name = f"headrace_plugins.{path.stem}"
    if path.is_dir():
        location = path / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            mod_name, location, submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def _scan_dir(registry: PluginRegistry, directory: Path) -> None:
    for entry in sorted(directory.iterdir()):
        is_pkg = entry.is_dir() and (entry / "__init__.py").exists()
        if not (is_pkg or (entry.suffix == ".py" and not entry.name.startswith("_"))):
            continue
        try:
            module = _import_path(entry)
        except Exception as exc:
            log.error("cannot load plugin %s: %s: %s", entry, type(exc).__name__, exc)
            continue
        for cls in _classes_defined_in(module):
            registry.add(cls, f"plugin dir {entry}")


def discover(plugin_path: Iterable[Path] = ()) -> PluginRegistry:
    """Build the registry from entry points, ``plugin_path`` directories and known converters."""
    registry = PluginRegistry()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            log.error(
                "cannot load plugin entry point %s = %s: %s: %s", ep.name, ep.value, type(exc).__name__, exc
            )
            continue
        classes = _classes_defined_in(obj) if isinstance(obj, ModuleType) else [obj]
        for cls in classes:
            if isinstance(cls, type):
                registry.add(cls, f"entry point {ep.name} ({ep.value})")
    for directory in plugin_path:
        if directory.is_dir():
            _scan_dir(registry, directory)
        else:
            log.warning("plugin.path entry %s is not a directory; skipped", directory)
    from connect import converters

    for alias, cls in converters.ALIASES.items():
        if full_name(cls) not in registry.plugins:
            registry.add(cls, "built-in converter")
        registry.names.setdefault(alias, [registry.plugins[full_name(cls)]])
    for name, candidates in registry.conflicts().items():
        log.warning(
            "plugin name %r is ambiguous (%s); refer to them by full class name",
            name,
            ", ".join(c.name for c in candidates),
        )
    return registry
