"""Generic Kafka message codec over ``kio`` (classes generated from Kafka's own message specs).

Used for the control plane (ApiVersions, Metadata, admin and group APIs). The hot paths
(Produce decode, Fetch encode) are hand-written in :mod:`broker.protocol.produce` and
:mod:`broker.protocol.fetch` because kio copies record blobs.

Handlers build responses as plain dicts holding a *superset* of the fields of all versions;
:func:`build` keeps the fields the negotiated version has and converts values to kio's types
(``ErrorCode``, ``timedelta``, ``UUID``, nested entities). Unknown keys are ignored, missing
keys take the schema default. All functions here are pure and thread-safe.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

__all__ = ["ProtocolError", "build", "decode_request_body", "encode_response_body", "request_class"]


class ProtocolError(Exception):
    """A request that cannot be decoded; the connection that sent it is closed."""


@cache
def request_class(api_key: int, version: int) -> Any:
    """The kio request class for ``(api_key, version)``, or None if kio has no such schema."""
    try:
        return load_request_schema(api_key, version)
    except Exception:
        return None


@cache
def response_class(api_key: int, version: int) -> Any:
    return load_response_schema(api_key, version)


@cache
def _reader(cls: Any) -> Callable[[Any, int], tuple[Any, int]]:
    return entity_reader(cls)  # type: ignore[return-value]


@cache
def _writer(cls: Any) -> Callable[[Any, Any], None]:
    return entity_writer(cls)  # type: ignore[return-value]


def decode_request_body(api_key: int, version: int, buf: memoryview, offset: int) -> Any:
    """Decode the body of a request whose header ended at ``offset``.

    Raises :class:`ProtocolError` for any malformed input (including kio's KeyError on unknown
    tagged fields, which Kafka says to ignore but kio rejects).
    """
    cls = request_class(api_key, version)
    if cls is None:
        raise ProtocolError(f"no schema for api_key={api_key} version={version}")
    try:
        entity, _size = _reader(cls)(buf, offset)
    except Exception as exc:  # kio raises several types on garbage
        raise ProtocolError(
            f"cannot decode api_key={api_key} v{version}: {type(exc).__name__}: {exc}"
        ) from None
    _reject_nulls(entity)
    return entity


@cache
def _non_nullable(cls: Any) -> tuple[tuple[str, bool], ...]:
    """Fields that must not be null: (name, holds nested entities)."""
    out = []
    for f in dataclasses.fields(cls):
        origin = typing.get_origin(f.type)
        nullable = origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(f.type)
        if not nullable and (
            origin is tuple
            or _entity_arg(f.type) is not None
            or (isinstance(f.type, type) and issubclass(f.type, (str, bytes)))
        ):
            out.append((f.name, _entity_arg(f.type) is not None))
    return tuple(out)


def _reject_nulls(entity: Any) -> None:
    """kio decodes a -1 length as None even where the schema forbids null; such a request is malformed."""
    for name, nested in _non_nullable(entity.__class__):
        value = getattr(entity, name)
        if value is None:
            raise ProtocolError(f"{type(entity).__name__}.{name} must not be null")
        if nested:
            for item in value if isinstance(value, tuple) else (value,):
                _reject_nulls(item)


def encode_response_body(api_key: int, version: int, data: Mapping[str, Any]) -> bytes:
    """Encode a response body (without the response header) from a plain dict."""
    cls = response_class(api_key, version)
    out = io.BytesIO()
    _writer(cls)(out, build(cls, data))
    return out.getvalue()


_Converter = Callable[[Any], Any]


def _ms(v: Any) -> datetime.timedelta:
    return v if isinstance(v, datetime.timedelta) else datetime.timedelta(milliseconds=int(v))


def _uuid(v: Any) -> uuid.UUID | None:
    if v is None or isinstance(v, uuid.UUID):
        return v
    return uuid.UUID(str(v))


def _error(v: Any) -> ErrorCode:
    return v if isinstance(v, ErrorCode) else ErrorCode(int(v))


def _datetime(v: Any) -> datetime.datetime:
    if isinstance(v, datetime.datetime):
        return v
    return datetime.datetime.fromtimestamp(int(v) / 1000, tz=datetime.UTC)


_SCALAR_CONVERTERS: dict[str, _Converter] = {
    "error_code": _error,
    "timedelta_i32": _ms,
    "timedelta_i64": _ms,
    "uuid": _uuid,
    "datetime_i64": _datetime,
}


def _is_tuple(tp: Any) -> bool:
    """``tuple[...]`` or ``tuple[...] | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(a) for a in typing.get_args(tp) if a is not type(None))
    return origin is tuple


def _entity_arg(tp: Any) -> type[Any] | None:
    """If ``tp`` is an entity, ``tuple[Entity, ...]`` or ``Entity | None``, return the entity class."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        return _entity_arg(args[0]) if args else None
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            if a is not type(None):
                return _entity_arg(a)
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    return None


@cache
def _plan(cls: Any) -> tuple[tuple[str, _Converter | None, type[Any] | None, bool], ...]:
    """For each field: (name, scalar converter, nested entity class, is-array)."""
    plan = []
    for f in dataclasses.fields(cls):
        kafka_type = f.metadata.get("kafka_type")
        nested = _entity_arg(f.type)
        is_array = _is_tuple(f.type)
        conv = _SCALAR_CONVERTERS.get(kafka_type) if kafka_type else None
        plan.append((f.name, conv, nested, is_array))
    return tuple(plan)


def build(cls: Any, data: Mapping[str, Any] | Any) -> Any:
    """Build a kio entity of ``cls`` from a dict (or an entity of another version)."""
    if not isinstance(data, Mapping):
        if isinstance(data, cls):
            return data
        data = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    kwargs: dict[str, Any] = {}
    for name, conv, nested, is_array in _plan(cls):
        if name not in data:
            continue
        value = data[name]
        if value is None:
            kwargs[name] = None
        elif nested is not None:
            kwargs[name] = tuple(build(nested, v) for v in value) if is_array else build(nested, value)
        elif conv is not None:
            kwargs[name] = tuple(conv(v) for v in value) if is_array else conv(value)
        elif is_array:
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"building {cls.__module__}.{cls.__qualname__}: {exc}") from None
