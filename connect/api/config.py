"""Configuration declared as data (Kafka's ``ConfigDef``, ``ConfigValue``, ``Config``, ``AbstractConfig``).

A plugin declares its settings once::

    CONFIG = (
        ConfigDef()
        .define("connection.url", "string", importance="high", doc="JDBC-style URL of the database.")
        .define("connection.password", "password", None, "high", "Password of the database user.")
        .define("batch.size", "int", 3000, "medium", "Rows per query.", validator=Range.at_least(1))
    )

and the same declaration drives parsing (:meth:`ConfigDef.parse`), validation with per-field messages for
``PUT /connector-plugins/{p}/config/validate`` (:meth:`ConfigDef.validate`), secret masking for logs and
REST output (:meth:`ConfigDef.mask`) and the docs (:meth:`ConfigDef.to_rst`, :meth:`ConfigDef.to_markdown`).

Secrets: a ``PASSWORD`` value is parsed into a :class:`Password` whose ``str``/``repr`` is ``[hidden]``;
any key defined with ``secret=True`` (PASSWORD implies it) is masked by :meth:`ConfigDef.mask` and never
appears in an error message.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from connect.api.errors import ConfigException

__all__ = [
    "NO_DEFAULT",
    "AbstractConfig",
    "CaseInsensitiveValidString",
    "CompositeValidator",
    "Config",
    "ConfigDef",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "Importance",
    "LambdaValidator",
    "NonEmptyString",
    "NonNullValidator",
    "Password",
    "Range",
    "Recommender",
    "ValidList",
    "ValidString",
    "Validator",
    "Width",
    "mask_url_password",
]

HIDDEN: Final = "[hidden]"


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final[Any] = _NoDefault()
"""Marks a key without default value: it must be set (Kafka's ``ConfigDef.NO_DEFAULT_VALUE``)."""


class ConfigType(enum.Enum):
    """Type of a configuration value and what :meth:`ConfigDef.parse` turns the string into."""

    BOOLEAN = "boolean"  # bool ("true"/"false", case-insensitive)
    STRING = "string"  # str (trimmed)
    INT = "int"  # int, 32-bit
    SHORT = "short"  # int, 16-bit
    LONG = "long"  # int, 64-bit
    DOUBLE = "double"  # float
    LIST = "list"  # list[str], comma-separated
    CLASS = "class"  # str: a class name or alias (resolved by the runtime)
    PASSWORD = "password"  # Password


class Importance(enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Width(enum.Enum):
    """How wide a UI field for the value should be."""

    NONE = "none"
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


class Password:
    """A secret configuration value; ``str()`` and ``repr()`` are ``[hidden]``, read it with ``.value``."""

    __slots__ = ("_value",)

    HIDDEN: Final = HIDDEN

    def __init__(self, value: str) -> None:
        self._value = value

    @property
    def value(self) -> str:
        return self._value

    def __str__(self) -> str:
        return HIDDEN

    def __repr__(self) -> str:
        return HIDDEN

    def __format__(self, spec: str) -> str:
        return format(HIDDEN, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Password):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Password, (self._value,))


# --- validators ---------------------------------------------------------------------------------------


@runtime_checkable
class Validator(Protocol):
    """Checks a parsed value; raises :class:`ConfigException` if it is invalid.

    ``str(validator)`` describes the valid values for the docs. Validators are not called for ``None``
    (an unset optional key). Any callable ``(name, value) -> None`` that raises ``ConfigException`` (or
    returns ``False``) may be used as a validator too; see :class:`LambdaValidator`.
    """

    def ensure_valid(self, name: str, value: Any) -> None: ...


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Password) else value


class Range:
    """A number within ``[min, max]`` (either bound may be None)."""

    def __init__(self, min: float | None, max: float | None) -> None:
        self.min = min
        self.max = max

    @staticmethod
    def at_least(min: float) -> Range:
        return Range(min, None)

    @staticmethod
    def at_most(max: float) -> Range:
        return Range(None, max)

    @staticmethod
    def between(min: float, max: float) -> Range:
        return Range(min, max)

    def ensure_valid(self, name: str, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigException(name, value, "Value must be a number")
        if self.min is not None and value < self.min:
            raise ConfigException(name, value, f"Value must be at least {self.min}")
        if self.max is not None and value > self.max:
            raise ConfigException(name, value, f"Value must be no more than {self.max}")

    def __str__(self) -> str:
        if self.min is None:
            return f"[...,{self.max}]"
        if self.max is None:
            return f"[{self.min},...]"
        return f"[{self.min},...,{self.max}]"


class ValidString:
    """One of the given strings (case-sensitive)."""

    def __init__(self, valid: Iterable[str]) -> None:
        self.valid = list(valid)

    @staticmethod
    def in_(*valid: str) -> ValidString:
        return ValidString(valid)

    def ensure_valid(self, name: str, value: Any) -> None:
        if _plain(value) not in self.valid:
            raise ConfigException(name, value, f"String must be one of: {', '.join(self.valid)}")

    def __str__(self) -> str:
        return f"[{', '.join(self.valid)}]"


class CaseInsensitiveValidString:
    """One of the given strings, ignoring case."""

    def __init__(self, valid: Iterable[str]) -> None:
        self.valid = list(valid)
        self._folded = {v.casefold() for v in self.valid}

    @staticmethod
    def in_(*valid: str) -> CaseInsensitiveValidString:
        return CaseInsensitiveValidString(valid)

    def ensure_valid(self, name: str, value: Any) -> None:
        v = _plain(value)
        if not isinstance(v, str) or v.casefold() not in self._folded:
            raise ConfigException(
                name, value, f"String must be one of (case insensitive): {', '.join(self.valid)}"
            )

    def __str__(self) -> str:
        return f"(case insensitive) [{', '.join(self.valid)}]"


class ValidList:
    """A list whose items are all among the given strings (and, optionally, not duplicated)."""

    def __init__(self, valid: Iterable[str] | None, *, allow_duplicates: bool = True) -> None:
        self.valid = list(valid) if valid is not None else None
        self.allow_duplicates = allow_duplicates

    @staticmethod
    def in_(*valid: str) -> ValidList:
        return ValidList(valid)

    @staticmethod
    def any_non_duplicate_values() -> ValidList:
        return ValidList(None, allow_duplicates=False)

    def ensure_valid(self, name: str, value: Any) -> None:
        if not isinstance(value, list):
            raise ConfigException(name, value, "Value must be a list")
        if not self.allow_duplicates and len(set(value)) != len(value):
            raise ConfigException(name, value, "Values must not be duplicated")
        if self.valid is not None:
            bad = [v for v in value if v not in self.valid]
            if bad:
                raise ConfigException(
                    name, value, f"Invalid value {bad[0]}: String must be one of: {', '.join(self.valid)}"
                )

    def __str__(self) -> str:
        return f"[{', '.join(self.valid)}]" if self.valid is not None else "non-duplicate values"


class NonEmptyString:
    """A string that is not empty."""

    def ensure_valid(self, name: str, value: Any) -> None:
        v = _plain(value)
        if not isinstance(v, str) or not v:
            raise ConfigException(name, value, "String must be non-empty")

    def __str__(self) -> str:
        return "non-empty string"


class NonNullValidator:
    """Any value but None (use for keys whose default is None but which must be set)."""

    def ensure_valid(self, name: str, value: Any) -> None:
        if value is None:
            raise ConfigException(name, value, "Entry must be non null")

    def __str__(self) -> str:
        return "non-null string"


class LambdaValidator:
    """A validator from a function ``(name, value)`` that raises, or returns False for invalid values."""

    def __init__(self, check: Callable[[str, Any], Any], description: str = "") -> None:
        self._check = check
        self._description = description

    @staticmethod
    def with_(check: Callable[[str, Any], Any], description: str = "") -> LambdaValidator:
        return LambdaValidator(check, description)

    def ensure_valid(self, name: str, value: Any) -> None:
        if self._check(name, value) is False:
            raise ConfigException(
                name, value, f"Invalid value; expected {self._description}" if self._description else None
            )

    def __str__(self) -> str:
        return self._description


class CompositeValidator:
    """All of the given validators, in order."""

    def __init__(self, validators: Iterable[Validator | Callable[[str, Any], Any]]) -> None:
        self.validators: list[Validator] = [v for v in map(_as_validator, validators) if v is not None]

    @staticmethod
    def of(*validators: Validator | Callable[[str, Any], Any]) -> CompositeValidator:
        return CompositeValidator(validators)

    def ensure_valid(self, name: str, value: Any) -> None:
        for v in self.validators:
            v.ensure_valid(name, value)

    def __str__(self) -> str:
        return ", ".join(filter(None, (str(v) for v in self.validators)))


def _as_validator(v: Validator | Callable[[str, Any], Any] | None) -> Validator | None:
    if v is None or isinstance(v, Validator):
        return v
    if callable(v):
        return LambdaValidator(v)
    raise TypeError(f"Not a validator: {v!r}")


class Recommender(Protocol):
    """Suggests valid values and visibility for a key, given the other parsed values (for UIs)."""

    def valid_values(self, name: str, parsed_config: Mapping[str, Any]) -> list[Any]: ...

    def visible(self, name: str, parsed_config: Mapping[str, Any]) -> bool: ...


# --- keys and values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigKey:
    """The declaration of one key (what ``GET /connector-plugins/{p}/config`` lists)."""

    name: str
    type: ConfigType
    default_value: Any
    importance: Importance
    documentation: str
    validator: Validator | None = None
    group: str | None = None
    order_in_group: int = -1
    width: Width = Width.NONE
    display_name: str = ""
    dependents: tuple[str, ...] = ()
    recommender: Recommender | None = None
    secret: bool = False

    @property
    def has_default(self) -> bool:
        return self.default_value is not NO_DEFAULT

    @property
    def required(self) -> bool:
        """True when the key has no default value and must be set."""
        return self.default_value is NO_DEFAULT

    def default_string(self) -> str | None:
        """The default as Kafka shows it in docs and REST (None when there is none; secrets hidden)."""
        if not self.has_default:
            return None
        if self.default_value is None:
            return "null"
        if self.secret:
            return HIDDEN
        return _to_string(self.default_value, self.type)


@dataclass
class ConfigValue:
    """The validation result of one key (Kafka's ``ConfigValue``).

    ``value`` is the parsed value (a :class:`Password` for PASSWORD keys, so it prints as
    ``[hidden]``); ``error_messages`` lists every problem found; ``recommended_values`` and ``visible``
    come from the key's recommender.
    """

    name: str
    value: Any = None
    recommended_values: list[Any] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)
    visible: bool = True

    def add_error_message(self, message: str) -> None:
        self.error_messages.append(message)

    def __repr__(self) -> str:
        return (
            f"ConfigValue(name={self.name!r}, value={_shown(self.value)}, "
            f"recommended_values={self.recommended_values!r}, errors={self.error_messages!r}, "
            f"visible={self.visible})"
        )


def _shown(value: Any) -> str:
    return HIDDEN if isinstance(value, Password) else repr(value)


@dataclass
class Config:
    """The result of ``Connector.validate``: one :class:`ConfigValue` per key."""

    config_values: list[ConfigValue]

    @property
    def error_count(self) -> int:
        return sum(len(v.error_messages) for v in self.config_values)

    def errors(self) -> dict[str, list[str]]:
        """Keys with problems and their messages."""
        return {v.name: list(v.error_messages) for v in self.config_values if v.error_messages}


# --- parsing ------------------------------------------------------------------------------------------

_COMMA: Final = re.compile(r"\s*,\s*")
_INT_BOUNDS: Final = {
    ConfigType.SHORT: (-(2**15), 2**15 - 1),
    ConfigType.INT: (-(2**31), 2**31 - 1),
    ConfigType.LONG: (-(2**63), 2**63 - 1),
}
_REFERENCE: Final = re.compile(r"(?:\$\{[^}]*\})+")


def _parse_type(name: str, value: Any, ctype: ConfigType, secret: bool) -> Any:
    """Turn a raw value (usually a string) into the key's type; ConfigException otherwise."""
    shown: Any = HIDDEN if secret else value
    if value is None:
        return None
    if isinstance(value, Password):
        if ctype is ConfigType.PASSWORD:
            return value
        value = value.value
    text = value.strip() if isinstance(value, str) else None
    if ctype is ConfigType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ConfigException(name, shown, "Expected value to be either true or false")
    if ctype is ConfigType.PASSWORD:
        if text is not None:
            return Password(text)
        raise ConfigException(name, shown, "Expected value to be a string, but it was a " + _type_name(value))
    if ctype is ConfigType.STRING:
        if text is not None:
            return text
        raise ConfigException(name, shown, "Expected value to be a string, but it was a " + _type_name(value))
    if ctype in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[ctype]
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif text is not None:
            try:
                number = int(text)
            except ValueError:
                raise ConfigException(name, shown, f"Not a number of type {ctype.name}") from None
        else:
            raise ConfigException(name, shown, f"Expected value to be a number of type {ctype.name}")
        if not lo <= number <= hi:
            raise ConfigException(name, shown, f"Not a number of type {ctype.name}")
        return number
    if ctype is ConfigType.DOUBLE:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if text is not None:
            try:
                return float(text)
            except ValueError:
                raise ConfigException(name, shown, "Not a number of type DOUBLE") from None
        raise ConfigException(name, shown, "Expected value to be a number of type DOUBLE")
    if ctype is ConfigType.LIST:
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        if text is not None:
            return [] if not text else _COMMA.split(text)
        raise ConfigException(name, shown, "Expected a comma separated list.")
    if ctype is ConfigType.CLASS:
        if text is not None and text:
            return text
        if isinstance(value, type):
            return value
        raise ConfigException(name, shown, "Expected a Class instance or class name.")
    raise ConfigException(name, shown, f"Unknown type {ctype}")  # pragma: no cover


def _type_name(value: Any) -> str:
    return value.__class__.__name__  # type: ignore[no-any-return]


def _to_string(value: Any, ctype: ConfigType) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if ctype is ConfigType.LIST and isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if ctype is ConfigType.STRING and value == "":
        return '""'
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return str(value)


def _coerce_enum(enum_type: type[enum.Enum], value: Any, what: str) -> Any:
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type(value.lower())
        except ValueError:
            pass
    raise ValueError(f"Unknown {what}: {value!r}")


# ``scheme://user:password@host`` — a password written inside a URL (a database or cluster URL).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)(?=@)")


def mask_url_password(value: str) -> str:
    """``value`` with the password part of every ``scheme://user:password@host`` in it replaced by
    ``[hidden]`` (``postgresql://app:s3cret@db/x`` -> ``postgresql://app:[hidden]@db/x``); other text
    unchanged. :meth:`ConfigDef.mask` applies it to every string value, so a URL that carries its own
    credentials is safe in logs and REST output whatever key holds it."""
    if "://" not in value or "@" not in value:
        return value
    return _URL_PASSWORD.sub(lambda m: m.group("head") + HIDDEN, value)


class ConfigDef:
    """The declared configuration keys of a plugin, in definition order."""

    def __init__(self, base: ConfigDef | None = None) -> None:
        self._keys: dict[str, ConfigKey] = dict(base._keys) if base is not None else {}
        self._group_order: dict[str | None, int] = dict(base._group_order) if base is not None else {}

    def define(
        self,
        name: str,
        type: ConfigType | str,
        default: Any = NO_DEFAULT,
        importance: Importance | str = Importance.MEDIUM,
        doc: str = "",
        *,
        validator: Validator | Callable[[str, Any], Any] | None = None,
        group: str | None = None,
        order_in_group: int | None = None,
        width: Width | str | None = None,
        display_name: str | None = None,
        dependents: Sequence[str] = (),
        recommender: Recommender | None = None,
        secret: bool = False,
    ) -> ConfigDef:
        """Declare a key; returns ``self`` for chaining. ``type``/``importance``/``width`` accept the
        enum or its lower-case name. The default is parsed like a configured value and validated now."""
        if name in self._keys:
            raise ConfigException(f"Configuration {name} is defined twice.")
        ctype: ConfigType = _coerce_enum(ConfigType, type, "config type")
        imp: Importance = _coerce_enum(Importance, importance, "importance")
        wid: Width = Width.NONE if width is None else _coerce_enum(Width, width, "width")
        is_secret = secret or ctype is ConfigType.PASSWORD
        check = _as_validator(validator)
        if default is not NO_DEFAULT:
            default = _parse_type(name, default, ctype, is_secret)
            if default is not None and check is not None:
                try:
                    check.ensure_valid(name, default)
                except ConfigException as e:
                    raise ConfigException(f"Invalid default for configuration {name}: {e.reason}") from None
                except Exception as e:
                    raise ConfigException(
                        f"Invalid default for configuration {name}: validator failed ({e.__class__.__name__})"
                    ) from e
        if order_in_group is None:
            order_in_group = self._group_order.get(group, 0) + 1
        self._group_order[group] = max(order_in_group, self._group_order.get(group, 0))
        self._keys[name] = ConfigKey(
            name=name,
            type=ctype,
            default_value=default,
            importance=imp,
            documentation=doc,
            validator=check,
            group=group,
            order_in_group=order_in_group,
            width=wid,
            display_name=display_name or name,
            dependents=tuple(dependents),
            recommender=recommender,
            secret=is_secret,
        )
        return self

    def define_key(self, key: ConfigKey) -> ConfigDef:
        if key.name in self._keys:
            raise ConfigException(f"Configuration {key.name} is defined twice.")
        self._keys[key.name] = key
        return self

    def config_keys(self) -> dict[str, ConfigKey]:
        """The declared keys by name, in definition order (a copy)."""
        return dict(self._keys)

    def names(self) -> list[str]:
        return list(self._keys)

    def groups(self) -> list[str]:
        seen: list[str] = []
        for key in self._keys.values():
            if key.group is not None and key.group not in seen:
                seen.append(key.group)
        return seen

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def is_secret(self, name: str) -> bool:
        key = self._keys.get(name)
        return key is not None and key.secret

    # --- parse / validate ---------------------------------------------------------------------------

    def _parse_key(self, key: ConfigKey, props: Mapping[str, Any]) -> Any:
        if key.name in props:
            value = _parse_type(key.name, props[key.name], key.type, key.secret)
        elif key.has_default:
            value = key.default_value
        else:
            raise ConfigException(f'Missing required configuration "{key.name}" which has no default value.')
        if value is not None and key.validator is not None:
            self._run_validator(key, value)
        return value

    @staticmethod
    def _run_validator(key: ConfigKey, value: Any) -> None:
        assert key.validator is not None
        try:
            key.validator.ensure_valid(key.name, value)
        except ConfigException as e:
            if key.secret:
                raise ConfigException(key.name, HIDDEN, e.reason) from None
            raise
        except Exception as e:
            detail = e.__class__.__name__ if key.secret else f"{e.__class__.__name__}: {e}"
            raise ConfigException(
                key.name, HIDDEN if key.secret else value, f"validator failed ({detail})"
            ) from None

    def parse(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Parse ``props`` into typed values for every declared key (defaults filled in).

        Undeclared keys are ignored. Raises :class:`ConfigException` at the first bad or missing value
        (use :meth:`validate` to collect every problem).
        """
        return {name: self._parse_key(key, props) for name, key in self._keys.items()}

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """Check every declared key and collect ALL problems; never raises for bad values.

        One :class:`ConfigValue` per key, in definition order, carrying the parsed value (or None), the
        error messages, the recommender's valid values and visibility.
        """
        parsed: dict[str, Any] = {}
        results: dict[str, ConfigValue] = {}
        for name, key in self._keys.items():
            cv = ConfigValue(name)
            results[name] = cv
            try:
                if name in props:
                    parsed[name] = _parse_type(name, props[name], key.type, key.secret)
                elif key.has_default:
                    parsed[name] = key.default_value
                else:
                    parsed[name] = None
                    cv.add_error_message(
                        f'Missing required configuration "{name}" which has no default value.'
                    )
            except ConfigException as e:
                parsed[name] = None
                cv.add_error_message(str(e))
            value = parsed[name]
            cv.value = Password(value) if key.secret and isinstance(value, str) else value
        for name, key in self._keys.items():
            cv = results[name]
            value = parsed[name]
            if value is not None and key.validator is not None and not cv.error_messages:
                try:
                    self._run_validator(key, value)
                except ConfigException as e:
                    cv.add_error_message(str(e))
            if key.recommender is not None:
                try:
                    cv.recommended_values = list(key.recommender.valid_values(name, parsed))
                    cv.visible = bool(key.recommender.visible(name, parsed))
                    if cv.recommended_values and value is not None and value not in cv.recommended_values:
                        shown = HIDDEN if key.secret else value
                        cv.add_error_message(
                            f"Invalid value {shown} for configuration {name}: not a recommended value"
                        )
                except Exception as e:
                    cv.add_error_message(
                        f"Failed to get recommended values for {name}: {e.__class__.__name__}"
                    )
        return list(results.values())

    def validate_all(self, props: Mapping[str, Any]) -> dict[str, ConfigValue]:
        """:meth:`validate` as a dict by key name."""
        return {cv.name: cv for cv in self.validate(props)}

    def mask(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``props`` safe for logs and REST output: secret values become ``[hidden]``.

        A value that is only config-provider references (``${file:/etc/secrets.properties:pw}``) is
        kept, since it names where the secret lives, not the secret.
        """
        out: dict[str, Any] = {}
        for name, value in props.items():
            if value is not None and self.is_secret(name):
                keep = isinstance(value, str) and _REFERENCE.fullmatch(value.strip()) is not None
                out[name] = value if keep else HIDDEN
            elif isinstance(value, Password):
                out[name] = HIDDEN
            elif isinstance(value, str):
                out[name] = mask_url_password(value)
            else:
                out[name] = value
        return out

    # --- docs ---------------------------------------------------------------------------------------

    def sorted_keys(self) -> list[ConfigKey]:
        """Keys in documentation order: required first, then by importance, then by name."""
        order = {Importance.HIGH: 0, Importance.MEDIUM: 1, Importance.LOW: 2}
        return sorted(self._keys.values(), key=lambda k: (k.has_default, order[k.importance], k.name))

    def _doc_rows(self, key: ConfigKey) -> list[tuple[str, str]]:
        rows = [("Type", key.type.value)]
        if key.has_default:
            rows.append(("Default", key.default_string() or ""))
        if key.validator is not None and str(key.validator):
            rows.append(("Valid Values", str(key.validator)))
        rows.append(("Importance", key.importance.value))
        return rows

    def to_rst(self) -> str:
        """The keys as reStructuredText, in Kafka's layout."""
        out: list[str] = []
        for key in self.sorted_keys():
            out.append(f"``{key.name}``")
            if key.documentation:
                out.append(f"  {key.documentation}")
            out.append("")
            out.extend(f"  * {label}: {value}" for label, value in self._doc_rows(key))
            out.append("")
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The keys as Markdown: one section per key."""
        out: list[str] = []
        for key in self.sorted_keys():
            out.append(f"### `{key.name}`")
            out.append("")
            if key.documentation:
                out.append(key.documentation)
                out.append("")
            out.extend(f"* {label}: {_md(value)}" for label, value in self._doc_rows(key))
            out.append("")
        return "\n".join(out)


def _md(value: str) -> str:
    return f"`{value}`" if value and value != HIDDEN else value


class AbstractConfig:
    """Parsed configuration of a plugin with typed getters (Kafka's ``AbstractConfig``).

    ``AbstractConfig(definition, props)`` parses ``props`` against ``definition`` (ConfigException on
    the first problem). ``repr()`` masks secrets.
    """

    def __init__(self, definition: ConfigDef, props: Mapping[str, Any]) -> None:
        self._definition = definition
        self._originals = dict(props)
        self._values = definition.parse(props)

    @property
    def definition(self) -> ConfigDef:
        return self._definition

    def get(self, name: str) -> Any:
        if name not in self._values:
            raise ConfigException(f"Unknown configuration '{name}'")
        return self._values[name]

    __getitem__ = get

    def _typed(self, name: str, *types: type) -> Any:
        value = self.get(name)
        if value is not None and not isinstance(value, types):
            raise ConfigException(f"Configuration '{name}' is not of type {types[0].__name__}")
        return value

    def get_string(self, name: str) -> str | None:
        return self._typed(name, str)  # type: ignore[no-any-return]

    def get_int(self, name: str) -> int | None:
        return self._typed(name, int)  # type: ignore[no-any-return]

    get_short = get_int
    get_long = get_int

    def get_double(self, name: str) -> float | None:
        return self._typed(name, float)  # type: ignore[no-any-return]

    def get_boolean(self, name: str) -> bool | None:
        return self._typed(name, bool)  # type: ignore[no-any-return]

    def get_list(self, name: str) -> list[str] | None:
        return self._typed(name, list)  # type: ignore[no-any-return]

    def get_password(self, name: str) -> Password | None:
        return self._typed(name, Password)  # type: ignore[no-any-return]

    def get_class(self, name: str) -> Any:
        return self.get(name)

    def values(self) -> dict[str, Any]:
        """Every declared key's parsed value."""
        return dict(self._values)

    def originals(self) -> dict[str, Any]:
        """The properties as given, including undeclared keys."""
        return dict(self._originals)

    def originals_with_prefix(self, prefix: str, strip: bool = True) -> dict[str, Any]:
        """Original properties whose key starts with ``prefix`` (prefix removed when ``strip``)."""
        return {
            (k[len(prefix) :] if strip else k): v for k, v in self._originals.items() if k.startswith(prefix)
        }

    def masked(self) -> dict[str, Any]:
        """The original properties with secrets masked (for logs)."""
        return self._definition.mask(self._originals)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbstractConfig):
            return NotImplemented
        return self._originals == other._originals and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.masked()!r})"
