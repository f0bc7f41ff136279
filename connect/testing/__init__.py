"""Test kit for Headrace plugin authors (requires pytest).

One line of configuration gives a connector or task the standard conformance checks::

    from connect.testing import ConnectorTests, SourceTaskTests

    class TestCounterConnector(ConnectorTests):
        connector_class = CounterSourceConnector
        config = {"topic": "numbers"}

    class TestCounterTask(SourceTaskTests):
        task_class = CounterSourceTask
        config = {"topic": "numbers", "interval.ms": "0"}

For your own tests: in-memory fakes of what the runtime hands a plugin
(:class:`FakeSourceTaskContext` over an :class:`InMemoryOffsetStorageReader`,
:class:`FakeSinkTaskContext` recording pause/resume/offset/timeout/commit requests, connector
contexts, an errant record reporter) and helpers (:func:`poll_until`, :func:`sink_records`,
:func:`check_source_records`, :func:`check_committable`, :func:`call_with_timeout`).
"""

from connect.testing._fakes import (
    FakeErrantRecordReporter,
    FakeSinkConnectorContext,
    FakeSinkTaskContext,
    FakeSourceConnectorContext,
    FakeSourceTaskContext,
    InMemoryOffsetStorageReader,
    SinkContextCall,
)
from connect.testing._helpers import (
    call_with_timeout,
    check_committable,
    check_source_records,
    poll_until,
    sink_records,
)
from connect.testing._suites import ConnectorTests, SinkTaskTests, SourceTaskTests

__all__ = [
    "ConnectorTests",
    "FakeErrantRecordReporter",
    "FakeSinkConnectorContext",
    "FakeSinkTaskContext",
    "FakeSourceConnectorContext",
    "FakeSourceTaskContext",
    "InMemoryOffsetStorageReader",
    "SinkContextCall",
    "SinkTaskTests",
    "SourceTaskTests",
    "call_with_timeout",
    "check_committable",
    "check_source_records",
    "poll_until",
    "sink_records",
]
