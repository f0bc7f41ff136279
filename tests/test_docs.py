"""docs/REFERENCE.md is generated from the ConfigDef declarations and must not rot."""

from __future__ import annotations

from pathlib import Path

from connect.docs import render_reference

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "REFERENCE.md"


def test_reference_is_current() -> None:
    assert REFERENCE.read_text() == render_reference(), (
        "docs/REFERENCE.md is stale: regenerate it with `python -m connect.docs > docs/REFERENCE.md`"
    )


def test_reference_covers_built_ins() -> None:
    text = REFERENCE.read_text()
    for name in (
        "FileStreamSourceConnector",
        "FileStreamSinkConnector",
        "JsonConverter",
        "ExtractNewRecordState",
        "offset.flush.interval.ms",
        "errors.deadletterqueue.topic.name",
    ):
        assert name in text, name
