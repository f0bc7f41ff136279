"""Transactions are not supported yet: a transactional producer must fail fast, with a clear message.

Until the broker has a transaction coordinator, ``init_transactions()`` of real clients must fail at
once (not time out after retrying), name the reason, and the broker must say so in one log line per
transactional id; idempotent producers and consumer groups keep working (test_idempotence, test_groups).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from kio.schema.errors import ErrorCode

from broker.transactions import LOG_INTERVAL_S, MESSAGE, TransactionRefusals
from tests.support.brokers import BrokerUnderTest, log_since, log_size
from tests.support.kafkawire import WireConnection

pytestmark = pytest.mark.headrace_only

FAIL_FAST_S = 2.0
LOG_LINE = "transactions are not supported yet"


def _wait_for_log(broker: BrokerUnderTest, since: int, needle: str, timeout: float = 5.0) -> str:
    assert broker.server is not None
    deadline = time.monotonic() + timeout
    while True:
        text = log_since(broker.server, since)
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_confluent_init_transactions_fails_fast_with_a_clear_message(broker: BrokerUnderTest) -> None:
    assert broker.server is not None
    since = log_size(broker.server)
    txn_id = f"txn-{time.monotonic_ns()}"
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": txn_id})
    started = time.monotonic()
    with pytest.raises(KafkaException) as info:
        producer.init_transactions(15)
    elapsed = time.monotonic() - started
    err = info.value.args[0]
    assert isinstance(err, KafkaError)
    assert elapsed < FAIL_FAST_S, f"init_transactions took {elapsed:.1f}s to fail: {err}"
    assert err.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, err
    assert err.fatal() and not err.retriable(), err
    assert "Transactions are not supported by this broker" in err.str(), err.str()
    assert "transactional.id" in err.str(), err.str()
    text = _wait_for_log(broker, since, txn_id)
    lines = [line for line in text.splitlines() if LOG_LINE in line and txn_id in line]
    assert len(lines) == 1, text


def test_kafka_python_init_transactions_fails_fast(broker: BrokerUnderTest) -> None:
    from kafka import KafkaProducer
    from kafka.errors import TransactionalIdAuthorizationFailedError

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="kafka-python-txn")
    try:
        started = time.monotonic()
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            producer.init_transactions()
        assert time.monotonic() - started < FAIL_FAST_S
    finally:
        producer.close(timeout=2)


@pytest.mark.parametrize("version", [1, 3, 4])
def test_find_coordinator_for_a_transactional_id_is_refused(broker: BrokerUnderTest, version: int) -> None:
    """Every FindCoordinator version with key type 1 answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED with
    the reason (v4: per key); group lookups in the same request shape are unaffected."""
    from kio.index import load_request_schema

    cls = load_request_schema(10, version)
    with WireConnection(broker.host, broker.port) as conn:
        for key_type, key in ((1, "a-txn"), (0, "a-group")):
            if version >= 4:
                resp = conn.request(10, version, cls(key_type=key_type, coordinator_keys=(key,)))
                (answer,) = resp.coordinators
            else:
                answer = conn.request(10, version, cls(key=key, key_type=key_type))
            if key_type == 1:
                assert answer.error_code == ErrorCode.transactional_id_authorization_failed, answer
                assert "not supported" in (answer.error_message or ""), answer
                assert answer.node_id == -1, answer
            else:
                assert answer.error_code == ErrorCode.none, answer
                assert answer.port == broker.port, answer


def test_init_producer_id_with_a_transactional_id_is_refused(broker: BrokerUnderTest) -> None:
    from kio.schema.init_producer_id.v4.request import InitProducerIdRequest

    with WireConnection(broker.host, broker.port) as conn:
        resp = conn.request(
            22,
            4,
            InitProducerIdRequest(
                transactional_id="a-txn",
                transaction_timeout=timedelta(seconds=60),
                producer_id=-1,
                producer_epoch=-1,
            ),
        )
    assert resp.error_code == ErrorCode.transactional_id_authorization_failed, resp
    assert resp.producer_id == -1, resp


def test_refusals_log_one_line_per_transactional_id_and_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    refusals = TransactionRefusals(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="broker.transactions"):
        for _ in range(3):
            assert refusals.refuse("t1", "FindCoordinator", "app", "127.0.0.1:1") == MESSAGE
        refusals.refuse("t2", "InitProducerId", None, "127.0.0.1:2")
        now[0] += LOG_INTERVAL_S
        refusals.refuse("t1", "FindCoordinator", "app", "127.0.0.1:1")
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3, logged
    assert all(LOG_LINE in m for m in logged), logged
    assert "'t1'" in logged[0] and "'t2'" in logged[1] and "'t1'" in logged[2], logged
