"""Broker configuration: CLI flags, a Kafka-style ``server.properties`` file and ``--set KEY=VALUE``.

Property names follow Apache Kafka's broker configs where one exists (``num.partitions``,
``auto.create.topics.enable``, ``socket.request.max.bytes``, ``log.segment.bytes``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from broker.log.config import LogConfig
from kafka_common.properties import PropertiesError, parse_properties

__all__ = ["BrokerConfig", "BrokerConfigError", "PropertiesError", "parse_properties"]

DEFAULT_PORT = 9092


class BrokerConfigError(ValueError):
    """A broker property has an invalid value; the message names the property."""


def _int(props: dict[str, str], key: str, default: int) -> int:
    raw = props.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BrokerConfigError(f"{key}: expected an integer, got {raw!r}") from None


def _bool(props: dict[str, str], key: str, default: bool) -> bool:
    raw = props.get(key)
    if raw is None:
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise BrokerConfigError(f"{key}: expected true or false, got {raw!r}")


@dataclass
class BrokerConfig:
    """Everything the broker needs to start. Build with :meth:`from_properties`."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    advertised_host: str | None = None
    advertised_port: int | None = None
    node_id: int = 0
    num_partitions: int = 1
    auto_create_topics: bool = True
    max_request_bytes: int = 100 * 1024 * 1024
    maintenance_interval_ms: int = 1000
    offsets_topic_partitions: int = 50
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    group_initial_rebalance_delay_ms: int = 0
    log_defaults: LogConfig = field(default_factory=LogConfig)
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def advertised(self) -> tuple[str, int]:
        host = self.advertised_host or (self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1")
        return host, self.advertised_port or self.port

    @classmethod
    def from_properties(cls, data_dir: Path, host: str, port: int, props: dict[str, str]) -> BrokerConfig:
        """Validate ``props`` (Kafka broker property names) and build a config; raises BrokerConfigError."""
        adv_host, adv_port = None, None
        adv = props.get("advertised.listeners") or props.get("advertised.listener")
        if adv:
            first = adv.split(",")[0].split("://")[-1]
            h, _, p = first.rpartition(":")
            try:
                adv_host, adv_port = h or None, int(p)
            except ValueError:
                raise BrokerConfigError(f"advertised.listeners: cannot parse {adv!r}") from None
        try:
            log_defaults = LogConfig.from_broker_properties(props)
        except Exception as exc:
            raise BrokerConfigError(str(exc)) from None
        cfg = cls(
            data_dir=data_dir,
            host=host,
            port=port,
            advertised_host=adv_host,
            advertised_port=adv_port,
            node_id=_int(props, "node.id", _int(props, "broker.id", 0)),
            num_partitions=_int(props, "num.partitions", 1),
            auto_create_topics=_bool(props, "auto.create.topics.enable", True),
            max_request_bytes=_int(props, "socket.request.max.bytes", 100 * 1024 * 1024),
            maintenance_interval_ms=_int(props, "log.retention.check.interval.ms", 1000),
            offsets_topic_partitions=_int(props, "offsets.topic.num.partitions", 50),
            group_min_session_timeout_ms=_int(props, "group.min.session.timeout.ms", 6000),
            group_max_session_timeout_ms=_int(props, "group.max.session.timeout.ms", 1_800_000),
            group_initial_rebalance_delay_ms=_int(props, "group.initial.rebalance.delay.ms", 0),
            log_defaults=log_defaults,
            properties=dict(props),
        )
        try:  # the cleaner's own settings (log.cleaner.*): fail here with a one-line reason
            from broker.log.cleaner import CleanerConfig

            CleanerConfig.from_broker_properties(props)
        except Exception as exc:
            raise BrokerConfigError(str(exc)) from None
        if cfg.offsets_topic_partitions < 1:
            raise BrokerConfigError("offsets.topic.num.partitions: must be >= 1")
        if cfg.num_partitions < 1:
            raise BrokerConfigError("num.partitions: must be >= 1")
        if not 0 <= cfg.port <= 65535:
            raise BrokerConfigError(f"port: {cfg.port} is not a TCP port")
        return cfg
