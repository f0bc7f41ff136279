"""ElasticsearchSink: topics into Elasticsearch indices (or data streams) with the bulk API.

See :mod:`connectors.elasticsearch.config` for the configuration (Confluent's names),
:mod:`connectors.elasticsearch.convert` for documents, ids and external versions (Debezium source
positions), :mod:`connectors.elasticsearch.client` for per-item outcomes and retries, and
:mod:`connectors.elasticsearch.task` for pipelining and offsets.
"""

from connectors.elasticsearch.connector import ElasticsearchSink
from connectors.elasticsearch.task import VERSION, ElasticsearchSinkTask

__all__ = ["VERSION", "ElasticsearchSink", "ElasticsearchSinkTask"]
