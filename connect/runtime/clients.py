"""Kafka client configurations for the runtime's confluent-kafka (librdkafka) clients.

Precedence, lowest first: runtime defaults, worker ``producer.*`` / ``consumer.*`` / ``admin.*``,
connector ``producer.override.*`` / ``consumer.override.*`` (when the worker's
``connector.client.config.override.policy`` allows). Java-client-only settings that librdkafka does
not know are dropped with a warning instead of failing the task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connect.runtime.worker_config import WorkerConfig, strip_prefix

log = logging.getLogger("connect.clients")
librdkafka_log = logging.getLogger("librdkafka")

JAVA_ONLY = {
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "buffer.memory",
    "max.block.ms",
    "interceptor.classes",
    "max.poll.records",
    "default.api.timeout.ms",
    "partitioner.class",
    "security.providers",
    "metric.reporters",
    "client.dns.lookup",
    "delivery.timeout.ms.config",
    "allow.auto.create.topics.config",
}


def _clean(conf: dict[str, Any], what: str) -> dict[str, Any]:
    conf.setdefault("logger", librdkafka_log)  # client logs go through Python logging, not raw stderr
    for key in [k for k in conf if k in JAVA_ONLY]:
        log.warning("ignoring %s setting %s (not supported by librdkafka)", what, key)
        conf.pop(key)
    return conf


def _overrides(worker: WorkerConfig, connector: Mapping[str, str], prefix: str) -> dict[str, Any]:
    found = strip_prefix(connector, prefix)
    if found and worker.get("connector.client.config.override.policy") == "None":
        log.warning("connector client overrides %s are ignored: override policy is None", sorted(found))
        return {}
    return found


def producer_config(worker: WorkerConfig, connector: Mapping[str, str], client_id: str) -> dict[str, Any]:
    conf = {
        "bootstrap.servers": worker.bootstrap_servers,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": "true",
        "linger.ms": "5",
        "batch.num.messages": "10000",
        "queue.buffering.max.messages": "500000",
        "queue.buffering.max.kbytes": "1048576",
        "partitioner": "murmur2_random",
    }
    conf.update(worker.prefixed("producer."))
    conf.update(_overrides(worker, connector, "producer.override."))
    return _clean(conf, "producer")


def consumer_config(
    worker: WorkerConfig, connector: Mapping[str, str], client_id: str, group_id: str
) -> dict[str, Any]:
    conf = {
        "bootstrap.servers": worker.bootstrap_servers,
        "client.id": client_id,
        "group.id": group_id,
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "earliest",
        "queued.min.messages": "20000",
        "fetch.queue.backoff.ms": "10",  # librdkafka's 1 s default stalls a fast sink after each batch
        "fetch.wait.max.ms": "100",
    }
    if str(connector.get("topics.regex") or "").strip():
        # A pattern subscription only sees topics created after it when metadata is refreshed: librdkafka's
        # default of 5 minutes left a sink started before its source's topics idle that long.
        conf["topic.metadata.refresh.interval.ms"] = "10000"
    conf.update(worker.prefixed("consumer."))
    conf.update(_overrides(worker, connector, "consumer.override."))
    return _clean(conf, "consumer")


def admin_config(worker: WorkerConfig) -> dict[str, Any]:
    conf = {"bootstrap.servers": worker.bootstrap_servers}
    conf.update(worker.prefixed("admin."))
    return _clean(conf, "admin")


# Worker settings every client of a distributed worker's internal topics inherits (as Kafka's worker passes
# its security settings to the KafkaBasedLog clients); connector ``producer.*``/``consumer.*`` do not apply.
# Only names librdkafka knows: Java-only ones (sasl.jaas.config, ssl.truststore.*, ...) would make it refuse.
_SHARED_KEYS = (
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.kerberos.",
    "sasl.oauthbearer.",
    "ssl.ca.",
    "ssl.certificate.",
    "ssl.key.",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.crl.location",
    "ssl.cipher.suites",
    "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification",
    "socket.",
    "reconnect.backoff.",
)


def internal_client_config(worker: WorkerConfig) -> dict[str, str]:
    """Connection settings of the config/offset/status topic clients: ``bootstrap.servers`` plus the
    worker's security (``security.protocol``, librdkafka's ``ssl.*``/``sasl.*``) and socket settings.
    Java-only security settings are left out with a warning naming them (never their values)."""
    conf = {k: v for k, v in worker.raw.items() if k.startswith(_SHARED_KEYS)}
    ignored = sorted(k for k in worker.raw if k.startswith(("ssl.", "sasl.")) and k not in conf)
    if ignored:
        log.warning("worker settings not supported by librdkafka, ignored: %s", ", ".join(ignored))
    conf["bootstrap.servers"] = worker.bootstrap_servers
    return conf


def librdkafka_config(conf: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``conf`` ready for a confluent-kafka client: logs routed to Python logging, Java-only keys dropped."""
    return _clean(dict(conf), what)
