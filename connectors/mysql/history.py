"""The schema history: every DDL the connector applied, with the binlog position it was read at and
the resulting table definitions, in Debezium's ``HistoryRecord`` JSON::

    {"source": {"server": <topic.prefix>}, "position": {<offset>}, "ts_ms": ..., "databaseName": db,
     "ddl": "CREATE TABLE ...", "tableChanges": [{"type": "CREATE", "id": "\"db\".\"t\"", "table": {...}}]}

A restarted task replays the records up to its offset's position, so binlog events written before a
later DDL decode with the table shape they were written with. Backends (``schema.history.internal``):
a Kafka topic (Debezium's default; one partition, unlimited retention), a file (one JSON record a line),
or memory. Used on the task thread only.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connect.api.errors import ConnectException
from connectors.mysql.config import FILE_HISTORY, KAFKA_HISTORY, Settings
from connectors.mysql.ddl import TableDef

log = logging.getLogger("connectors.mysql")


def position_key(position: dict[str, Any]) -> tuple[int, str, int]:
    """Orders binlog positions: (file sequence number, file, pos)."""
    file = str(position.get("file", ""))
    suffix = file.rsplit(".", 1)[-1]
    return (int(suffix) if suffix.isdigit() else 0, file, int(position.get("pos", 0)))


class SchemaHistory:
    """In memory; subclasses persist."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def load(self) -> None:
        pass

    def _store(self, record: dict[str, Any]) -> None:
        pass

    def exists(self) -> bool:
        return bool(self.records)

    def record(
        self, prefix: str, position: dict[str, Any], db: str | None, ddl: str, changes: list[Any]
    ) -> None:
        key = position_key(position)
        if any(position_key(r["position"]) == key and r["ddl"] == ddl for r in self.records):
            return  # read again after a restart: already recorded
        rec = {
            "source": {"server": prefix},
            "position": position,
            "ts_ms": int(time.time() * 1000),
            "databaseName": db or "",
            "ddl": ddl,
            "tableChanges": [c.to_debezium() for c in changes],
        }
        self._store(rec)
        self.records.append(rec)

    def tables_at(self, position: dict[str, Any] | None) -> dict[tuple[str, str], TableDef]:
        """The table definitions after every record at or before ``position`` (None: all)."""
        limit = position_key(position) if position is not None else None
        tables: dict[tuple[str, str], TableDef] = {}
        for rec in self.records:
            if limit is not None and position_key(rec["position"]) > limit:
                continue
            for change in rec.get("tableChanges") or ():
                if change.get("previousId"):
                    old = TableDef.from_debezium(change["previousId"], {"columns": []})
                    tables.pop((old.db, old.name), None)
                if change["type"] == "DROP":
                    dropped = TableDef.from_debezium(change["id"], {"columns": []})
                    tables.pop((dropped.db, dropped.name), None)
                else:
                    table = TableDef.from_debezium(change["id"], change["table"])
                    tables[(table.db, table.name)] = table
        return tables

    def close(self) -> None:
        pass


class FileSchemaHistory(SchemaHistory):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)

    def load(self) -> None:
        self.records = []
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    self.records.append(json.loads(line))

    def _store(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())


class KafkaSchemaHistory(SchemaHistory):
    """The history in a one-partition topic; each record is acknowledged before the task goes on."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 30.0) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Any = None

    def _ensure_topic(self) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        metadata = admin.list_topics(timeout=self.timeout_s)
        if self.topic in metadata.topics and metadata.topics[self.topic].error is None:
            return
        futures = admin.create_topics(
            [NewTopic(self.topic, 1, config={"retention.ms": "-1", "cleanup.policy": "delete"})]
        )
        for future in futures.values():
            try:
                future.result(self.timeout_s)
            except Exception as exc:  # already exists (a concurrent creation) is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise ConnectException(
                        f"Cannot create the schema history topic {self.topic}: {exc}"
                    ) from exc

    def load(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self._ensure_topic()
        self.records = []
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"headrace-schema-history-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            tp = TopicPartition(self.topic, 0, 0)
            _low, high = consumer.get_watermark_offsets(tp, timeout=self.timeout_s)
            if high <= 0:
                return
            consumer.assign([tp])
            deadline = time.monotonic() + self.timeout_s
            read = 0
            while read < high:
                if time.monotonic() > deadline:
                    raise ConnectException(
                        f"Timed out reading the schema history topic {self.topic} ({read} of {high} records)"
                    )
                for message in consumer.consume(1000, 0.5):
                    if message.error() is not None:
                        continue
                    read = (message.offset() or 0) + 1
                    value = message.value()
                    if value:
                        self.records.append(json.loads(value))
        finally:
            consumer.close()

    def _store(self, record: dict[str, Any]) -> None:
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 0})
        errors: list[Any] = []
        self._producer.produce(
            self.topic,
            json.dumps(record, separators=(",", ":")).encode(),
            partition=0,
            on_delivery=lambda err, _msg: errors.append(err),
        )
        remaining = self._producer.flush(self.timeout_s)
        if remaining or (errors and errors[0] is not None):
            reason = errors[0] if errors else "timeout"
            raise ConnectException(f"Could not write to the schema history topic {self.topic}: {reason}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None


def open_history(settings: Settings) -> SchemaHistory:
    if settings.history_class == KAFKA_HISTORY:
        assert settings.history_bootstrap and settings.history_topic
        return KafkaSchemaHistory(settings.history_bootstrap, settings.history_topic)
    if settings.history_class == FILE_HISTORY:
        assert settings.history_file
        return FileSchemaHistory(settings.history_file)
    return SchemaHistory()


def iter_ddl_databases(records: list[dict[str, Any]]) -> Iterator[str]:
    for rec in records:
        yield rec.get("databaseName", "")
