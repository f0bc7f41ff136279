"""The standard plugin checks of connect.testing for ElasticsearchSink and its task (against noida-db),
and ``validate``: it tries the connection, so a bad URL is a per-field error (REST: 400)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connect.testing import ConnectorTests, SinkTaskTests
from connectors.elasticsearch import ElasticsearchSink, ElasticsearchSinkTask
from tests.support.noida import EsServer
from tests.support.servers import free_port


@pytest.fixture(autouse=True)
def _es_url(elasticsearch_server: EsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADRACE_ES_TEST_URL", elasticsearch_server.url)


def _url() -> str:
    import os

    return os.environ["HEADRACE_ES_TEST_URL"]


class TestElasticsearchSinkTask(SinkTaskTests):
    task_class = ElasticsearchSinkTask
    topic = "headrace-conformance"

    def task_config(self, tmp_path: Path) -> dict[str, str]:
        return {"topics": self.topic, "connection.url": _url(), "key.ignore": "true", "schema.ignore": "true"}

    def make_records(self, tp: Any, start_offset: int, count: int) -> list[Any]:
        from connect.api import SinkRecord

        return [
            SinkRecord(tp.topic, tp.partition, None, None, None, {"v": f"record-{o}"}, o)
            for o in range(start_offset, start_offset + count)
        ]

    def read_back(self, tmp_path: Path, config: dict[str, str]) -> list[Any] | None:
        from elasticsearch import Elasticsearch

        client = Elasticsearch(_url())
        try:
            if not client.indices.exists(index=self.topic):
                return []
            client.indices.refresh(index=self.topic)
            hits = client.search(index=self.topic, size=10000)["hits"]["hits"]
            return [h["_source"] for h in hits]
        finally:
            client.close()


class TestElasticsearchSinkConnector(ConnectorTests):
    connector_class = ElasticsearchSink

    def connector_config(self, tmp_path: Path) -> dict[str, str]:
        return {"topics": "t", "connection.url": _url()}


def _errors(config: dict[str, str]) -> dict[str, list[str]]:
    result = ElasticsearchSink().validate(config)
    return {v.name: v.error_messages for v in result.config_values if v.error_messages}


def test_validate_reports_an_unreachable_url_on_connection_url() -> None:
    errors = _errors({"topics": "t", "connection.url": f"http://127.0.0.1:{free_port()}"})
    assert list(errors) == ["connection.url"]
    assert "cannot reach Elasticsearch" in errors["connection.url"][0]


def test_validate_rejects_bad_urls_and_half_credentials() -> None:
    assert "connection.url" in _errors({"topics": "t", "connection.url": "ftp://x"})
    errors = _errors({"topics": "t", "connection.url": _url(), "connection.username": "elastic"})
    assert "connection.password" in errors


def test_validate_accepts_the_running_server() -> None:
    assert _errors({"topics": "t", "connection.url": _url()}) == {}
