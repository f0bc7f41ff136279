"""Built-in single message transformations (SMTs) and predicates.

Apache Kafka's ``org.apache.kafka.connect.transforms.*`` with the same configuration keys and
semantics, for Struct values with a schema and for schemaless dict values, plus Debezium's
``ExtractNewRecordState``. Kafka's ``X$Key`` / ``X$Value`` pairs are the classes ``XKey`` / ``XValue``;
each class answers to its Kafka names (``InsertField$Value`` and
``org.apache.kafka.connect.transforms.InsertField$Value``) in ``transforms.<alias>.type``.

They register like any third-party plugin: through the ``headrace.plugins`` entry points in
Headrace's ``pyproject.toml``. Derived schemas are cached per input schema, so ``apply()`` does no
schema work for a schema it has seen; bad input raises :class:`~connect.api.errors.DataException`.
"""

from connect.transforms.cast import CastKey, CastValue
from connect.transforms.debezium import ExtractNewRecordState
from connect.transforms.extract_field import ExtractFieldKey, ExtractFieldValue
from connect.transforms.flatten import FlattenKey, FlattenValue
from connect.transforms.headers import DropHeaders, HeaderFromKey, HeaderFromValue, InsertHeader
from connect.transforms.hoist_field import HoistFieldKey, HoistFieldValue
from connect.transforms.insert_field import InsertFieldKey, InsertFieldValue
from connect.transforms.mask_field import MaskFieldKey, MaskFieldValue
from connect.transforms.predicates import Filter, HasHeaderKey, RecordIsTombstone, TopicNameMatches
from connect.transforms.replace_field import ReplaceFieldKey, ReplaceFieldValue
from connect.transforms.routers import RegexRouter, TimestampRouter
from connect.transforms.set_schema_metadata import SetSchemaMetadataKey, SetSchemaMetadataValue
from connect.transforms.timestamp_converter import TimestampConverterKey, TimestampConverterValue
from connect.transforms.value_to_key import ValueToKey

__all__ = [
    "CastKey",
    "CastValue",
    "DropHeaders",
    "ExtractFieldKey",
    "ExtractFieldValue",
    "ExtractNewRecordState",
    "Filter",
    "FlattenKey",
    "FlattenValue",
    "HasHeaderKey",
    "HeaderFromKey",
    "HeaderFromValue",
    "HoistFieldKey",
    "HoistFieldValue",
    "InsertFieldKey",
    "InsertFieldValue",
    "InsertHeader",
    "MaskFieldKey",
    "MaskFieldValue",
    "RecordIsTombstone",
    "RegexRouter",
    "ReplaceFieldKey",
    "ReplaceFieldValue",
    "SetSchemaMetadataKey",
    "SetSchemaMetadataValue",
    "TimestampConverterKey",
    "TimestampConverterValue",
    "TimestampRouter",
    "TopicNameMatches",
    "ValueToKey",
]
