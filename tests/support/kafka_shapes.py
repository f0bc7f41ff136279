"""Kafka Connect's REST entity shapes that several tests check (from Kafka's ``runtime.rest.entities``)."""

from __future__ import annotations

# ConfigKeyInfo's JSON fields in the order Jackson writes them: the constructor's @JsonProperty order,
# with ``order`` (the getter orderInGroup() annotated @JsonProperty("order")) last.
CONFIG_KEY_INFO_FIELDS = [
    "name",
    "type",
    "required",
    "default_value",
    "importance",
    "documentation",
    "group",
    "width",
    "display_name",
    "dependents",
    "order",
]
