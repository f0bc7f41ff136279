"""Config providers: ${env:...}, ${file:...}, ${directory:...}; errors never show values."""

from __future__ import annotations

from pathlib import Path

import pytest

from connect.api import ConfigException
from connect.config_providers import (
    DirectoryConfigProvider,
    EnvVarConfigProvider,
    FileConfigProvider,
    default_providers,
    parse_properties,
    providers_from_config,
    references,
    resolve,
)

SECRET = "hunter2-xyzzy"


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    (tmp_path / "db.properties").write_text(
        f"# comment\n! other comment\ndb.password = {SECRET}\ndb.user:admin\nlong = a\\\n    b\n"
        "uni=caf\\u00e9\nspaced\\ key value\n",
        encoding="utf-8",
    )
    d = tmp_path / "mounted"
    d.mkdir()
    (d / "tls.key").write_text("-----KEY-----\n")
    (d / "nested").mkdir()
    return tmp_path


def providers(env: dict[str, str]) -> dict[str, object]:
    return {
        "env": EnvVarConfigProvider(env),
        "file": FileConfigProvider(),
        "directory": DirectoryConfigProvider(),
    }


def test_references() -> None:
    assert references("${env:A}-${file:/p/x.properties:k}") == [
        ("env", "", "A"),
        ("file", "/p/x.properties", "k"),
    ]


def test_resolve_all_providers(secrets: Path) -> None:
    props = {
        "connection.password": f"${{file:{secrets}/db.properties:db.password}}",
        "connection.user": "${env:DB_USER}",
        "tls.key": f"${{directory:{secrets}/mounted:tls.key}}",
        "url": "jdbc://${env:DB_HOST}:5432/${env:DB_NAME}",
        "vault": "${vault:secret/data:pw}",
        "plain": "no refs",
    }
    out = resolve(props, providers({"DB_USER": "alice", "DB_HOST": "h", "DB_NAME": "shop"}))  # type: ignore[arg-type]
    assert out == {
        "connection.password": SECRET,
        "connection.user": "alice",
        "tls.key": "-----KEY-----\n",
        "url": "jdbc://h:5432/shop",
        "vault": "${vault:secret/data:pw}",  # unknown provider: untouched
        "plain": "no refs",
    }


def test_properties_format(secrets: Path) -> None:
    props = parse_properties((secrets / "db.properties").read_text())
    assert props == {
        "db.password": SECRET,
        "db.user": "admin",
        "long": "ab",
        "uni": "café",
        "spaced key": "value",
    }


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("${env:MISSING}", "environment variable 'MISSING' not found"),
        ("${file:{dir}/db.properties:nope}", "key 'nope' not found"),
        ("${file:{dir}/absent.properties:k}", "Could not read properties from file"),
        ("${directory:{dir}/mounted:nope}", "key 'nope' not found"),
        ("${directory:{dir}/mounted:nested}", "key 'nested' not found"),
        ("${directory:{dir}/none:k}", "not a directory"),
    ],
)
def test_resolution_errors_name_the_key_not_the_value(secrets: Path, value: str, needle: str) -> None:
    props = {
        "connection.password": f"${{file:{secrets}/db.properties:db.password}}",
        "other": "x-${env:PRESENT}",
        "broken": value.replace("{dir}", str(secrets)),
    }
    with pytest.raises(ConfigException) as info:
        resolve(props, providers({"PRESENT": SECRET}))  # type: ignore[arg-type]
    text = str(info.value)
    assert needle in text and "'broken'" in text
    assert SECRET not in text and SECRET not in repr(info.value.args)


def test_allowed_paths(secrets: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    p = FileConfigProvider()
    p.configure({"allowed.paths": str(elsewhere)})
    with pytest.raises(ConfigException, match="not allowed"):
        p.get(str(secrets / "db.properties"), ["db.password"])
    p.configure({"allowed.paths": str(secrets)})
    assert p.get(str(secrets / "db.properties"), ["db.password"]) == {"db.password": SECRET}
    with pytest.raises(ConfigException, match="not allowed"):
        p.get(str(secrets / ".." / elsewhere.name / "x"), ["k"])


def test_env_allowlist() -> None:
    p = EnvVarConfigProvider({"APP_A": "1", "OTHER": "2"})
    p.configure({"allowlist.pattern": "APP_.*"})
    assert p.get("", ["APP_A", "OTHER"]) == {"APP_A": "1"}
    assert p.get("") == {"APP_A": "1"}


def test_providers_from_worker_config(secrets: Path) -> None:
    worker = {
        "config.providers": "file, env",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        "config.providers.file.param.allowed.paths": str(secrets),
        "config.providers.env.class": "EnvVarConfigProvider",
    }
    ps = providers_from_config(worker)
    assert isinstance(ps["file"], FileConfigProvider) and isinstance(ps["env"], EnvVarConfigProvider)
    assert resolve({"p": f"${{file:{secrets}/db.properties:db.password}}"}, ps) == {"p": SECRET}
    with pytest.raises(ConfigException, match=r"com\.example\.Nope"):
        providers_from_config({"config.providers": "x", "config.providers.x.class": "com.example.Nope"})
    with pytest.raises(ConfigException, match=r"config\.providers\.y\.class"):
        providers_from_config({"config.providers": "y"})
    assert set(default_providers()) == {"env", "file", "directory"}
