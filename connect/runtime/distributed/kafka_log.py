"""A topic read from the beginning into memory and appended to (Kafka Connect's ``KafkaBasedLog``).

The distributed worker keeps its shared state in three compacted topics (configs, offsets, statuses);
each store wraps one :class:`KafkaBasedLog`. Lifecycle, in order:

1. ``start()`` (caller's thread): creates the topic if missing (compacted, with the configured partitions
   and replication factor), assigns every partition to a group-less consumer from the beginning, starts
   the consumer thread and returns once every record up to the end offsets has been handed to
   ``on_record``.
2. The consumer thread calls ``on_record(partition, offset, key, value)`` for every record, in offset
   order per partition, for as long as the log runs. ``on_record`` must be quick and must not call back
   into ``read_to_end`` (that would wait on itself).
3. Any thread: ``send`` (async), ``send_sync`` / ``send_many_sync`` (return after the broker acked,
   acks=all with the idempotent producer), ``flush``, ``read_to_end`` (returns once ``on_record`` has seen
   every record below the end offsets observed at call time).
4. ``stop()``: flushes the producer, stops the consumer thread, closes the clients.

Keyed records are partitioned with murmur2 as Java's producer does, so Kafka Connect workers and
Headrace workers agree on where a key lives.

Broker quirk handled here: Tansu reports as end offset the base offset of the last batch + 1 (not the
last offset + 1). ``on_record`` progress is published per consumed chunk (a fetched batch is usually one
chunk) and the ``send_*_sync`` methods return the acked offsets so writers wait for their own records
explicitly (``read_to_end(at_least=...)``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
    OffsetSpec,
)

from connect.api.errors import ConnectException
from connect.runtime.clients import librdkafka_config

log = logging.getLogger("connect.distributed.log")

RecordHandler = Callable[[int, int, bytes | None, bytes | None], None]
DeliveryCallback = Callable[[Exception | None], None]
Record = tuple[bytes | None, bytes | None, int | None]  # (key, value, partition or None for murmur2)

_POLL_SECONDS = 0.1
_CHUNK = 500
_MAX_BLOCK_SECONDS = 60.0  # as the Java producer's max.block.ms: how long a send waits for queue space


def json_bytes(value: Mapping[str, Any]) -> bytes:
    """Compact JSON, the value format of the config and status topics (schemaless, as Kafka's)."""
    return json.dumps(value, separators=(",", ":")).encode()


def store_log(
    topic: str,
    client_config: Mapping[str, str],
    on_record: RecordHandler,
    *,
    store: str,
    client_id: str,
    partitions: int,
    replication_factor: int,
) -> KafkaBasedLog:
    """The compacted log behind a config/offset/status store, its clients named
    ``<client_id or "headrace">-<store>`` (e.g. ``worker1-offsets``)."""
    return KafkaBasedLog(
        topic,
        client_config,
        on_record,
        partitions=partitions,
        replication_factor=replication_factor,
        topic_config={"cleanup.policy": "compact"},
        client_id=f"{client_id or 'headrace'}-{store}",
    )


class LogTimeoutError(ConnectException, TimeoutError):
    """A broker round trip or a read to the end did not complete in time."""


class KafkaBasedLog:
    """A topic read from the beginning into memory and appended to; Kafka Connect's KafkaBasedLog.

    Thread: one background consumer thread calls ``on_record`` for every record in offset order per
    partition. All public methods are thread-safe.
    """

    def __init__(
        self,
        topic: str,
        client_config: Mapping[str, str],
        on_record: RecordHandler,
        *,
        partitions: int = 1,
        replication_factor: int = 1,
        topic_config: Mapping[str, str] | None = None,
        client_id: str = "",
    ) -> None:
        if not topic:
            raise ConnectException("a KafkaBasedLog needs a topic name")
        self.topic = topic
        self._client_config = dict(client_config)
        self._on_record = on_record
        self._wanted_partitions = partitions
        self._replication_factor = replication_factor
        self._topic_config = dict({"cleanup.policy": "compact"} if topic_config is None else topic_config)
        self._client_id = client_id or f"headrace-{topic}"
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._progress: dict[int, int] = {}  # partition -> next offset not yet handed to on_record
        self._failure: BaseException | None = None
        self._records_read = 0
        self.partitions: list[int] = []  # the topic's partitions, known after start()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Create the topic if missing, then read it to the end. Raises ConnectException on failure."""
        if self._thread is not None:
            raise ConnectException(f"log {self.topic} already started")
        began = time.monotonic()
        deadline = began + timeout
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        log.info(
            "log %s started: %d partition(s), %d record(s) read in %.0f ms",
            self.topic,
            len(self.partitions),
            self._records_read,
            (time.monotonic() - began) * 1000,
        )

    def _start(self, deadline: float) -> None:
        # The idempotent producer first: it fetches its producer id in the background (sometimes only
        # after a 0.5 s retry timer) while the topic is created and read.
        self._producer = Producer(
            self._conf(
                "producer",
                {
                    "acks": "all",
                    "enable.idempotence": "true",
                    "partitioner": "murmur2_random",
                    "linger.ms": "1",
                },
            )
        )
        self._admin = AdminClient(self._conf("admin", {}))
        self._ensure_topic(deadline)
        self.partitions = self._await_partitions(deadline)
        self._check_cleanup_policy(deadline)
        try:  # connect the producer now that the topic exists (a producer's metadata request may create it)
            self._producer.list_topics(self.topic, timeout=min(5.0, self._remaining(deadline)))
        except KafkaException as exc:
            log.debug("producer for %s not connected yet: %s", self.topic, exc)
        self._consumer = Consumer(
            self._conf(
                "consumer",
                {
                    # librdkafka insists on a group id; the log never subscribes nor commits (manual assign).
                    "group.id": f"{self._client_id}-log",
                    "enable.auto.commit": "false",
                    "enable.auto.offset.store": "false",
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": "100",
                    "fetch.queue.backoff.ms": "10",
                },
            )
        )
        self._progress = self._list_offsets(OffsetSpec.earliest(), deadline)  # type: ignore[no-untyped-call]
        # Start at the log start offsets just listed (saves the consumer its own offset lookup).
        self._consumer.assign(
            [TopicPartition(self.topic, p, self._progress.get(p, OFFSET_BEGINNING)) for p in self.partitions]
        )
        self._stopping.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._run, name=f"kafka-log-{self.topic}", daemon=True)
        self._thread.start()
        self.read_to_end(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Flush pending sends, stop the consumer thread and close the clients. Idempotent."""
        producer, consumer, thread = self._producer, self._consumer, self._thread
        if producer is not None:
            left = producer.flush(10)
            if left:
                log.warning("log %s: %d record(s) not delivered before stop", self.topic, left)
        self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(15)
        if consumer is not None:
            consumer.close()
        self._producer = self._consumer = self._admin = None
        self._thread = None
        with self._cond:
            self._cond.notify_all()

    # -- writes ------------------------------------------------------------------------------------

    def send(
        self,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        *,
        callback: DeliveryCallback | None = None,
    ) -> None:
        """Append a record asynchronously. ``callback(None | error)`` runs once the broker answered, on
        whichever thread serves the producer's delivery reports; without one, failures are logged."""
        producer = self._require(self._producer)

        def delivered(err: KafkaError | None, msg: Any) -> None:
            error = None if err is None else ConnectException(f"write to {self.topic} failed: {err.str()}")
            if callback is not None:
                callback(error)
            elif error is not None:
                log.error("%s", error)

        self._produce(producer, key, value, partition, delivered)
        producer.poll(0)

    def send_sync(
        self, key: bytes | None, value: bytes | None, partition: int | None = None, timeout: float = 30.0
    ) -> dict[int, int]:
        """Append one record and return after the broker acknowledged it: ``{partition: offset}``."""
        return self.send_many_sync([(key, value, partition)], timeout)

    def send_many_sync(self, records: Iterable[Record], timeout: float = 30.0) -> dict[int, int]:
        """Append records (in order) and return after the broker acknowledged all of them, with the
        highest acked offset per partition. Raises ConnectException if any failed (some may be written)."""
        producer = self._require(self._producer)
        deadline = time.monotonic() + timeout
        lock = threading.Lock()
        done = threading.Event()
        acked: dict[int, int] = {}
        errors: list[str] = []
        pending = 0

        def delivered(err: KafkaError | None, msg: Any) -> None:
            nonlocal pending
            with lock:
                if err is not None:
                    errors.append(err.str())
                else:
                    acked[msg.partition()] = max(acked.get(msg.partition(), -1), msg.offset())
                pending -= 1
                if pending == 0:
                    done.set()

        sent = 0
        for key, value, partition in records:
            with lock:
                pending += 1
            self._produce(producer, key, value, partition, delivered)
            sent += 1
        if sent == 0:
            return {}
        while not done.is_set():
            if time.monotonic() >= deadline:
                raise LogTimeoutError(
                    f"{self.topic}: no acknowledgement of {sent} record(s) in {timeout:.0f} s"
                )
            producer.poll(0.01)  # serves delivery reports (ours may also be served by another thread)
        if errors:
            raise ConnectException(f"write to {self.topic} failed: {'; '.join(sorted(set(errors)))}")
        return dict(acked)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every record sent so far was acknowledged (or failed)."""
        left = self._require(self._producer).flush(timeout)
        if left:
            raise LogTimeoutError(
                f"{self.topic}: {left} record(s) still unacknowledged after {timeout:.0f} s"
            )

    # -- reads -------------------------------------------------------------------------------------

    def read_to_end(self, timeout: float = 30.0, *, at_least: Mapping[int, int] | None = None) -> None:
        """Return once ``on_record`` has seen every record below the end offsets observed now (and, with
        ``at_least={partition: offset}``, every record up to those offsets, e.g. the caller's acked writes).
        Must not be called from ``on_record``."""
        if threading.current_thread() is self._thread:
            raise ConnectException("read_to_end called from the log's own consumer thread")
        deadline = time.monotonic() + timeout
        ends = self._list_offsets(OffsetSpec.latest(), deadline)  # type: ignore[no-untyped-call]
        for partition, offset in (at_least or {}).items():
            ends[partition] = max(ends.get(partition, 0), offset + 1)

        def caught_up() -> bool:
            return (
                self._failure is not None
                or self._thread is None
                or all(self._progress.get(p, 0) >= end for p, end in ends.items())
            )

        with self._cond:
            ok = self._cond.wait_for(caught_up, max(0.0, deadline - time.monotonic()))
            if self._failure is not None:
                raise ConnectException(f"log {self.topic} consumer failed: {self._failure}")
            if self._thread is None:
                raise ConnectException(f"log {self.topic} is not running")
            if not ok:
                behind = {
                    p: (self._progress.get(p, 0), e) for p, e in ends.items() if self._progress.get(p, 0) < e
                }
                raise LogTimeoutError(
                    f"{self.topic}: not read to the end in {timeout:.0f} s (partition: (read, end) {behind})"
                )

    # -- internals ---------------------------------------------------------------------------------

    def _conf(self, role: str, defaults: Mapping[str, str]) -> dict[str, Any]:
        conf: dict[str, Any] = {**defaults, **self._client_config}
        if role == "producer":  # the log's guarantees do not bend to the caller's settings
            conf.update({"acks": "all", "enable.idempotence": "true", "partitioner": "murmur2_random"})
        conf["client.id"] = f"{self._client_id}-{role}"
        return librdkafka_config(conf, role)

    @staticmethod
    def _require(client: Any) -> Any:
        if client is None:
            raise ConnectException("the log is not started")
        return client

    def _produce(
        self,
        producer: Producer,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        on_delivery: Callable[[KafkaError | None, Any], None],
    ) -> None:
        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        deadline = time.monotonic() + _MAX_BLOCK_SECONDS
        while True:
            try:
                producer.produce(self.topic, value=value, key=key, on_delivery=on_delivery, **kwargs)
                return
            except BufferError:  # local queue full (brokers unreachable?): let deliveries drain
                if time.monotonic() >= deadline:
                    raise LogTimeoutError(
                        f"{self.topic}: producer queue full for {_MAX_BLOCK_SECONDS:.0f} s"
                    ) from None
                producer.poll(0.05)

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LogTimeoutError(f"{self.topic}: timed out talking to the brokers")
        return left

    def _ensure_topic(self, deadline: float) -> None:
        admin = self._require(self._admin)
        new = NewTopic(
            self.topic,
            num_partitions=self._wanted_partitions,
            replication_factor=self._replication_factor,
            config=self._topic_config,
        )
        remaining = self._remaining(deadline)
        futures = admin.create_topics([new], operation_timeout=remaining, request_timeout=remaining)
        future = futures[self.topic]
        try:
            future.result(timeout=remaining)
            log.info(
                "created topic %s (%d partition(s), replication factor %d, %s)",
                self.topic,
                self._wanted_partitions,
                self._replication_factor,
                self._topic_config,
            )
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            code = err.code()
            if code == KafkaError.TOPIC_ALREADY_EXISTS:
                log.debug("topic %s exists", self.topic)
            elif code in (
                KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                KafkaError.TOPIC_AUTHORIZATION_FAILED,
                KafkaError.UNSUPPORTED_VERSION,
                KafkaError._UNSUPPORTED_FEATURE,
            ):  # as Kafka's TopicAdmin: assume an operator created it
                log.warning("could not create topic %s (%s); assuming it exists", self.topic, err.str())
            else:
                raise ConnectException(f"could not create topic {self.topic}: {err.str()}") from exc
        except TimeoutError as exc:
            raise LogTimeoutError(f"creating topic {self.topic} timed out") from exc

    def _await_partitions(self, deadline: float) -> list[int]:
        admin = self._require(self._admin)
        while True:
            try:
                meta = admin.list_topics(self.topic, timeout=min(5.0, self._remaining(deadline)))
                found = meta.topics.get(self.topic)
                if found is not None and found.error is None and found.partitions:
                    return sorted(found.partitions)
            except KafkaException as exc:
                log.debug("metadata of %s not available yet: %s", self.topic, exc)
            if time.monotonic() + 0.05 >= deadline:
                raise LogTimeoutError(f"topic {self.topic} has no partitions (does it exist?)")
            time.sleep(0.05)

    def _check_cleanup_policy(self, deadline: float) -> None:
        """As Kafka's worker: refuse a non-compacted topic when compaction was asked for. Brokers
        without DescribeConfigs (e.g. Tansu) skip the check."""
        wanted = self._topic_config.get("cleanup.policy")
        if wanted != "compact":
            return
        admin = self._require(self._admin)
        resource = ConfigResource("topic", self.topic)
        remaining = self._remaining(deadline)
        try:
            configs = admin.describe_configs([resource], request_timeout=remaining)[resource].result(
                timeout=remaining
            )
        except (KafkaException, TimeoutError) as exc:
            log.info("cannot verify cleanup.policy of %s (%s); continuing", self.topic, exc)
            return
        entry = configs.get("cleanup.policy")
        policy = "" if entry is None or entry.value is None else str(entry.value)
        if entry is not None and "compact" not in policy.split(","):
            raise ConnectException(
                f"topic {self.topic} has cleanup.policy={policy}; the worker's internal topics must be "
                "compacted (cleanup.policy=compact) or old entries are lost"
            )

    def _list_offsets(self, spec: OffsetSpec, deadline: float) -> dict[int, int]:
        admin = self._require(self._admin)
        wanted = {TopicPartition(self.topic, p): spec for p in self.partitions}
        while True:
            remaining = self._remaining(deadline)
            try:
                futures = admin.list_offsets(wanted, request_timeout=remaining)
                return {tp.partition: int(f.result(timeout=remaining).offset) for tp, f in futures.items()}
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if not err.retriable() or time.monotonic() + 0.05 >= deadline:
                    raise ConnectException(f"cannot read the offsets of {self.topic}: {err.str()}") from exc
                time.sleep(0.05)
            except TimeoutError as exc:
                raise LogTimeoutError(f"{self.topic}: listing offsets timed out") from exc

    def _run(self) -> None:
        consumer = self._require(self._consumer)
        positions = [TopicPartition(self.topic, p) for p in self.partitions]
        try:
            while not self._stopping.is_set():
                # consume(n, timeout) waits for n messages or the timeout: poll for the first one,
                # then take what is already fetched without waiting.
                messages = consumer.consume(_CHUNK, 0)
                if not messages:
                    first = consumer.poll(_POLL_SECONDS)
                    if first is not None:
                        messages = [first, *consumer.consume(_CHUNK - 1, 0)]
                reached: dict[int, int] = {}
                for msg in messages:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("log %s: consumer error %s", self.topic, err.str())
                        continue
                    partition, offset = msg.partition(), msg.offset()
                    try:
                        self._on_record(partition, offset, msg.key(), msg.value())
                    except Exception:
                        log.exception("log %s: handling record %d@%d failed", self.topic, partition, offset)
                    reached[partition] = offset + 1
                    self._records_read += 1
                if not messages:  # idle: skip over gaps (compacted-away or control records)
                    for tp in consumer.position(positions):
                        if tp.offset >= 0:
                            reached[tp.partition] = tp.offset
                if reached:
                    with self._cond:
                        for partition, offset in reached.items():
                            if offset > self._progress.get(partition, 0):
                                self._progress[partition] = offset
                        self._cond.notify_all()
                producer = self._producer
                if producer is not None:
                    producer.poll(0)  # delivery reports of async sends
        except BaseException as exc:  # reported to every reader
            log.exception("log %s: consumer thread failed", self.topic)
            with self._cond:
                self._failure = exc
                self._cond.notify_all()
