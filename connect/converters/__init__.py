"""Built-in converters and the registry that resolves ``key.converter`` / ``value.converter`` /
``header.converter`` settings.

A setting may name a converter by Kafka's class name (``org.apache.kafka.connect.json.JsonConverter``),
its short alias (``JsonConverter``), or a Python class path (``my_plugin.converters.AvroConverter`` or
``my_plugin.converters:AvroConverter``) of a :class:`~connect.api.converter.Converter` subclass::

    value_converter = load_converter("JsonConverter", {"schemas.enable": "false"}, is_key=False)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from connect.api.converter import Converter, HeaderConverter
from connect.api.errors import ConfigException
from connect.converters.header import SimpleHeaderConverter
from connect.converters.json import JsonConverter
from connect.converters.string import ByteArrayConverter, StringConverter

__all__ = [
    "ALIASES",
    "ByteArrayConverter",
    "JsonConverter",
    "SimpleHeaderConverter",
    "StringConverter",
    "converter_class",
    "load_converter",
    "load_header_converter",
    "register",
]

ALIASES: dict[str, type[Any]] = {
    "JsonConverter": JsonConverter,
    "org.apache.kafka.connect.json.JsonConverter": JsonConverter,
    "StringConverter": StringConverter,
    "org.apache.kafka.connect.storage.StringConverter": StringConverter,
    "ByteArrayConverter": ByteArrayConverter,
    "org.apache.kafka.connect.converters.ByteArrayConverter": ByteArrayConverter,
    "SimpleHeaderConverter": SimpleHeaderConverter,
    "org.apache.kafka.connect.storage.SimpleHeaderConverter": SimpleHeaderConverter,
}
"""Converter names users bring from Kafka Connect (and short aliases) -> Headrace classes."""


def register(name: str, cls: type[Any]) -> None:
    """Make ``name`` resolve to ``cls`` (used by plugin discovery for third-party converters)."""
    if not (isinstance(cls, type) and issubclass(cls, Converter | HeaderConverter)):
        raise TypeError(f"{cls!r} is neither a Converter nor a HeaderConverter")
    ALIASES[name] = cls


def converter_class(name: str, config_key: str = "converter") -> type[Any]:
    """The class a converter setting names; ConfigException (naming it) if there is none."""
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        raise ConfigException(config_key, name, "Expected a converter class name")
    cls = ALIASES.get(name)
    if cls is not None:
        return cls
    module_name, sep, attr = name.partition(":") if ":" in name else name.rpartition(".")
    if sep and module_name and attr and not name.startswith("org.apache.kafka."):
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, attr)
        except (ImportError, AttributeError, ValueError):
            cls = None
        if isinstance(cls, type):
            return cls
    raise ConfigException(config_key, name, f"Class {name} could not be found.")


def load_converter(name: str, configs: Mapping[str, Any], is_key: bool) -> Converter:
    """Instantiate and configure the converter ``name`` for keys or values.

    ``configs`` are the converter's own properties (``value.converter.`` prefix already removed).
    Raises :class:`ConfigException` naming the class if it is unknown, not a Converter, or rejects
    its configuration.
    """
    config_key = "key.converter" if is_key else "value.converter"
    cls = converter_class(name, config_key)
    if not issubclass(cls, Converter):
        raise ConfigException(config_key, name, f"Class {name} is not a Converter")
    converter = cls()
    try:
        converter.configure(configs, is_key)
    except ConfigException as e:
        raise ConfigException(f"Invalid configuration of {config_key} {name}: {e}") from e
    return converter


def load_header_converter(name: str, configs: Mapping[str, Any]) -> HeaderConverter:
    """Instantiate and configure the header converter ``name`` (``header.converter``)."""
    cls = converter_class(name, "header.converter")
    if not issubclass(cls, HeaderConverter):
        raise ConfigException("header.converter", name, f"Class {name} is not a HeaderConverter")
    converter = cls()
    props = dict(configs)
    props.setdefault("converter.type", "header")
    try:
        converter.configure(props)
    except ConfigException as e:
        raise ConfigException(f"Invalid configuration of header.converter {name}: {e}") from e
    return converter
