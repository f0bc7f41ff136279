"""Connector configuration common to every connector (Kafka's ``ConnectorConfig``,
``SourceConnectorConfig``, ``SinkConnectorConfig``), its enrichment with the keys of the configured
transforms and predicates, validation into REST's ``ConfigInfos`` and secret masking.

Pure functions over a :class:`PluginRegistry`; thread-safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from connect.api.config import (
    HIDDEN,
    ConfigDef,
    ConfigKey,
    ConfigValue,
    Range,
    ValidString,
    mask_url_password,
)
from connect.api.connector import Connector, SinkConnector
from connect.runtime.models import ConfigInfo, ConfigInfos, ConfigKeyInfo, ConfigValueInfo
from connect.runtime.plugins import PluginConflictError, PluginNotFoundError, PluginRegistry

COMMON_GROUP = "Common"
TRANSFORMS_GROUP = "Transforms"
PREDICATES_GROUP = "Predicates"
ERROR_GROUP = "Error Handling"

COMMON_CONFIG = (
    ConfigDef()
    .define(
        "name",
        "string",
        importance="high",
        doc="Globally unique name of this connector.",
        group=COMMON_GROUP,
        validator=lambda n, v: _check_name(v),
    )
    .define(
        "connector.class",
        "string",
        importance="high",
        doc="Connector class: a full name (module.Class) or an alias such as FileStreamSource.",
        group=COMMON_GROUP,
    )
    .define(
        "tasks.max",
        "int",
        1,
        "high",
        "Maximum number of tasks.",
        validator=Range.at_least(1),
        group=COMMON_GROUP,
    )
    .define(
        "key.converter",
        "string",
        None,
        "low",
        "Converter for keys (default: the worker's).",
        group=COMMON_GROUP,
    )
    .define(
        "value.converter",
        "string",
        None,
        "low",
        "Converter for values (default: the worker's).",
        group=COMMON_GROUP,
    )
    .define(
        "header.converter",
        "string",
        None,
        "low",
        "Converter for headers (default: the worker's).",
        group=COMMON_GROUP,
    )
    .define(
        "config.action.reload",
        "string",
        "restart",
        "low",
        "What to do when a config provider's value changes: restart or none.",
        validator=ValidString.in_("restart", "none"),
        group=COMMON_GROUP,
    )
    .define(
        "transforms",
        "list",
        "",
        "low",
        "Aliases of the single message transforms to apply, in order.",
        group=TRANSFORMS_GROUP,
    )
    .define(
        "predicates",
        "list",
        "",
        "low",
        "Aliases of the predicates transforms may refer to.",
        group=PREDICATES_GROUP,
    )
    .define(
        "errors.retry.timeout",
        "long",
        0,
        "medium",
        "How long a failed conversion/transformation is retried (ms); -1 forever, 0 no retry.",
        group=ERROR_GROUP,
    )
    .define(
        "errors.retry.delay.max.ms",
        "long",
        60000,
        "medium",
        "Maximum delay between retries.",
        validator=Range.at_least(1),
        group=ERROR_GROUP,
    )
    .define(
        "errors.tolerance",
        "string",
        "none",
        "medium",
        "none: an error fails the task; all: skip problematic records (and report them).",
        validator=ValidString.in_("none", "all"),
        group=ERROR_GROUP,
    )
    .define(
        "errors.log.enable",
        "boolean",
        False,
        "medium",
        "Log each error and the failed operation.",
        group=ERROR_GROUP,
    )
    .define(
        "errors.log.include.messages",
        "boolean",
        False,
        "medium",
        "Include the failed record (topic, partition, offset, timestamp) in the log.",
        group=ERROR_GROUP,
    )
)

SINK_CONFIG = (
    ConfigDef(COMMON_CONFIG)
    .define("topics", "list", "", "high", "Topics to consume.", group=COMMON_GROUP)
    .define(
        "topics.regex", "string", "", "high", "Regular expression of topics to consume.", group=COMMON_GROUP
    )
    .define(
        "errors.deadletterqueue.topic.name",
        "string",
        "",
        "medium",
        "Topic for records that failed conversion or transformation (errors.tolerance=all).",
        group=ERROR_GROUP,
    )
    .define(
        "errors.deadletterqueue.topic.replication.factor",
        "short",
        -1,
        "medium",
        "Replication factor of the dead letter queue topic when it is created.",
        group=ERROR_GROUP,
    )
    .define(
        "errors.deadletterqueue.context.headers.enable",
        "boolean",
        False,
        "medium",
        "Add __connect.errors.* headers with the failure's context to records in the DLQ.",
        group=ERROR_GROUP,
    )
)

SOURCE_CONFIG = (
    ConfigDef(COMMON_CONFIG)
    .define(
        "topic.creation.groups",
        "list",
        "",
        "low",
        "Groups of topic.creation.* settings.",
        group="Topic Creation",
    )
    .define(
        "topic.creation.default.replication.factor",
        "short",
        -1,
        "low",
        "Replication factor of topics this source creates.",
        group="Topic Creation",
    )
    .define(
        "topic.creation.default.partitions",
        "int",
        -1,
        "low",
        "Partitions of topics this source creates (-1: the broker's default).",
        group="Topic Creation",
    )
)

_SECRET_NAME = re.compile(r"password|secret|credential|api[._-]?key|token", re.IGNORECASE)


def _check_name(value: Any) -> None:
    from connect.api.errors import ConfigException

    if not isinstance(value, str) or not value.strip():
        raise ConfigException("name", value, "Connector name must not be empty")
    if any(ord(c) < 32 for c in value) or "/" in value:
        raise ConfigException("name", value, "Connector name must not contain '/' or control characters")


def connector_class(props: Mapping[str, str], registry: PluginRegistry) -> type[Connector]:
    """The connector class ``props['connector.class']`` names (PluginNotFoundError/ConflictError)."""
    cls = registry.lookup(props.get("connector.class", ""), ("source", "sink")).cls
    return cls  # type: ignore[no-any-return]


def _prefixed(defn: ConfigDef, prefix: str, group: str) -> list[ConfigKey]:
    out = []
    for key in defn.config_keys().values():
        out.append(ConfigKey(**{**key.__dict__, "name": prefix + key.name, "group": group}))
    return out


def enriched_definition(
    props: Mapping[str, str], registry: PluginRegistry, is_sink: bool
) -> tuple[ConfigDef, dict[str, list[str]]]:
    """The common definition plus ``transforms.<alias>.*`` and ``predicates.<alias>.*`` keys.

    Returns the definition and errors found while resolving transform/predicate classes.
    """
    base = ConfigDef(SINK_CONFIG if is_sink else SOURCE_CONFIG)
    errors: dict[str, list[str]] = {}
    for kind, plugin_kind, group in (
        ("transforms", "transformation", TRANSFORMS_GROUP),
        ("predicates", "predicate", PREDICATES_GROUP),
    ):
        aliases = [a.strip() for a in props.get(kind, "").split(",") if a.strip()]
        if len(set(aliases)) != len(aliases):
            errors.setdefault(kind, []).append(f"Duplicate alias provided in {kind}")
        for alias in dict.fromkeys(aliases):
            type_key = f"{kind}.{alias}.type"
            base.define(
                type_key,
                "string",
                importance="high",
                doc=f"Class of the {alias} {plugin_kind}.",
                group=f"{group}: {alias}",
            )
            if kind == "transforms":
                base.define(
                    f"transforms.{alias}.negate",
                    "boolean",
                    False,
                    "low",
                    "Apply the transform when the predicate does NOT match.",
                    group=f"{group}: {alias}",
                )
                base.define(
                    f"transforms.{alias}.predicate",
                    "string",
                    None,
                    "low",
                    "Alias of the predicate that decides whether the transform applies.",
                    group=f"{group}: {alias}",
                )
            cls_name = props.get(type_key)
            if cls_name is None:
                continue
            try:
                desc = registry.lookup(cls_name, (plugin_kind,))
                for key in _prefixed(desc.cls().config(), f"{kind}.{alias}.", f"{group}: {alias}"):
                    if key.name not in base:
                        base.define_key(key)
            except (PluginNotFoundError, PluginConflictError) as exc:
                errors.setdefault(type_key, []).append(str(exc))
            except Exception as exc:  # a plugin whose config() fails
                errors.setdefault(type_key, []).append(f"{cls_name}: {type(exc).__name__}: {exc}")
    return base, errors


def _definition_for(props: Mapping[str, str], registry: PluginRegistry) -> ConfigDef | None:
    """The whole definition (common + connector + transforms) or None when the class is unknown."""
    try:
        cls = connector_class(props, registry)
    except (PluginNotFoundError, PluginConflictError):
        return None
    definition, _ = enriched_definition(props, registry, issubclass(cls, SinkConnector))
    try:
        for key in cls().config().config_keys().values():
            if key.name not in definition:
                definition.define_key(key)
    except Exception:
        return definition
    return definition


def mask_config(props: Mapping[str, str], registry: PluginRegistry) -> dict[str, str]:
    """A copy safe for logs and REST: secret values (by declaration) become ``[hidden]``.

    Where no declaration is known (unknown class), keys whose names look like secrets are masked.
    """
    definition = _definition_for(props, registry)
    if definition is not None:
        masked = definition.mask(props)
        converters_masked = {
            k: HIDDEN if _SECRET_NAME.search(k) and k not in definition else v for k, v in masked.items()
        }
        return {k: str(v) for k, v in converters_masked.items()}
    return {k: HIDDEN if _SECRET_NAME.search(k) else mask_url_password(v) for k, v in props.items()}


def _key_info(key: ConfigKey) -> ConfigKeyInfo:
    """Kafka's ``AbstractHerder.convertConfigKey``: a null default is JSON null, not ``"null"``."""
    return ConfigKeyInfo(
        name=key.name,
        type=key.type.name,
        required=not key.has_default,
        default_value=None if key.default_value is None else key.default_string(),
        importance=key.importance.name,
        documentation=key.documentation,
        group=key.group,
        order_in_group=key.order_in_group,
        width=key.width.name,
        display_name=key.display_name or key.name,
        dependents=list(key.dependents),
    )


def key_infos(definition: ConfigDef) -> list[ConfigKeyInfo]:
    return [_key_info(k) for k in definition.config_keys().values()]


def _value_info(cv: ConfigValue, secret: bool) -> ConfigValueInfo:
    value = None if cv.value is None else (HIDDEN if secret else mask_url_password(_string(cv.value)))
    return ConfigValueInfo(
        cv.name, value, [_string(v) for v in cv.recommended_values], list(cv.error_messages), cv.visible
    )


def _string(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def validate(
    props: Mapping[str, str],
    registry: PluginRegistry,
    resolve: Callable[[Mapping[str, str]], dict[str, str]] | None = None,
) -> ConfigInfos:
    """Validate a whole connector config: common keys, transforms/predicates, and the connector's own
    ``validate()``. Never raises for bad input; every problem is a per-field message.

    ``resolve`` applies the worker's config providers: the connector's own ``validate()`` sees resolved
    values (as in Kafka's AbstractHerder, so a connection check uses the real password), while the
    values shown in the result stay as given (``${file:…}``), so nothing resolved is echoed back."""
    name_for_result = props.get("connector.class", "")
    try:
        cls = connector_class(props, registry)
    except (PluginNotFoundError, PluginConflictError) as exc:
        defn = ConfigDef(COMMON_CONFIG)
        values = defn.validate(props)
        for cv in values:
            if cv.name == "connector.class" and not cv.error_messages:
                cv.add_error_message(str(exc))
        return _infos(name_for_result, defn, values, {})
    is_sink = issubclass(cls, SinkConnector)
    definition, extra_errors = enriched_definition(props, registry, is_sink)
    values = definition.validate(props)
    by_name = {cv.name: cv for cv in values}
    if is_sink:
        topics = [t for t in props.get("topics", "").split(",") if t.strip()]
        regex = props.get("topics.regex", "").strip()
        if topics and regex:
            by_name["topics"].add_error_message("Must configure only one of topics or topics.regex.")
            by_name["topics.regex"].add_error_message("Must configure only one of topics or topics.regex.")
        elif not topics and not regex:
            msg = "Must configure one of topics or topics.regex"
            by_name["topics"].add_error_message(msg)
            by_name["topics.regex"].add_error_message(msg)
        if regex:
            try:
                re.compile(regex)
            except re.error as exc:
                by_name["topics.regex"].add_error_message(f"Invalid regular expression: {exc}")
        dlq = props.get("errors.deadletterqueue.topic.name", "").strip()
        if dlq and dlq in topics:
            by_name["errors.deadletterqueue.topic.name"].add_error_message(
                f"The DLQ topic '{dlq}' may not be included in the list of topics "
                f"('topics={','.join(topics)}')"
            )
    for tkey in [k for k in props if k.startswith("transforms.") and k.endswith(".predicate")]:
        pred = props[tkey]
        defined = [a.strip() for a in props.get("predicates", "").split(",")]
        if pred and pred not in defined and tkey in by_name:
            by_name[tkey].add_error_message(f"Predicate {pred!r} is not defined in predicates")
    for key_name, msgs in extra_errors.items():
        found = by_name.get(key_name)
        if found is None:
            found = by_name[key_name] = ConfigValue(key_name, props.get(key_name))
            values.append(found)
        for m in msgs:
            found.add_error_message(m)
    connector_def = ConfigDef()
    try:
        resolved = dict(props) if resolve is None else resolve(props)
    except Exception as exc:
        resolved = dict(props)
        by_name["connector.class"].add_error_message(f"Cannot resolve config providers: {exc}")
    try:
        connector = cls()
        connector_def = connector.config()
        own = connector.validate(resolved).config_values
    except Exception as exc:
        own = []
        by_name["connector.class"].add_error_message(f"{type(exc).__name__} while validating: {exc}")
    for cv in own:
        if cv.name in props and resolved.get(cv.name) != props[cv.name]:
            cv.value = props[cv.name]  # show what was given, never a resolved value
    for cv in own:
        if cv.name in by_name:
            for m in cv.error_messages:
                if m not in by_name[cv.name].error_messages:
                    by_name[cv.name].add_error_message(m)
        else:
            by_name[cv.name] = cv
            values.append(cv)
    merged = ConfigDef(definition)
    for ckey in connector_def.config_keys().values():
        if ckey.name not in merged:
            merged.define_key(ckey)
    return _infos(cls.__module__ + "." + cls.__qualname__, merged, values, {})


def _infos(name: str, definition: ConfigDef, values: list[ConfigValue], _: dict[str, Any]) -> ConfigInfos:
    keys = definition.config_keys()
    configs = [
        ConfigInfo(
            _key_info(keys[cv.name]) if cv.name in keys else None,
            _value_info(
                cv, definition.is_secret(cv.name) if cv.name in keys else bool(_SECRET_NAME.search(cv.name))
            ),
        )
        for cv in values
    ]
    return ConfigInfos(name, sum(len(c.value.errors) for c in configs), definition.groups(), configs)
