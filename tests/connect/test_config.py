"""ConfigDef: parsing, validation collecting every error, secrets never shown, docs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connect.api import (
    NO_DEFAULT,
    AbstractConfig,
    CaseInsensitiveValidString,
    CompositeValidator,
    ConfigDef,
    ConfigException,
    ConfigType,
    Importance,
    LambdaValidator,
    NonEmptyString,
    Password,
    Range,
    ValidList,
    ValidString,
)

SECRET = "s3cr3t-Pa55"


def definition() -> ConfigDef:
    return (
        ConfigDef()
        .define("connection.url", "string", importance="high", doc="URL of the database.", group="Connection")
        .define(
            "connection.password", ConfigType.PASSWORD, None, Importance.HIGH, "Password.", group="Connection"
        )
        .define("api.token", "string", None, "high", "Token.", secret=True, validator=NonEmptyString())
        .define("batch.size", "int", 3000, "medium", "Rows per query.", validator=Range.between(1, 10000))
        .define("poll.interval.ms", "long", 5000, "medium", "Poll interval.", validator=Range.at_least(0))
        .define("mode", "string", "bulk", "high", "Mode.", validator=ValidString.in_("bulk", "incrementing"))
        .define(
            "format",
            "string",
            "json",
            "low",
            "Format.",
            validator=CaseInsensitiveValidString.in_("JSON", "avro"),
        )
        .define("tables", "list", "", "medium", "Tables.", validator=ValidList.in_("a", "b", "c"))
        .define("enabled", "boolean", True, "low", "Enabled.")
        .define("ratio", "double", 0.5, "low", "Ratio.", validator=lambda name, v: 0 <= v <= 1)
        .define("port", "short", 5432, "low", "Port.")
        .define("class", "class", "connect.api.Struct", "low", "A class.")
    )


def test_parse_types_and_defaults() -> None:
    parsed = definition().parse(
        {
            "connection.url": "  jdbc:x ",
            "connection.password": SECRET,
            "batch.size": "100",
            "tables": "a, b ,c",
            "enabled": "FALSE",
            "ratio": "0.25",
            "unknown.key": "ignored",
        }
    )
    assert parsed["connection.url"] == "jdbc:x"
    assert parsed["connection.password"] == Password(SECRET)
    assert parsed["connection.password"].value == SECRET
    assert parsed["batch.size"] == 100 and parsed["poll.interval.ms"] == 5000
    assert parsed["tables"] == ["a", "b", "c"] and parsed["enabled"] is False and parsed["ratio"] == 0.25
    assert parsed["api.token"] is None and parsed["port"] == 5432
    assert "unknown.key" not in parsed


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, 'Missing required configuration "connection.url" which has no default value.'),
        (
            {"connection.url": "x", "batch.size": "many"},
            "Invalid value many for configuration batch.size: Not a number",
        ),
        ({"connection.url": "x", "batch.size": "0"}, "Value must be at least 1"),
        ({"connection.url": "x", "enabled": "yes"}, "Expected value to be either true or false"),
        ({"connection.url": "x", "mode": "BULK"}, "String must be one of: bulk, incrementing"),
        ({"connection.url": "x", "port": "70000"}, "Not a number of type SHORT"),
        ({"connection.url": "x", "ratio": "2"}, "Invalid value 2.0 for configuration ratio"),
        ({"connection.url": "x", "tables": "a,d"}, "Invalid value d"),
    ],
)
def test_parse_raises_config_exception(props: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigException) as info:
        definition().parse(props)
    assert message in str(info.value)


def test_validate_collects_all_errors_and_never_raises() -> None:
    results = definition().validate(
        {"batch.size": "0", "mode": "nope", "enabled": "maybe", "format": "AVRO", "ratio": "x", "tables": "z"}
    )
    errors = {v.name: v.error_messages for v in results if v.error_messages}
    assert set(errors) == {"connection.url", "batch.size", "mode", "enabled", "ratio", "tables"}
    assert errors["connection.url"] == [
        'Missing required configuration "connection.url" which has no default value.'
    ]
    assert all(len(m) == 1 for m in errors.values())
    assert [v.name for v in results] == definition().names()
    by_name = {v.name: v for v in results}
    assert by_name["format"].value == "AVRO" and not by_name["format"].error_messages


def test_validate_survives_a_broken_validator() -> None:
    def boom(name: str, value: Any) -> None:
        raise RuntimeError("kaput")

    d = ConfigDef().define("x", "string", NO_DEFAULT, "low", "", validator=boom)
    [result] = d.validate({"x": "y"})
    assert result.error_messages and "kaput" in result.error_messages[0]


class TestSecretsNeverLeak:
    def props(self) -> dict[str, str]:
        return {"connection.url": "jdbc:x", "connection.password": SECRET, "api.token": SECRET}

    def test_password_str_repr(self) -> None:
        p = Password(SECRET)
        assert str(p) == repr(p) == f"{p}" == "[hidden]"
        assert SECRET not in repr({"p": p}) and SECRET not in repr([p])

    def test_mask(self) -> None:
        masked = definition().mask({**self.props(), "other": "visible"})
        assert masked["connection.password"] == "[hidden]" and masked["api.token"] == "[hidden]"
        assert masked["other"] == "visible" and masked["connection.url"] == "jdbc:x"
        assert SECRET not in repr(masked)
        # a pure reference to a config provider is not a secret and stays readable
        ref = "${file:/etc/secrets.properties:db.password}"
        assert definition().mask({"connection.password": ref})["connection.password"] == ref

    def test_parsed_and_connector_config(self) -> None:
        config = AbstractConfig(definition(), self.props())
        assert config.get_password("connection.password") == Password(SECRET)
        assert SECRET not in repr(config)
        assert SECRET not in repr(config.values()).replace(
            "api.token': '" + SECRET, ""
        )  # only the plain secret key

    def test_validate_output(self) -> None:
        results = definition().validate(self.props())
        assert SECRET not in repr(results)
        assert SECRET not in " ".join(str(v.value) for v in results)

    def test_error_messages(self) -> None:
        d = (
            ConfigDef()
            .define("pw", "password", NO_DEFAULT, "high", "", validator=ValidString.in_("a"))
            .define("tok", "int", 1, "high", "", secret=True)
            .define("key", "string", None, "high", "", secret=True, validator=lambda n, v: v.startswith("x"))
            .define("boom", "string", None, "high", "", secret=True, validator=lambda n, v: 1 / 0)
        )
        props = {"pw": SECRET, "tok": SECRET, "key": SECRET, "boom": SECRET}
        text = repr(d.validate(props))
        assert SECRET not in text and "[hidden]" in text
        for key in props:
            with pytest.raises(ConfigException) as info:
                d.parse(
                    {**{k: "x1" for k in props if k != key}, "tok": "1", key: SECRET}
                    if key != "pw"
                    else props
                )
            assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)


def test_define_rejects_bad_defaults_and_duplicates() -> None:
    with pytest.raises(ConfigException, match="Invalid default"):
        ConfigDef().define("x", "int", 0, "low", "", validator=Range.at_least(1))
    with pytest.raises(ConfigException):
        ConfigDef().define("x", "int", "zero", "low", "")
    with pytest.raises(ConfigException, match="defined twice"):
        ConfigDef().define("x", "int", 1).define("x", "int", 1)


def test_validators_describe_themselves() -> None:
    assert str(Range.between(1, 5)) == "[1,...,5]" and str(Range.at_least(0)) == "[0,...]"
    assert str(ValidString.in_("a", "b")) == "[a, b]"
    composite = CompositeValidator.of(
        NonEmptyString(), LambdaValidator.with_(lambda n, v: len(v) < 5, "short")
    )
    composite.ensure_valid("x", "abc")
    with pytest.raises(ConfigException, match="short"):
        composite.ensure_valid("x", "abcdef")


def test_docs() -> None:
    rst = definition().to_rst()
    assert rst.index("``connection.url``") < rst.index("``batch.size``")  # required keys first
    assert "  * Type: int\n  * Default: 3000\n  * Valid Values: [1,...,10000]\n  * Importance: medium" in rst
    assert "``connection.password``" in rst and "Default: null" in rst
    md = definition().to_markdown()
    assert "### `mode`" in md and "* Valid Values: `[bulk, incrementing]`" in md
    hidden = ConfigDef().define("pw", "password", "dflt-secret", "high", "").to_rst()
    assert "dflt-secret" not in hidden and "[hidden]" in hidden


def test_config_keys_metadata() -> None:
    keys = definition().config_keys()
    url = keys["connection.url"]
    assert (
        url.required
        and url.group == "Connection"
        and url.order_in_group == 1
        and url.display_name == "connection.url"
    )
    assert keys["connection.password"].order_in_group == 2 and keys["connection.password"].secret
    assert keys["batch.size"].default_string() == "3000" and keys["tables"].default_value == []


def test_connector_config_getters() -> None:
    config = AbstractConfig(definition(), {"connection.url": "u", "x.a": "1", "x.b": "2"})
    assert config.get_string("connection.url") == "u" and config.get_int("batch.size") == 3000
    assert config.get_boolean("enabled") is True and config.get_list("tables") == []
    assert config.get_double("ratio") == 0.5 and config["mode"] == "bulk"
    assert config.originals_with_prefix("x.") == {"a": "1", "b": "2"}
    with pytest.raises(ConfigException, match="Unknown configuration"):
        config.get("nope")
    with pytest.raises(ConfigException):
        AbstractConfig(definition(), {})


def test_unknown_worker_properties_are_reported_with_did_you_mean(caplog: pytest.LogCaptureFixture) -> None:
    from connect.runtime.config_files import build_worker_config

    props = {
        "offset.flush.intervall.ms": "1000",  # misspelled
        "bootstrap.servers": "127.0.0.1:9092",
        "producer.linger.ms": "5",  # passed to the producer
        "config.providers.env.class": "EnvVarConfigProvider",
        "value.converter.schemas.enable": "false",
        "sasl.mechanism": "PLAIN",
        "completely.unrelated.key": "x",
    }
    with caplog.at_level(logging.WARNING, logger="connect.worker"):
        config = build_worker_config(props)
    assert config.get("offset.flush.interval.ms") == 60000  # the misspelled key did not apply
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "unknown worker property 'completely.unrelated.key' is ignored",
        "unknown worker property 'offset.flush.intervall.ms' is ignored "
        "(did you mean 'offset.flush.interval.ms'?)",
    ]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql+psycopg://app:s3cret@db:5432/x", "postgresql+psycopg://app:[hidden]@db:5432/x"),
        ("mysql+pymysql://root:p%40ss@127.0.0.1/db?x=1", "mysql+pymysql://root:[hidden]@127.0.0.1/db?x=1"),
        ("http://u:p@a:9200,http://v:q@b:9200", "http://u:[hidden]@a:9200,http://v:[hidden]@b:9200"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),  # no password
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("user:pw@host", "user:pw@host"),  # not a URL
        ("${file:/etc/s.properties:url}", "${file:/etc/s.properties:url}"),
    ],
)
def test_passwords_inside_urls_are_masked(given: str, shown: str) -> None:
    from connect.api.config import mask_url_password

    assert mask_url_password(given) == shown
    definition = ConfigDef().define("connection.url", "string", "", "high", "a URL")
    assert definition.mask({"connection.url": given, "other": given}) == {
        "connection.url": shown,
        "other": shown,
    }
