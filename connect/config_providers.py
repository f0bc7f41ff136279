"""Config providers: secrets and settings referenced from configs instead of written into them (KIP-297).

A config value may contain references ``${provider:[path:]key}``, resolved by the worker just before a
connector or task gets its configuration, so the stored and REST-visible config only holds the
reference::

    connection.password=${file:/etc/headrace/secrets.properties:db.password}
    connection.user=${env:DB_USER}
    tls.key=${directory:/run/secrets:tls.key}

Providers, as in Kafka: ``env`` (environment variables; ``allowlist.pattern``), ``file`` (a Java
``.properties`` file; ``allowed.paths``), ``directory`` (one file per key; ``allowed.paths``).
Worker properties configure them exactly like Kafka's::

    config.providers=file,env
    config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
    config.providers.file.param.allowed.paths=/etc/headrace

:func:`resolve` leaves references to unknown providers untouched, and raises :class:`ConfigException`
when a referenced variable, file or key does not exist. Error messages name the config key, the
provider, the path and the variable — never a resolved value.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from connect.api.errors import ConfigException
from kafka_common.properties import PropertiesError
from kafka_common.properties import parse_properties as _parse_properties

__all__ = [
    "PROVIDER_CLASSES",
    "ConfigProvider",
    "DirectoryConfigProvider",
    "EnvVarConfigProvider",
    "FileConfigProvider",
    "default_providers",
    "parse_properties",
    "providers_from_config",
    "references",
    "resolve",
]

# Kafka's ConfigTransformer.DEFAULT_PATTERN
PATTERN: Final = re.compile(r"\$\{([^}]*?):(([^}]*?):)?([^}]*?)\}")


class ConfigProvider(abc.ABC):
    """Looks up values by ``(path, key)`` (Kafka's ``ConfigProvider``)."""

    def configure(self, configs: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Configure from the ``config.providers.<name>.param.*`` properties (prefix removed)."""

    @abc.abstractmethod
    def get(self, path: str, keys: Iterable[str] | None = None) -> dict[str, str]:
        """Values at ``path``: the given ``keys`` that exist (all keys when None). Missing keys are simply
        absent; raise ConfigException if ``path`` itself cannot be read."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class EnvVarConfigProvider(ConfigProvider):
    """``${env:NAME}``: environment variables whose name matches ``allowlist.pattern`` (default all)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._allow: re.Pattern[str] = re.compile(".*")

    def configure(self, configs: Mapping[str, Any]) -> None:
        pattern = configs.get("allowlist.pattern")
        if pattern:
            try:
                self._allow = re.compile(str(pattern))
            except re.error as e:
                raise ConfigException(
                    "allowlist.pattern", pattern, f"Invalid regular expression: {e}"
                ) from None

    def get(self, path: str, keys: Iterable[str] | None = None) -> dict[str, str]:
        if path:
            raise ConfigException(f"The env config provider takes no path (got '{path}')")
        env = self._environ if self._environ is not None else os.environ
        names = list(env) if keys is None else list(keys)
        return {k: env[k] for k in names if k in env and self._allow.fullmatch(k)}


class _PathRestricted(ConfigProvider):
    def __init__(self) -> None:
        self._allowed: list[Path] | None = None

    def configure(self, configs: Mapping[str, Any]) -> None:
        raw = configs.get("allowed.paths")
        if raw is None or str(raw).strip() == "":
            self._allowed = None
            return
        allowed = []
        for item in str(raw).split(","):
            p = Path(item.strip())
            if not p.is_absolute():
                raise ConfigException("allowed.paths", raw, f"Path {item.strip()} is not absolute")
            allowed.append(Path(os.path.normpath(p)))
        self._allowed = allowed

    def _checked(self, path: str) -> Path:
        p = Path(os.path.normpath(path))
        if self._allowed is not None:
            resolved = Path(os.path.realpath(p))
            if not any(resolved == a or a in resolved.parents for a in self._allowed):
                raise ConfigException(f"The path '{path}' is not allowed to be accessed (allowed.paths)")
        return p


class FileConfigProvider(_PathRestricted):
    """``${file:/path/to/file.properties:key}``: keys of a Java properties file (UTF-8)."""

    def get(self, path: str, keys: Iterable[str] | None = None) -> dict[str, str]:
        if not path:
            raise ConfigException("The file config provider needs a path: ${file:/path/to/file:key}")
        p = self._checked(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigException(
                f"Could not read properties from file '{path}': {type(e).__name__}"
            ) from None
        props = parse_properties(text)
        if keys is None:
            return props
        return {k: props[k] for k in keys if k in props}


class DirectoryConfigProvider(_PathRestricted):
    """``${directory:/dir:filename}``: the content of a file in a directory (e.g. mounted secrets)."""

    def get(self, path: str, keys: Iterable[str] | None = None) -> dict[str, str]:
        if not path:
            raise ConfigException("The directory config provider needs a path: ${directory:/dir:file}")
        d = self._checked(path)
        if not d.is_dir():
            raise ConfigException(f"Could not read directory '{path}': not a directory")
        wanted = None if keys is None else set(keys)
        out: dict[str, str] = {}
        try:
            for entry in d.iterdir():
                if (wanted is None or entry.name in wanted) and entry.is_file():
                    out[entry.name] = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigException(f"Could not read directory '{path}': {type(e).__name__}") from None
        return out


PROVIDER_CLASSES: dict[str, type[ConfigProvider]] = {
    "org.apache.kafka.common.config.provider.EnvVarConfigProvider": EnvVarConfigProvider,
    "org.apache.kafka.common.config.provider.FileConfigProvider": FileConfigProvider,
    "org.apache.kafka.common.config.provider.DirectoryConfigProvider": DirectoryConfigProvider,
    "EnvVarConfigProvider": EnvVarConfigProvider,
    "FileConfigProvider": FileConfigProvider,
    "DirectoryConfigProvider": DirectoryConfigProvider,
}


def default_providers() -> dict[str, ConfigProvider]:
    """``env``, ``file`` and ``directory`` with default settings."""
    return {
        "env": EnvVarConfigProvider(),
        "file": FileConfigProvider(),
        "directory": DirectoryConfigProvider(),
    }


def providers_from_config(worker_props: Mapping[str, str]) -> dict[str, ConfigProvider]:
    """Providers declared in worker properties (``config.providers``, ``config.providers.<n>.class``,
    ``config.providers.<n>.param.<k>``), configured. ConfigException names a bad or missing class."""
    names = [n.strip() for n in str(worker_props.get("config.providers", "")).split(",") if n.strip()]
    out: dict[str, ConfigProvider] = {}
    for name in names:
        class_key = f"config.providers.{name}.class"
        class_name = worker_props.get(class_key)
        if not class_name:
            raise ConfigException(f'Missing required configuration "{class_key}" for config provider {name}.')
        cls = PROVIDER_CLASSES.get(class_name.strip())
        if cls is None:
            raise ConfigException(class_key, class_name, f"Class {class_name} could not be found.")
        prefix = f"config.providers.{name}.param."
        provider = cls()
        provider.configure({k[len(prefix) :]: v for k, v in worker_props.items() if k.startswith(prefix)})
        out[name] = provider
    return out


def references(value: str) -> list[tuple[str, str, str]]:
    """The ``(provider, path, key)`` references in a config value (path ``""`` when absent)."""
    return [(m.group(1), m.group(3) or "", m.group(4)) for m in PATTERN.finditer(value)]


def resolve(props: Mapping[str, str], providers: Mapping[str, ConfigProvider]) -> dict[str, str]:
    """``props`` with every ``${provider:[path:]key}`` of a known provider replaced by its value.

    References to providers not in ``providers`` stay as they are. A missing variable/key, or a path a
    provider cannot read, raises :class:`ConfigException` naming the config key and the reference —
    never a value.
    """
    wanted: dict[tuple[str, str], set[str]] = {}
    for value in props.values():
        if isinstance(value, str) and "${" in value:
            for provider, path, key in references(value):
                if provider in providers:
                    wanted.setdefault((provider, path), set()).add(key)
    if not wanted:
        return dict(props)
    found: dict[tuple[str, str], dict[str, str]] = {}
    failures: dict[tuple[str, str], str] = {}
    for (provider, path), keys in wanted.items():
        try:
            found[(provider, path)] = providers[provider].get(path, sorted(keys))
        except ConfigException as e:
            failures[(provider, path)] = str(e)
        except Exception as e:
            failures[(provider, path)] = f"{type(e).__name__} from config provider '{provider}'"

    out: dict[str, str] = {}
    for name, value in props.items():
        if not (isinstance(value, str) and "${" in value):
            out[name] = value
            continue

        def substitute(m: re.Match[str], name: str = name) -> str:
            provider, path, key = m.group(1), m.group(3) or "", m.group(4)
            if provider not in providers:
                return m.group(0)
            where = f"'{path}'" if path else "(no path)"
            if (provider, path) in failures:
                raise ConfigException(
                    f"Could not resolve {m.group(0)} in config '{name}': {failures[(provider, path)]}"
                )
            values = found[(provider, path)]
            if key not in values:
                what = "environment variable" if provider == "env" else "key"
                raise ConfigException(
                    f"Could not resolve {m.group(0)} in config '{name}': {what} '{key}' not found "
                    f"by config provider '{provider}' at {where}"
                )
            return values[key]

        out[name] = PATTERN.sub(substitute, value)
    return out


# --- Java properties format ------------------------------------------------------------------------------


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text (comments, ``=``/``:``/space separators, continuations, escapes);
    ConfigException on a malformed ``\\uXXXX`` escape. The parser is ``kafka_common.properties``'s."""
    try:
        return _parse_properties(text)
    except PropertiesError as exc:
        raise ConfigException(str(exc)) from None
