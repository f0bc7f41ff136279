"""Per-connector record processing pieces: the transformation chain (SMTs with predicates) and the
key/value/header converters, built from a connector's config. Owned by one task thread."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connect.api.converter import Converter, HeaderConverter
from connect.api.errors import ConfigException
from connect.api.records import ConnectRecord
from connect.api.transforms import Predicate, Transformation
from connect.converters import load_converter, load_header_converter
from connect.runtime.plugins import PluginRegistry
from connect.runtime.worker_config import WorkerConfig, strip_prefix


def _aliases(props: Mapping[str, str], key: str) -> list[str]:
    return [a.strip() for a in props.get(key, "").split(",") if a.strip()]


@dataclass
class _Step:
    alias: str
    transform: Transformation[Any]
    predicate: Predicate[Any] | None
    negate: bool


class TransformationChain:
    """Applies the configured transformations in order; a transform returning None drops the record."""

    def __init__(self, steps: list[_Step]) -> None:
        self._steps = steps
        self.aliases = [s.alias for s in steps]
        self.current: Any = None  # the transformation last applied (for error reports)

    def __bool__(self) -> bool:
        return bool(self._steps)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        current: ConnectRecord | None = record
        for step in self._steps:
            if current is None:
                return None
            if step.predicate is not None and step.predicate.test(current) == step.negate:
                continue
            self.current = step.transform
            current = step.transform.apply(current)
        return current

    def close(self) -> None:
        closed: set[int] = set()
        for step in self._steps:
            for obj in (step.transform, step.predicate):
                if obj is not None and id(obj) not in closed:
                    closed.add(id(obj))
                    obj.close()


def build_chain(props: Mapping[str, str], registry: PluginRegistry) -> TransformationChain:
    """Instantiate and configure ``transforms`` and ``predicates`` (raises ConfigException)."""
    predicates: dict[str, Predicate[Any]] = {}
    for alias in _aliases(props, "predicates"):
        cls_name = props.get(f"predicates.{alias}.type")
        if not cls_name:
            raise ConfigException(f"predicates.{alias}.type", None, "Missing predicate class")
        predicate = registry.lookup(cls_name, ("predicate",)).cls()
        predicate.configure(strip_prefix(props, f"predicates.{alias}."))
        predicates[alias] = predicate
    steps = []
    for alias in _aliases(props, "transforms"):
        prefix = f"transforms.{alias}."
        cls_name = props.get(prefix + "type")
        if not cls_name:
            raise ConfigException(prefix + "type", None, "Missing transformation class")
        transform = registry.lookup(cls_name, ("transformation",)).cls()
        sub = strip_prefix(props, prefix)
        transform.configure({k: v for k, v in sub.items() if k not in ("type", "predicate", "negate")})
        pred_alias = sub.get("predicate")
        predicate = None
        if pred_alias:
            if pred_alias not in predicates:
                raise ConfigException(
                    prefix + "predicate", pred_alias, "Predicate is not defined in predicates"
                )
            predicate = predicates[pred_alias]
        steps.append(_Step(alias, transform, predicate, sub.get("negate", "false").lower() == "true"))
    return TransformationChain(steps)


@dataclass
class Converters:
    """A task's converters (the sink runtime reads consumed batches with ``to_connect_batch`` when
    both ``key`` and ``value`` are :class:`~connect.api.converter.BatchConverter` instances)."""

    key: Converter
    value: Converter
    header: HeaderConverter

    def close(self) -> None:
        self.key.close()
        self.value.close()
        self.header.close()


def build_converters(props: Mapping[str, str], worker: WorkerConfig) -> Converters:
    """Connector-level ``key.converter`` etc. override the worker's; ``<kind>.converter.*`` configure them."""

    def settings(kind: str) -> tuple[str, dict[str, str]]:
        name = props.get(f"{kind}.converter")
        if name:
            return name, strip_prefix(props, f"{kind}.converter.")
        wname, wprops = worker.converter_settings(kind)
        return wname, {**wprops, **strip_prefix(props, f"{kind}.converter.")}

    kname, kprops = settings("key")
    vname, vprops = settings("value")
    hname, hprops = settings("header")
    return Converters(
        load_converter(kname, kprops, True),
        load_converter(vname, vprops, False),
        load_header_converter(hname, hprops),
    )
