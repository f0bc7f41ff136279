"""A misspelled ``connector.class`` gets Kafka's "Failed to find any class" message listing connectors only
(not transforms, converters, predicates), with the closest accepted name as "did you mean"."""

from __future__ import annotations

import pytest

from connect.runtime.plugins import PluginNotFoundError, PluginRegistry, discover


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return discover([])


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("PostgresSorce", "PostgresSource"),
        ("postgressource", "PostgresSource"),
        ("FileStreamSink2", "FileStreamSink"),
        (
            "io.debezium.connector.postgresql.PostgresConector",
            "io.debezium.connector.postgresql.PostgresConnector",
        ),
    ],
)
def test_connector_typo_suggests_the_connector(registry: PluginRegistry, typed: str, meant: str) -> None:
    with pytest.raises(PluginNotFoundError) as info:
        registry.lookup(typed, ("source", "sink"))
    message = str(info.value)
    assert message.startswith(
        f"Failed to find any class that implements Connector and which name matches {typed}."
    )
    assert f"Did you mean '{meant}'?" in message
    listed = message.split("Available connectors: ", 1)[1].split(", ")
    assert "PostgresSource" in listed and "ParquetSink" in listed
    for not_a_connector in ("JsonConverter", "InsertFieldValue", "RegexRouter", "TopicNameMatches"):
        assert not_a_connector not in message


def test_nothing_close_means_no_suggestion(registry: PluginRegistry) -> None:
    with pytest.raises(PluginNotFoundError) as info:
        registry.lookup("zzzz", ("source", "sink"))
    assert "Did you mean" not in str(info.value)


def test_transform_typo_lists_transforms(registry: PluginRegistry) -> None:
    with pytest.raises(PluginNotFoundError) as info:
        registry.lookup("InsertFeldValue", ("transformation",))
    message = str(info.value)
    assert "Did you mean 'InsertFieldValue'?" in message
    assert "RegexRouter" in message and "PostgresSource" not in message
