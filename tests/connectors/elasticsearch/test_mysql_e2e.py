"""MySQL -> MySqlSource -> the included broker -> ElasticsearchSink -> search, in one real ``headrace
standalone`` worker running the example pair examples/connectors/mysql-source.json and search-sink.json
(pointed at a throwaway MariaDB and noida-db): rows inserted, updated and deleted in MariaDB are found,
changed and gone in search results; the commit-to-searchable time is printed."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from connect.runtime.config_files import load_connector_file
from tests.connectors.elasticsearch.helpers import docs, wait_for
from tests.support.brokers import BrokerUnderTest
from tests.support.connect import start_connect_worker, write_connector_file
from tests.support.mariadb import MariaDbServer
from tests.support.noida import EsServer

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "connectors"


def test_mysql_rows_are_found_changed_and_gone_in_search(
    broker: BrokerUnderTest, tmp_path: Path, mariadb_server: MariaDbServer, elasticsearch_server: EsServer
) -> None:
    my, es = mariadb_server, elasticsearch_server
    with my.database("shop") as db:
        my.execute(
            "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, city VARCHAR(40))",
            "INSERT INTO customers VALUES (1, 'Ada', 'London'), (2, 'Linus', 'Helsinki')",
            database=db,
        )
        prefix = f"shop{uuid.uuid4().hex[:6]}"
        source = load_connector_file(EXAMPLES / "mysql-source.json")
        source.update(
            {
                **my.connector_config(),
                "topic.prefix": prefix,
                "database.include.list": db,
                "table.include.list": f"{db}.customers",
                "database.server.id": str(5400 + uuid.uuid4().int % 500),
                "poll.interval.ms": "50",
                "schema.history.internal.kafka.bootstrap.servers": broker.bootstrap,
                "schema.history.internal.kafka.topic": f"history.{prefix}",
            }
        )
        sink = load_connector_file(EXAMPLES / "search-sink.json")
        topic = f"{prefix}.{db}.customers"
        sink.update(
            {
                "topics.regex": topic.replace(".", "\\."),
                "connection.url": es.url,
                "errors.deadletterqueue.topic.name": f"{prefix}-dlq",
            }
        )
        sink.pop("name", None)
        source.pop("name", None)
        files = [
            write_connector_file(tmp_path / "mysql.json", "mysql", source),
            write_connector_file(tmp_path / "search.json", "search", sink),
        ]
        props = {"offset.flush.interval.ms": "60000"}
        worker = start_connect_worker(broker.bootstrap, tmp_path / "w", props=props, connector_files=files)
        index = topic.lower()
        try:

            def snapshot_indexed() -> bool:
                try:
                    return set(docs(es, index)) == {"1", "2"}
                except Exception:
                    return False

            wait_for(snapshot_indexed, 60, "the snapshot in the index")
            assert docs(es, index)["1"]["name"] == "Ada"
            latencies = []
            for i in range(20):
                t0 = time.perf_counter()
                my.execute(f"UPDATE customers SET city = 'c{i}' WHERE id = 1", database=db)
                wait_for(lambda i=i: docs(es, index).get("1", {}).get("city") == f"c{i}", 30, f"update {i}")
                latencies.append(time.perf_counter() - t0)
            my.execute("INSERT INTO customers VALUES (3, 'Grace', 'Arlington')", database=db)
            my.execute("DELETE FROM customers WHERE id = 2", database=db)
            wait_for(lambda: set(docs(es, index)) == {"1", "3"}, 30, "the insert and the delete")
            client = es.client()
            client.indices.refresh(index=index)
            hits = client.search(index=index, query={"match": {"name": "Grace"}})["hits"]["hits"]
            client.close()
            assert [h["_id"] for h in hits] == ["3"]
            latencies.sort()
            print(
                f"mysql->search commit-to-searchable (incl. polling the index every 0.1 s): "
                f"p50={latencies[len(latencies) // 2] * 1000:.0f} ms max={latencies[-1] * 1000:.0f} ms "
                f"(n={len(latencies)})"
            )
        finally:
            worker.close()
