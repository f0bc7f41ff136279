"""Worker configuration (Kafka Connect's worker properties), declared as data.

Built from a ``worker.properties`` file plus ``--set`` overrides by the CLI. Unknown keys are kept
(``raw``) so ``producer.*``, ``consumer.*``, ``admin.*`` and ``config.providers.*`` prefixes pass
through. Immutable after construction; safe to read from any thread.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connect.api.config import ConfigDef, Range, ValidString

GROUP_COMMON = "Common"
GROUP_DISTRIBUTED = "Distributed"

WORKER_CONFIG = (
    ConfigDef()
    .define(
        "bootstrap.servers",
        "list",
        "localhost:9092",
        "high",
        "Kafka brokers (host:port, comma separated) the worker talks to. The included broker or any "
        "Kafka-compatible cluster.",
        group=GROUP_COMMON,
    )
    .define(
        "key.converter",
        "string",
        "JsonConverter",
        "high",
        "Default converter for record keys.",
        group=GROUP_COMMON,
    )
    .define(
        "value.converter",
        "string",
        "JsonConverter",
        "high",
        "Default converter for record values.",
        group=GROUP_COMMON,
    )
    .define(
        "header.converter",
        "string",
        "SimpleHeaderConverter",
        "low",
        "Default converter for headers.",
        group=GROUP_COMMON,
    )
    .define(
        "offset.flush.interval.ms",
        "long",
        60000,
        "low",
        "How often source offsets are committed (after the broker acknowledged the records) and sink "
        "consumer offsets are committed (after the task flushed).",
        validator=Range.at_least(1),
        group=GROUP_COMMON,
    )
    .define(
        "offset.flush.timeout.ms",
        "long",
        5000,
        "low",
        "How long an offset commit may wait for outstanding records to be acknowledged.",
        validator=Range.at_least(1),
        group=GROUP_COMMON,
    )
    .define(
        "task.shutdown.graceful.timeout.ms",
        "long",
        5000,
        "low",
        "How long to wait for a task to stop before abandoning its thread.",
        validator=Range.at_least(0),
        group=GROUP_COMMON,
    )
    .define(
        "plugin.path",
        "list",
        "",
        "low",
        "Directories scanned for plugins (besides the headrace.plugins entry points). Default: ./plugins "
        "when it exists.",
        group=GROUP_COMMON,
    )
    .define("listeners", "list", "http://127.0.0.1:8083", "low", "REST listener URL(s).", group=GROUP_COMMON)
    .define(
        "rest.advertised.host.name",
        "string",
        None,
        "low",
        "Host name other workers use to reach this one.",
        group=GROUP_COMMON,
    )
    .define(
        "rest.advertised.port",
        "int",
        None,
        "low",
        "Port other workers use to reach this one.",
        group=GROUP_COMMON,
    )
    .define(
        "topic.creation.enable",
        "boolean",
        True,
        "low",
        "Whether source connectors may create their topics (topic.creation.* connector configs).",
        group=GROUP_COMMON,
    )
    .define(
        "config.providers",
        "list",
        "",
        "low",
        "Names of the config providers connector configs may reference, each with its class in "
        "config.providers.<name>.class (EnvVarConfigProvider, FileConfigProvider, "
        "DirectoryConfigProvider or Kafka's class names) and parameters in config.providers.<name>.param.*; "
        "then ${env:VAR}, ${file:path:key}, ${directory:dir:file} resolve. None by default, as in Kafka: "
        "a provider lets connector configs read the worker's environment or files.",
        group=GROUP_COMMON,
    )
    .define(
        "connector.client.config.override.policy",
        "string",
        "All",
        "low",
        "Which producer.override.* / consumer.override.* a connector may set: All, None.",
        validator=ValidString.in_("All", "None"),
        group=GROUP_COMMON,
    )
    .define(
        "offset.storage.file.filename",
        "string",
        "",
        "low",
        "Standalone mode: the file source offsets are kept in.",
        group="Standalone",
    )
    .define(
        "config.storage.file.filename",
        "string",
        "",
        "low",
        "Standalone mode: a file connector configs created through REST are kept in, so they survive a "
        "restart (empty: in memory only).",
        group="Standalone",
    )
    .define(
        "group.id",
        "string",
        None,
        "high",
        "Distributed mode: the Connect cluster this worker joins.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "config.storage.topic",
        "string",
        "connect-configs",
        "high",
        "Topic with connector configs.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "offset.storage.topic",
        "string",
        "connect-offsets",
        "high",
        "Topic with source offsets.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "status.storage.topic",
        "string",
        "connect-status",
        "high",
        "Topic with connector/task status.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "config.storage.replication.factor",
        "short",
        -1,
        "low",
        "Replication factor of the config topic.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "offset.storage.replication.factor",
        "short",
        -1,
        "low",
        "Replication factor of the offset topic.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "status.storage.replication.factor",
        "short",
        -1,
        "low",
        "Replication factor of the status topic.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "offset.storage.partitions",
        "int",
        25,
        "low",
        "Partitions of the offset topic.",
        validator=Range.at_least(1),
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "status.storage.partitions",
        "int",
        5,
        "low",
        "Partitions of the status topic.",
        validator=Range.at_least(1),
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "session.timeout.ms",
        "int",
        10000,
        "high",
        "Distributed mode: worker group session timeout.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "heartbeat.interval.ms",
        "int",
        3000,
        "high",
        "Distributed mode: worker heartbeat interval.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "rebalance.timeout.ms",
        "int",
        60000,
        "high",
        "Distributed mode: how long a rebalance may take.",
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "scheduled.rebalance.max.delay.ms",
        "int",
        300000,
        "medium",
        "Distributed mode: how long the tasks of a departed worker wait for it before being reassigned.",
        validator=Range.at_least(0),
        group=GROUP_DISTRIBUTED,
    )
    .define(
        "connect.protocol",
        "string",
        "sessioned",
        "low",
        "Distributed mode: the group sub-protocol: sessioned or compatible (incremental cooperative "
        "rebalancing) or default (eager: every rebalance stops everything).",
        validator=ValidString.in_("sessioned", "compatible", "default"),
        group=GROUP_DISTRIBUTED,
    )
)


# Prefixes whose keys are handed on rather than declared: client settings, config provider parameters,
# converter settings, and the connection/security settings every internal client inherits.
PASS_THROUGH_PREFIXES = (
    "producer.",
    "consumer.",
    "admin.",
    "config.providers.",
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "security.",
    "ssl.",
    "sasl.",
    "socket.",
    "reconnect.backoff.",
    "enable.ssl.",
)


def unknown_keys(props: Mapping[str, str]) -> list[str]:
    """One line per property that is neither declared nor under a pass-through prefix, with the closest
    declared name when one is near ("did you mean"). Kafka logs such keys as supplied but unknown; a
    misspelled key otherwise silently leaves its setting at the default."""
    known = WORKER_CONFIG.names()
    out = []
    for key in sorted(props):
        if key in known or key.startswith(PASS_THROUGH_PREFIXES):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        out.append(f"unknown worker property '{key}' is ignored{hint}")
    return out


def strip_prefix(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The properties under ``prefix`` (e.g. ``producer.``) with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}


class WorkerConfig:
    """Parsed worker properties: typed values in ``values``, everything as given in ``raw``."""

    def __init__(self, props: Mapping[str, str]) -> None:
        self.raw: dict[str, str] = dict(props)
        self.values: dict[str, Any] = WORKER_CONFIG.parse(self.raw)

    def get(self, key: str) -> Any:
        return self.values[key]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(self.values["bootstrap.servers"])

    @property
    def plugin_path(self) -> list[Path]:
        paths = [Path(p) for p in self.values["plugin.path"] if p]
        if not paths and Path("plugins").is_dir():
            paths = [Path("plugins")]
        return paths

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Properties under ``prefix`` (e.g. ``producer.``) with the prefix removed."""
        return strip_prefix(self.raw, prefix)

    def converter_settings(self, kind: str) -> tuple[str, dict[str, str]]:
        """(class name, its properties) of the worker default ``key``/``value``/``header`` converter."""
        return self.values[f"{kind}.converter"], self.prefixed(f"{kind}.converter.")
