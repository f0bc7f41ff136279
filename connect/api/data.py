"""Kafka Connect's data model: schemas, structs and logical types (``org.apache.kafka.connect.data``).

A :class:`Schema` describes a value; :class:`SchemaBuilder` builds one fluently::

    VALUE = (
        SchemaBuilder.struct().name("shop.orders.Value")
        .field("id", Schema.INT64_SCHEMA)
        .field("note", Schema.OPTIONAL_STRING_SCHEMA)
        .field("amount", Decimal.schema(2))
        .build()
    )
    row = Struct(VALUE).put("id", 42).put("amount", decimal.Decimal("9.99"))

Python representation of each schema type (what :meth:`ConnectSchema.validate_value` accepts):

=============  =====================================================================
INT8..INT64    ``int`` (not ``bool``) within the type's two's-complement range
FLOAT32/64     ``float`` (an ``int`` is accepted and written as a float)
BOOLEAN        ``bool``
STRING         ``str``
BYTES          ``bytes`` (``bytearray`` and ``memoryview`` are accepted)
ARRAY          ``list`` (or ``tuple``) of values of ``value_schema``
MAP            ``dict`` from ``key_schema`` values to ``value_schema`` values
STRUCT         :class:`Struct` whose schema equals the schema
Decimal        :class:`decimal.Decimal` (logical type over BYTES, ``scale`` parameter)
Date           :class:`datetime.date` (not a ``datetime``), days since the epoch as INT32
Time           :class:`datetime.time`, milliseconds since midnight as INT32
Timestamp      :class:`datetime.datetime`, milliseconds since the epoch as INT64 (naive = UTC)
=============  =====================================================================

Schemas are immutable and hashable; a :class:`Struct` validates each value when it is put, and checks
that required fields are set in :meth:`Struct.validate` (as converters do when they serialize it).
"""

from __future__ import annotations

import builtins
import datetime as _dt
import decimal as _decimal
import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Final

from connect.api.errors import DataException, SchemaBuilderException

__all__ = [
    "ConnectSchema",
    "Date",
    "Decimal",
    "Field",
    "Schema",
    "SchemaAndValue",
    "SchemaBuilder",
    "Struct",
    "Time",
    "Timestamp",
    "Type",
]


class Type(enum.Enum):
    """The type of a :class:`Schema`; ``value`` is Kafka's lower-case name (``"int8"`` … ``"struct"``)."""

    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"

    @property
    def is_primitive(self) -> bool:
        """True for every type but ARRAY, MAP and STRUCT."""
        return self not in _COMPLEX


_SchemaType = Type
_COMPLEX: Final = frozenset({Type.ARRAY, Type.MAP, Type.STRUCT})

_INT_RANGES: Final[dict[Type, tuple[int, int]]] = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}

_DECIMAL_NAME: Final = "org.apache.kafka.connect.data.Decimal"
_DATE_NAME: Final = "org.apache.kafka.connect.data.Date"
_TIME_NAME: Final = "org.apache.kafka.connect.data.Time"
_TIMESTAMP_NAME: Final = "org.apache.kafka.connect.data.Timestamp"


class Field:
    """One field of a STRUCT schema: its ``name``, position ``index`` and ``schema``."""

    __slots__ = ("index", "name", "schema")

    name: str
    index: int
    schema: Schema

    def __init__(self, name: str, index: int, schema: Schema) -> None:
        self.name = name
        self.index = index
        self.schema = schema

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return self.name == other.name and self.index == other.index and self.schema == other.schema

    def __hash__(self) -> int:
        return hash((self.name, self.index, self.schema))

    def __repr__(self) -> str:
        return f"Field{{name={self.name}, index={self.index}, schema={self.schema!r}}}"


Checker = Callable[[Any, str], None]


class Schema:
    """An immutable, hashable schema (Kafka's ``Schema`` interface and ``ConnectSchema`` in one).

    Attributes: ``type``, ``optional``, ``default_value``, ``name``, ``version``, ``doc``,
    ``parameters`` (``dict[str, str]`` or None), ``key_schema`` (MAP), ``value_schema`` (ARRAY, MAP) and
    :attr:`fields` (STRUCT). Build one with :class:`SchemaBuilder`; the predefined ``Schema.*_SCHEMA``
    and ``Schema.OPTIONAL_*_SCHEMA`` constants cover the primitive types.
    """

    __slots__ = (
        "_builder",
        "_checker",
        "_complete",
        "_field_checkers",
        "_field_map",
        "_fields",
        "_hash",
        "_template",
        "default_value",
        "doc",
        "key_schema",
        "name",
        "optional",
        "parameters",
        "type",
        "value_schema",
        "version",
    )

    Type: ClassVar[builtins.type[Type]] = Type

    INT8_SCHEMA: ClassVar[Schema]
    INT16_SCHEMA: ClassVar[Schema]
    INT32_SCHEMA: ClassVar[Schema]
    INT64_SCHEMA: ClassVar[Schema]
    FLOAT32_SCHEMA: ClassVar[Schema]
    FLOAT64_SCHEMA: ClassVar[Schema]
    BOOLEAN_SCHEMA: ClassVar[Schema]
    STRING_SCHEMA: ClassVar[Schema]
    BYTES_SCHEMA: ClassVar[Schema]
    OPTIONAL_INT8_SCHEMA: ClassVar[Schema]
    OPTIONAL_INT16_SCHEMA: ClassVar[Schema]
    OPTIONAL_INT32_SCHEMA: ClassVar[Schema]
    OPTIONAL_INT64_SCHEMA: ClassVar[Schema]
    OPTIONAL_FLOAT32_SCHEMA: ClassVar[Schema]
    OPTIONAL_FLOAT64_SCHEMA: ClassVar[Schema]
    OPTIONAL_BOOLEAN_SCHEMA: ClassVar[Schema]
    OPTIONAL_STRING_SCHEMA: ClassVar[Schema]
    OPTIONAL_BYTES_SCHEMA: ClassVar[Schema]

    type: _SchemaType
    optional: bool
    default_value: Any
    name: str | None
    version: int | None
    doc: str | None
    parameters: dict[str, str] | None
    key_schema: Schema | None
    value_schema: Schema | None
    _fields: tuple[Field, ...]
    _field_map: dict[str, Field]
    _template: dict[str, Any]
    _hash: int
    _checker: Checker | None
    _field_checkers: dict[str, Checker] | None
    _builder: Callable[[Mapping[str, Any]], dict[str, Any]] | None
    _complete: Callable[[dict[str, Any]], bool] | None

    def __init__(
        self,
        type: _SchemaType,
        optional: bool = False,
        default_value: Any = None,
        name: str | None = None,
        version: int | None = None,
        doc: str | None = None,
        parameters: Mapping[str, str] | None = None,
        fields: Iterable[Field] | None = None,
        key_schema: Schema | None = None,
        value_schema: Schema | None = None,
    ) -> None:
        if not isinstance(type, Type):
            raise DataException(f"Invalid schema type: {type!r}")
        field_tuple = tuple(fields) if fields is not None else ()
        if type is Type.STRUCT:
            for i, f in enumerate(field_tuple):
                if f.index != i:
                    raise DataException(f"Field {f.name!r} has index {f.index}, expected {i}")
        elif field_tuple:
            raise DataException(f"Only STRUCT schemas have fields, not {type.name}")
        if type is Type.ARRAY and value_schema is None:
            raise DataException("ARRAY schema requires a value schema")
        if type is Type.MAP and (key_schema is None or value_schema is None):
            raise DataException("MAP schema requires a key schema and a value schema")
        if type not in (Type.ARRAY, Type.MAP) and value_schema is not None:
            raise DataException(f"{type.name} schema cannot have a value schema")
        if type is not Type.MAP and key_schema is not None:
            raise DataException(f"{type.name} schema cannot have a key schema")
        params = dict(parameters) if parameters is not None else None
        if params is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise DataException("Schema parameters must be strings")
        set_ = object.__setattr__
        set_(self, "type", type)
        set_(self, "optional", bool(optional))
        set_(self, "default_value", default_value)
        set_(self, "name", name)
        set_(self, "version", version)
        set_(self, "doc", doc)
        set_(self, "parameters", params)
        set_(self, "key_schema", key_schema)
        set_(self, "value_schema", value_schema)
        set_(self, "_fields", field_tuple)
        set_(self, "_field_map", {f.name: f for f in field_tuple})
        if len(self._field_map) != len(field_tuple):
            raise DataException("Duplicate field names in STRUCT schema")
        set_(self, "_template", dict.fromkeys(f.name for f in field_tuple))
        set_(self, "_checker", None)
        set_(self, "_field_checkers", None)
        set_(self, "_builder", None)
        set_(self, "_complete", None)
        set_(
            self,
            "_hash",
            hash(
                (
                    type,
                    self.optional,
                    name,
                    version,
                    doc,
                    tuple(params.items()) if params is not None else None,
                    field_tuple,
                    key_schema,
                    value_schema,
                )
            ),
        )
        if default_value is not None:
            try:
                _validate(self, default_value, "")
            except DataException as e:
                raise SchemaBuilderException(f"Invalid default value: {e}") from e

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Schema is immutable (cannot set {key!r})")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Schema is immutable (cannot delete {key!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            Schema,
            (
                self.type,
                self.optional,
                self.default_value,
                self.name,
                self.version,
                self.doc,
                self.parameters,
                self._fields,
                self.key_schema,
                self.value_schema,
            ),
        )

    @property
    def is_optional(self) -> bool:
        """Whether ``None`` is a valid value (Kafka's ``isOptional()``)."""
        return self.optional

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of a STRUCT schema, in order; DataException for any other type."""
        if self.type is not Type.STRUCT:
            raise DataException("Cannot list fields on non-struct type")
        return self._fields

    def field(self, name: str) -> Field | None:
        """The field called ``name``, or None; DataException if this is not a STRUCT schema."""
        if self.type is not Type.STRUCT:
            raise DataException("Cannot look up fields on non-struct type")
        return self._field_map.get(name)

    def validate(self, value: Any) -> None:
        """Raise :class:`DataException` unless ``value`` is valid for this schema."""
        _validate(self, value, "")

    @staticmethod
    def validate_value(schema: Schema, value: Any) -> None:
        """Raise :class:`DataException` (naming the path, e.g. ``after.tags[2]``) unless ``value`` is
        valid for ``schema`` (Kafka's ``ConnectSchema.validateValue``)."""
        _validate(schema, value, "")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Schema):
            return NotImplemented
        return (
            self._hash == other._hash
            and self.type is other.type
            and self.optional == other.optional
            and self.name == other.name
            and self.version == other.version
            and self.doc == other.doc
            and self.parameters == other.parameters
            and self._fields == other._fields
            and self.key_schema == other.key_schema
            and self.value_schema == other.value_schema
            and _values_equal(self.default_value, other.default_value)
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if self.name is not None:
            return f"Schema{{{self.name}:{self.type.name}}}"
        return f"Schema{{{self.type.name}}}"

    # --- internals used by Struct -------------------------------------------------------------------

    def value_checker(self) -> Checker:
        """``check(value, path)``: :meth:`validate` compiled for this schema (built once, cached), for
        converters that validate many values of one schema; raises :class:`DataException` naming
        ``path``."""
        checker = self._checker
        if checker is None:
            checker = _make_checker(self)
            object.__setattr__(self, "_checker", checker)
        return checker

    def _checkers(self) -> dict[str, Checker]:
        checkers = self._field_checkers
        if checkers is None:
            checkers = {f.name: f.schema.value_checker() for f in self._fields}
            object.__setattr__(self, "_field_checkers", checkers)
        return checkers

    def _struct_builder(self) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        builder = self._builder
        if builder is None:
            builder = _generate_builder(self)
            object.__setattr__(self, "_builder", builder)
        return builder

    def _completeness(self) -> Callable[[dict[str, Any]], bool]:
        complete = self._complete
        if complete is None:
            complete = _generate_complete(self)
            object.__setattr__(self, "_complete", complete)
        return complete


def _values_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - exotic values
        return False


ConnectSchema = Schema
"""Kafka's concrete schema class; in Headrace the same class as :class:`Schema`.

``ConnectSchema.validate_value(schema, value)`` raises :class:`DataException` (with the path of the
offending value, e.g. ``after.tags[2]``) unless ``value`` is valid for ``schema``.
"""


def _where(path: str) -> str:
    return f' for field: "{path}"' if path else ""


def _type_error(schema: Schema, value: Any, path: str, expected: str | None = None) -> DataException:
    what = (
        f'schema "{schema.name}" with type {schema.type.name}'
        if schema.name
        else f"schema with type {schema.type.name}"
    )
    exp = f" (expected {expected})" if expected else ""
    return DataException(
        f"Invalid Python object for {what}: {builtins.type(value).__name__}{exp}{_where(path)}"
    )


def _null_error(schema: Schema, path: str) -> DataException:
    return DataException(
        f'Invalid value: null used for required field: "{path}", schema type: {schema.type.name}'
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(schema: Schema, value: Any, path: str) -> None:
    if value is None:
        if schema.optional or schema.default_value is not None:
            return
        raise _null_error(schema, path)
    name = schema.name
    if name is not None and name in _LOGICAL_CHECKS:
        expected, check = _LOGICAL_CHECKS[name]
        if not check(value):
            raise _type_error(schema, value, path, expected)
        return
    t = schema.type
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        if not _is_int(value):
            raise _type_error(schema, value, path, "int")
        if not lo <= value <= hi:
            raise DataException(f"Value {value} out of range for {t.name}{_where(path)}")
    elif t is Type.FLOAT32 or t is Type.FLOAT64:
        if not (isinstance(value, float) or _is_int(value)):
            raise _type_error(schema, value, path, "float")
    elif t is Type.BOOLEAN:
        if not isinstance(value, bool):
            raise _type_error(schema, value, path, "bool")
    elif t is Type.STRING:
        if not isinstance(value, str):
            raise _type_error(schema, value, path, "str")
    elif t is Type.BYTES:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise _type_error(schema, value, path, "bytes")
    elif t is Type.ARRAY:
        if not isinstance(value, list | tuple):
            raise _type_error(schema, value, path, "list")
        vs = schema.value_schema
        assert vs is not None
        for i, elem in enumerate(value):
            _validate(vs, elem, f"{path}[{i}]")
    elif t is Type.MAP:
        if not isinstance(value, Mapping):
            raise _type_error(schema, value, path, "dict")
        ks, vs = schema.key_schema, schema.value_schema
        assert ks is not None and vs is not None
        for k, v in value.items():
            _validate(ks, k, f"{path}<key {k!r}>")
            _validate(vs, v, f"{path}[{k!r}]")
    elif t is Type.STRUCT:
        if not isinstance(value, Struct):
            raise _type_error(schema, value, path, "Struct")
        if value.schema != schema:
            raise DataException(f"Struct schemas do not match{_where(path)}")
        value._validate(path)


def _make_checker(schema: Schema) -> Checker:
    """A fast validator for one schema (used by :meth:`Struct.put` for every value)."""
    nullable = schema.optional or schema.default_value is not None
    t = schema.type
    plain = schema.name is None or schema.name not in _LOGICAL_CHECKS

    def null(path: str) -> None:
        if not nullable:
            raise _null_error(schema, path)

    if plain and t is Type.STRING:

        def check_str(value: Any, path: str) -> None:
            if value.__class__ is str:
                return
            if value is None:
                return null(path)
            _validate(schema, value, path)

        return check_str
    if plain and t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]

        def check_int(value: Any, path: str) -> None:
            if value.__class__ is int and lo <= value <= hi:
                return
            if value is None:
                return null(path)
            _validate(schema, value, path)

        return check_int
    if plain and t is Type.BOOLEAN:

        def check_bool(value: Any, path: str) -> None:
            if value is True or value is False:
                return
            if value is None:
                return null(path)
            _validate(schema, value, path)

        return check_bool
    if plain and (t is Type.FLOAT64 or t is Type.FLOAT32):

        def check_float(value: Any, path: str) -> None:
            if value.__class__ is float:
                return
            if value is None:
                return null(path)
            _validate(schema, value, path)

        return check_float

    if plain and t is Type.STRUCT:
        complete = schema._completeness()

        def check_struct(value: Any, path: str) -> None:
            if value.__class__ is Struct and value.schema is schema and complete(value.values):
                return
            _validate(schema, value, path)

        return check_struct

    def check_any(value: Any, path: str) -> None:
        _validate(schema, value, path)

    return check_any


_MISSING: Final[Any] = object()


def _fast_fail(schema: Schema, var: str, env: dict[str, Any], i: int) -> str:
    """A Python expression that is False when ``var`` certainly is a valid non-None value of ``schema``."""
    t = schema.type
    if schema.name is not None and schema.name in _LOGICAL_CHECKS:
        return "True"
    if t is Type.STRING:
        return f"{var}.__class__ is not str"
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        return f"{var}.__class__ is not int or not {lo} <= {var} <= {hi}"
    if t is Type.BOOLEAN:
        return f"({var} is not True and {var} is not False)"
    if t is Type.FLOAT64 or t is Type.FLOAT32:
        return f"{var}.__class__ is not float"
    if t is Type.STRUCT:
        env[f"S{i}"] = schema
        env[f"K{i}"] = schema._completeness()
        return f"{var}.__class__ is not Struct or {var}.schema is not S{i} or not K{i}({var}.values)"
    return "True"


def _generate_builder(schema: Schema) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Generate the validating constructor of a struct's values (straight-line code per field).

    A dict with exactly the schema's fields in order is checked value by value and copied; any other
    mapping is read field by field (missing fields stay unset) and checked for unknown names.
    """
    fields = schema._fields
    env: dict[str, Any] = {"M": _MISSING, "Struct": Struct, "NAMES": tuple(f.name for f in fields)}
    env["NAME_SET"] = frozenset(env["NAMES"])
    env["unknown"] = _unknown_fields
    exact: list[str] = []
    by_key: list[str] = []
    items = []
    for i, f in enumerate(fields):
        key = repr(f.name)
        env[f"C{i}"] = f.schema.value_checker()
        fail = _fast_fail(f.schema, f"x{i}", env, i)
        exact.append(f"        if {fail}: C{i}(x{i}, {key})")
        by_key += [
            f"    x{i} = g({key}, M)",
            f"    if {fail}:",
            f"        if x{i} is M: x{i} = None",
            f"        else: C{i}(x{i}, {key})",
        ]
        items.append(f"{key}: x{i}")
    lines = ["def build(d):", "    if d.__class__ is dict and tuple(d) == NAMES:"]
    if fields:
        lines.append("        " + ", ".join(f"x{i}" for i in range(len(fields))) + ", = d.values()")
    lines += exact
    lines += ["        return d.copy()", "    g = d.get"]
    lines += by_key
    lines += [
        "    if not NAME_SET.issuperset(d): unknown(d, NAME_SET)",
        "    return {" + ", ".join(items) + "}",
    ]
    exec("\n".join(lines), env)  # field names are embedded with repr()
    builder: Callable[[Mapping[str, Any]], dict[str, Any]] = env["build"]
    return builder


def _unknown_fields(d: Mapping[str, Any], names: frozenset[str]) -> None:
    bad = next(k for k in d if k not in names)
    raise DataException(f"{bad} is not a valid field name")


def _generate_complete(schema: Schema) -> Callable[[dict[str, Any]], bool]:
    """Generate a check that every required field of a struct (and of nested structs) is set."""
    env: dict[str, Any] = {}
    required = [
        repr(f.name) for f in schema._fields if not f.schema.optional and f.schema.default_value is None
    ]
    lines = ["def complete(v):"]
    if required:
        lines.append("    if " + " or ".join(f"v[{k}] is None" for k in required) + ": return False")
    for i, f in enumerate(schema._fields):
        if f.schema.type is Type.STRUCT:
            env[f"K{i}"] = f.schema._completeness()
            lines += [f"    x = v[{f.name!r}]", f"    if x is not None and not K{i}(x.values): return False"]
    lines.append("    return True")
    exec("\n".join(lines), env)  # field names are embedded with repr()
    complete: Callable[[dict[str, Any]], bool] = env["complete"]
    return complete


class SchemaBuilder:
    """Fluent builder for :class:`Schema` (Kafka's ``SchemaBuilder``).

    Start from a type factory (``int8()`` … ``float64()``, ``boolean()``, ``string()``, ``bytes()``,
    ``struct()``, ``array(value_schema)``, ``map(key_schema, value_schema)``), chain setters and finish
    with :meth:`build`. Each property can be set once (``SchemaBuilderException`` otherwise); a builder
    may be passed wherever a field/element schema is expected and is built on the spot.
    """

    __slots__ = (
        "_default",
        "_doc",
        "_fields",
        "_key_schema",
        "_name",
        "_optional",
        "_parameters",
        "_type",
        "_value_schema",
        "_version",
    )

    def __init__(self, type: Type) -> None:
        self._type = type
        self._optional: builtins.bool | None = None
        self._default: Any = None
        self._name: str | None = None
        self._version: int | None = None
        self._doc: str | None = None
        self._parameters: dict[str, str] | None = None
        self._fields: dict[str, Field] | None = {} if type is Type.STRUCT else None
        self._key_schema: Schema | None = None
        self._value_schema: Schema | None = None

    # --- factories ------------------------------------------------------------------------------------

    @staticmethod
    def int8() -> SchemaBuilder:
        return SchemaBuilder(Type.INT8)

    @staticmethod
    def int16() -> SchemaBuilder:
        return SchemaBuilder(Type.INT16)

    @staticmethod
    def int32() -> SchemaBuilder:
        return SchemaBuilder(Type.INT32)

    @staticmethod
    def int64() -> SchemaBuilder:
        return SchemaBuilder(Type.INT64)

    @staticmethod
    def float32() -> SchemaBuilder:
        return SchemaBuilder(Type.FLOAT32)

    @staticmethod
    def float64() -> SchemaBuilder:
        return SchemaBuilder(Type.FLOAT64)

    @staticmethod
    def boolean() -> SchemaBuilder:
        """A BOOLEAN schema (Kafka's ``SchemaBuilder.bool()``)."""
        return SchemaBuilder(Type.BOOLEAN)

    @staticmethod
    def string() -> SchemaBuilder:
        return SchemaBuilder(Type.STRING)

    @staticmethod
    def bytes() -> SchemaBuilder:
        return SchemaBuilder(Type.BYTES)

    @staticmethod
    def struct() -> SchemaBuilder:
        return SchemaBuilder(Type.STRUCT)

    @staticmethod
    def array(value_schema: Schema | SchemaBuilder) -> SchemaBuilder:
        if value_schema is None:
            raise SchemaBuilderException("valueSchema cannot be null.")
        b = SchemaBuilder(Type.ARRAY)
        b._value_schema = _as_schema(value_schema)
        return b

    @staticmethod
    def map(key_schema: Schema | SchemaBuilder, value_schema: Schema | SchemaBuilder) -> SchemaBuilder:
        if key_schema is None:
            raise SchemaBuilderException("keySchema cannot be null.")
        if value_schema is None:
            raise SchemaBuilderException("valueSchema cannot be null.")
        b = SchemaBuilder(Type.MAP)
        b._key_schema = _as_schema(key_schema)
        b._value_schema = _as_schema(value_schema)
        return b

    # --- setters --------------------------------------------------------------------------------------

    def _check_unset(self, what: str, current: Any) -> None:
        if current is not None:
            raise SchemaBuilderException(f"Invalid SchemaBuilder call: {what} has already been set.")

    def optional(self) -> SchemaBuilder:
        """Allow ``None`` values."""
        self._check_unset("optional", self._optional)
        self._optional = True
        return self

    def required(self) -> SchemaBuilder:
        """Disallow ``None`` values (the default)."""
        self._check_unset("optional", self._optional)
        self._optional = False
        return self

    def default_value(self, value: Any) -> SchemaBuilder:
        """The value used when a value is ``None`` (validated when the schema is built)."""
        self._check_unset("default", self._default)
        self._default = value
        return self

    def name(self, name: str) -> SchemaBuilder:
        self._check_unset("name", self._name)
        self._name = name
        return self

    def version(self, version: int) -> SchemaBuilder:
        self._check_unset("version", self._version)
        self._version = version
        return self

    def doc(self, doc: str) -> SchemaBuilder:
        self._check_unset("doc", self._doc)
        self._doc = doc
        return self

    def parameter(self, name: str, value: str) -> SchemaBuilder:
        """Add one schema parameter (insertion order is kept, as in Kafka)."""
        if self._parameters is None:
            self._parameters = {}
        self._parameters[name] = value
        return self

    def parameters(self, params: Mapping[str, str]) -> SchemaBuilder:
        if self._parameters is None:
            self._parameters = {}
        self._parameters.update(params)
        return self

    def field(self, name: str, schema: Schema | SchemaBuilder) -> SchemaBuilder:
        """Append a field to a STRUCT schema."""
        if self._fields is None:
            raise SchemaBuilderException(f"Cannot create fields on type {self._type.name}")
        if not name:
            raise SchemaBuilderException("fieldName cannot be null.")
        if schema is None:
            raise SchemaBuilderException(f"fieldSchema for field {name} cannot be null.")
        if name in self._fields:
            raise SchemaBuilderException(f"Cannot create field because of field name duplication {name}")
        self._fields[name] = Field(name, len(self._fields), _as_schema(schema))
        return self

    @property
    def type(self) -> Type:
        return self._type

    def build(self) -> Schema:
        """The immutable :class:`Schema`."""
        try:
            return Schema(
                self._type,
                optional=bool(self._optional),
                default_value=self._default,
                name=self._name,
                version=self._version,
                doc=self._doc,
                parameters=self._parameters,
                fields=self._fields.values() if self._fields is not None else None,
                key_schema=self._key_schema,
                value_schema=self._value_schema,
            )
        except SchemaBuilderException:
            raise
        except DataException as e:
            raise SchemaBuilderException(str(e)) from e


def _as_schema(schema: Schema | SchemaBuilder) -> Schema:
    if isinstance(schema, SchemaBuilder):
        return schema.build()
    if isinstance(schema, Schema):
        return schema
    raise SchemaBuilderException(f"Expected a Schema or SchemaBuilder, got {type(schema).__name__}")


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return frozenset((_hashable(k), _hashable(v)) for k, v in value.items())
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


class Struct:
    """A STRUCT value: field values by name, checked against the schema as they are put.

    ``Struct(schema)`` starts with every field unset (``None``); ``Struct(schema, {"id": 1, ...})``
    validates and sets several fields at once. :meth:`get` falls back to the field's default value;
    :meth:`validate` checks that every required field is set. ``struct["id"]`` and
    ``struct["id"] = 1`` are shorthands for :meth:`get` and :meth:`put`.
    """

    __slots__ = ("schema", "values")

    schema: Schema
    """The struct's schema (set once, by the constructor)."""
    values: dict[str, Any]
    """Every field's value as set (``None`` when unset), by name in schema order: the struct's own
    dict, for converters and sinks on per-record paths. Read it; change fields with :meth:`put` (a
    converter that has validated a whole dict itself may build a struct from it with
    ``s = object.__new__(Struct); s.schema = schema; s.values = checked``)."""

    def __init__(self, schema: Schema, values: Mapping[str, Any] | None = None) -> None:
        try:
            builder = schema._builder
        except AttributeError:
            raise DataException(f"Not a struct schema: {schema!r}") from None
        if builder is None:
            if schema.type is not Type.STRUCT:
                raise DataException(f"Not a struct schema: {schema!r}")
            builder = schema._struct_builder()
        self.schema = schema
        self.values = schema._template.copy() if values is None else builder(values)

    def _name(self, field: str | Field) -> str:
        if isinstance(field, Field):
            known = self.schema._field_map.get(field.name)
            if known is None or known != field:
                raise DataException(f"Field {field.name} is not part of this struct's schema")
            return field.name
        if field not in self.values:
            raise DataException(f"{field} is not a valid field name")
        return field

    def put(self, field: str | Field, value: Any) -> Struct:
        """Set a field (validated against its schema); returns ``self`` for chaining."""
        name = field if isinstance(field, str) else self._name(field)
        checkers = self.schema._field_checkers
        if checkers is None:
            checkers = self.schema._checkers()
        check = checkers.get(name)
        if check is None:
            raise DataException(f"{name} is not a valid field name")
        check(value, name)
        self.values[name] = value
        return self

    def get(self, field: str | Field) -> Any:
        """The field's value, or its schema's default value when unset."""
        name = self._name(field)
        value = self.values[name]
        if value is None:
            return self.schema._field_map[name].schema.default_value
        return value

    def get_without_default(self, field: str | Field) -> Any:
        """The field's value as set (``None`` when unset)."""
        return self.values[self._name(field)]

    def field_values(self) -> Mapping[str, Any]:
        """Every field's value as set, by name in schema order: a live read-only view, no copy (for
        sinks that convert many structs column by column; nested structs stay :class:`Struct`)."""
        return self.values

    def _get_checked(self, field: str, type: Type) -> Any:
        name = self._name(field)
        actual = self.schema._field_map[name].schema.type
        if actual is not type:
            raise DataException(f"Field '{name}' is not of type {type.name}")
        return self.get(name)

    def get_int8(self, field: str) -> int | None:
        return self._get_checked(field, Type.INT8)  # type: ignore[no-any-return]

    def get_int16(self, field: str) -> int | None:
        return self._get_checked(field, Type.INT16)  # type: ignore[no-any-return]

    def get_int32(self, field: str) -> int | None:
        return self._get_checked(field, Type.INT32)  # type: ignore[no-any-return]

    def get_int64(self, field: str) -> int | None:
        return self._get_checked(field, Type.INT64)  # type: ignore[no-any-return]

    def get_float32(self, field: str) -> float | None:
        return self._get_checked(field, Type.FLOAT32)  # type: ignore[no-any-return]

    def get_float64(self, field: str) -> float | None:
        return self._get_checked(field, Type.FLOAT64)  # type: ignore[no-any-return]

    def get_boolean(self, field: str) -> builtins.bool | None:
        return self._get_checked(field, Type.BOOLEAN)  # type: ignore[no-any-return]

    def get_string(self, field: str) -> str | None:
        return self._get_checked(field, Type.STRING)  # type: ignore[no-any-return]

    def get_bytes(self, field: str) -> builtins.bytes | None:
        value = self._get_checked(field, Type.BYTES)
        return builtins.bytes(value) if isinstance(value, bytearray | memoryview) else value

    def get_array(self, field: str) -> list[Any] | None:
        return self._get_checked(field, Type.ARRAY)  # type: ignore[no-any-return]

    def get_map(self, field: str) -> dict[Any, Any] | None:
        return self._get_checked(field, Type.MAP)  # type: ignore[no-any-return]

    def get_struct(self, field: str) -> Struct | None:
        return self._get_checked(field, Type.STRUCT)  # type: ignore[no-any-return]

    def validate(self) -> None:
        """Raise :class:`DataException` unless every field holds a valid value (required ones set)."""
        self._validate("")

    def _validate(self, path: str) -> None:
        values = self.values
        prefix = f"{path}." if path else ""
        for f in self.schema._fields:
            _validate(f.schema, values[f.name], prefix + f.name)

    def __getitem__(self, field: str) -> Any:
        return self.get(field)

    def __setitem__(self, field: str, value: Any) -> None:
        self.put(field, value)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Struct):
            return NotImplemented
        return self.schema == other.schema and self.values == other.values

    def __hash__(self) -> int:
        return hash((self.schema, tuple(_hashable(v) for v in self.values.values())))

    def __repr__(self) -> str:
        inner = ",".join(f"{k}={v!r}" for k, v in self.values.items() if v is not None)
        return f"Struct{{{inner}}}"


class SchemaAndValue:
    """A value with its schema (either may be None); ``SchemaAndValue.NULL`` is a tombstone."""

    __slots__ = ("schema", "value")

    NULL: ClassVar[SchemaAndValue]

    def __init__(self, schema: Schema | None, value: Any) -> None:
        self.schema = schema
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SchemaAndValue):
            return NotImplemented
        return self.schema == other.schema and _values_equal(self.value, other.value)

    def __hash__(self) -> int:
        return hash((self.schema, _hashable(self.value)))

    def __iter__(self) -> Any:
        return iter((self.schema, self.value))

    def __repr__(self) -> str:
        return f"SchemaAndValue{{schema={self.schema!r}, value={self.value!r}}}"


SchemaAndValue.NULL = SchemaAndValue(None, None)


# --- logical types ------------------------------------------------------------------------------------

_EPOCH_DATE: Final = _dt.date(1970, 1, 1)
_EPOCH_ORDINAL: Final = _EPOCH_DATE.toordinal()
_EPOCH_UTC: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_NAIVE: Final = _dt.datetime(1970, 1, 1)
_MS: Final = _dt.timedelta(milliseconds=1)
_MILLIS_PER_DAY: Final = 86_400_000


def _check_logical(schema: Schema, name: str, what: str) -> None:
    if schema.name != name:
        raise DataException(f"Requested conversion of {what} object but the schema does not match.")


class Decimal:
    """Logical type: an arbitrary-precision decimal, BYTES holding the unscaled two's-complement integer.

    The ``scale`` schema parameter gives the number of digits after the point. Values are
    :class:`decimal.Decimal`; one with fewer fraction digits than the scale is rescaled exactly,
    one that would lose digits is a :class:`DataException`.
    """

    LOGICAL_NAME: Final = _DECIMAL_NAME
    SCALE_FIELD: Final = "scale"

    @staticmethod
    def builder(scale: int) -> SchemaBuilder:
        return SchemaBuilder.bytes().name(_DECIMAL_NAME).parameter("scale", str(scale)).version(1)

    @staticmethod
    def schema(scale: int) -> Schema:
        return Decimal.builder(scale).build()

    @staticmethod
    def scale(schema: Schema) -> int:
        params = schema.parameters or {}
        raw = params.get("scale")
        if raw is None:
            raise DataException("Invalid Decimal schema: scale parameter not found.")
        try:
            return int(raw)
        except ValueError:
            raise DataException(f"Invalid scale parameter found in Decimal schema: {raw!r}") from None

    @staticmethod
    def unscaled(value: _decimal.Decimal, scale: int) -> int:
        """The integer ``value * 10**scale``; DataException if that would drop non-zero digits."""
        if not isinstance(value, _decimal.Decimal) or not value.is_finite():
            raise DataException(f"Invalid Decimal value: {value!r}")
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        coefficient: int = int("".join(map(str, digits))) if digits else 0
        shift = exponent + scale
        if shift >= 0:
            unscaled: int = coefficient * 10**shift
        else:
            unscaled, rest = divmod(coefficient, 10**-shift)
            if rest:
                raise DataException(f"Decimal value has more digits than the schema's scale {scale}")
        return -unscaled if sign else unscaled

    @staticmethod
    def from_logical(schema: Schema, value: _decimal.Decimal) -> builtins.bytes:
        _check_logical(schema, _DECIMAL_NAME, "Decimal")
        n = Decimal.unscaled(value, Decimal.scale(schema))
        length = (n if n >= 0 else ~n).bit_length() // 8 + 1
        return n.to_bytes(length, "big", signed=True)

    @staticmethod
    def to_logical(schema: Schema, value: builtins.bytes) -> _decimal.Decimal:
        _check_logical(schema, _DECIMAL_NAME, "Decimal")
        if not value:
            raise DataException("Invalid Decimal bytes: empty")
        n = int.from_bytes(value, "big", signed=True)
        return _decimal.Decimal(f"{n}E{-Decimal.scale(schema)}")


class Date:
    """Logical type: a calendar date, INT32 days since 1970-01-01; values are :class:`datetime.date`."""

    LOGICAL_NAME: Final = _DATE_NAME
    SCHEMA: ClassVar[Schema]

    @staticmethod
    def builder() -> SchemaBuilder:
        return SchemaBuilder.int32().name(_DATE_NAME).version(1)

    @staticmethod
    def from_logical(schema: Schema, value: _dt.date) -> int:
        _check_logical(schema, _DATE_NAME, "Date")
        if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
            raise DataException(
                f"Kafka Connect Date type requires a datetime.date, got {type(value).__name__}"
            )
        return value.toordinal() - _EPOCH_ORDINAL

    @staticmethod
    def to_logical(schema: Schema, value: int) -> _dt.date:
        _check_logical(schema, _DATE_NAME, "Date")
        try:
            return _dt.date.fromordinal(value + _EPOCH_ORDINAL)
        except (ValueError, OverflowError):
            raise DataException(f"Date out of range: {value} days since the epoch") from None


class Time:
    """Logical type: a time of day, INT32 milliseconds since midnight; values are :class:`datetime.time`."""

    LOGICAL_NAME: Final = _TIME_NAME
    SCHEMA: ClassVar[Schema]

    @staticmethod
    def builder() -> SchemaBuilder:
        return SchemaBuilder.int32().name(_TIME_NAME).version(1)

    @staticmethod
    def from_logical(schema: Schema, value: _dt.time) -> int:
        _check_logical(schema, _TIME_NAME, "Time")
        if not isinstance(value, _dt.time):
            raise DataException(
                f"Kafka Connect Time type requires a datetime.time, got {type(value).__name__}"
            )
        return (value.hour * 3600 + value.minute * 60 + value.second) * 1000 + value.microsecond // 1000

    @staticmethod
    def to_logical(schema: Schema, value: int) -> _dt.time:
        _check_logical(schema, _TIME_NAME, "Time")
        if not 0 <= value < _MILLIS_PER_DAY:
            raise DataException(
                "Kafka Connect Time type should not have any date fields set to non-zero values."
            )
        seconds, ms = divmod(value, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return _dt.time(hour, minute, second, ms * 1000)


class Timestamp:
    """Logical type: an instant, INT64 milliseconds since the epoch; values are :class:`datetime.datetime`.

    A naive ``datetime`` is taken as UTC; values read back are timezone-aware (UTC).
    """

    LOGICAL_NAME: Final = _TIMESTAMP_NAME
    SCHEMA: ClassVar[Schema]

    @staticmethod
    def builder() -> SchemaBuilder:
        return SchemaBuilder.int64().name(_TIMESTAMP_NAME).version(1)

    @staticmethod
    def from_logical(schema: Schema, value: _dt.datetime) -> int:
        _check_logical(schema, _TIMESTAMP_NAME, "Timestamp")
        if not isinstance(value, _dt.datetime):
            raise DataException(
                f"Kafka Connect Timestamp type requires a datetime.datetime, got {type(value).__name__}"
            )
        return timestamp_millis(value)

    @staticmethod
    def to_logical(schema: Schema, value: int) -> _dt.datetime:
        _check_logical(schema, _TIMESTAMP_NAME, "Timestamp")
        return datetime_from_millis(value)


def timestamp_millis(value: _dt.datetime) -> int:
    """Milliseconds since the epoch (a naive datetime is UTC)."""
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE) // _MS
    return (value - _EPOCH_UTC) // _MS


def datetime_from_millis(value: int) -> _dt.datetime:
    """The UTC datetime ``value`` milliseconds after the epoch."""
    try:
        return _EPOCH_UTC + _dt.timedelta(milliseconds=value)
    except OverflowError:
        raise DataException(f"Timestamp out of range: {value} ms since the epoch") from None


def _is_date(v: Any) -> bool:
    return isinstance(v, _dt.date) and not isinstance(v, _dt.datetime)


def _is_decimal(v: Any) -> bool:
    return isinstance(v, _decimal.Decimal) and v.is_finite()


_LOGICAL_CHECKS: Final[dict[str, tuple[str, Callable[[Any], bool]]]] = {
    _DECIMAL_NAME: ("decimal.Decimal", _is_decimal),
    _DATE_NAME: ("datetime.date", _is_date),
    _TIME_NAME: ("datetime.time", lambda v: isinstance(v, _dt.time)),
    _TIMESTAMP_NAME: ("datetime.datetime", lambda v: isinstance(v, _dt.datetime)),
}

Date.SCHEMA = Date.builder().build()
Time.SCHEMA = Time.builder().build()
Timestamp.SCHEMA = Timestamp.builder().build()

for _t in (Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64):
    setattr(Schema, f"{_t.name}_SCHEMA", Schema(_t))
    setattr(Schema, f"OPTIONAL_{_t.name}_SCHEMA", Schema(_t, optional=True))
Schema.BOOLEAN_SCHEMA = Schema(Type.BOOLEAN)
Schema.STRING_SCHEMA = Schema(Type.STRING)
Schema.BYTES_SCHEMA = Schema(Type.BYTES)
Schema.OPTIONAL_BOOLEAN_SCHEMA = Schema(Type.BOOLEAN, optional=True)
Schema.OPTIONAL_STRING_SCHEMA = Schema(Type.STRING, optional=True)
Schema.OPTIONAL_BYTES_SCHEMA = Schema(Type.BYTES, optional=True)
del _t
