"""Kafka API handlers. Importing this package registers every handler in :data:`API_TABLE`."""

from broker.apis import admin, api_versions, fetch, groups, list_offsets, metadata, produce, producers, topics
from broker.apis.kafka_apis import KafkaApis, RequestContext
from broker.apis.registry import API_TABLE

__all__ = [
    "API_TABLE",
    "KafkaApis",
    "RequestContext",
    "admin",
    "api_versions",
    "fetch",
    "groups",
    "list_offsets",
    "metadata",
    "produce",
    "producers",
    "topics",
]
