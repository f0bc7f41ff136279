"""Bad connector configs get 400 with per-field messages and change nothing; validation over REST;
secrets (PASSWORD keys) never appear in a REST response or in the worker log.

The secret test loads a tiny connector plugin from a temporary ``plugin.path`` directory (the built-in
connectors declare no PASSWORD key), exactly as a third party's plugin would be loaded.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.connect_e2e.files import source_config
from tests.support.connect import ConnectWorker, wait_until
from tests.support.kafka_shapes import CONFIG_KEY_INFO_FIELDS

INVALID_PREFIX = "Connector configuration is invalid and contains the following "
INVALID_SUFFIX = (
    "You can also find the above list of errors at the endpoint "
    "`/connector-plugins/{connectorType}/config/validate`"
)

# (case id, config, {field: substring expected in each of its messages})
INVALID = [
    (
        "source-without-topic",
        {"connector.class": "FileStreamSource", "file": "/tmp/in.txt"},
        {"topic": 'Missing required configuration "topic"'},
    ),
    (
        "unknown-connector-class",
        {"connector.class": "com.example.NoSuchConnector", "topic": "t"},
        {"connector.class": "com.example.NoSuchConnector"},
    ),
    (
        "sink-with-topics-and-regex",
        {"connector.class": "FileStreamSink", "topics": "a,b", "topics.regex": "c.*"},
        {
            "topics": "only one of topics or topics.regex",
            "topics.regex": "only one of topics or topics.regex",
        },
    ),
    (
        "tasks-max-zero",
        {"connector.class": "FileStreamSink", "topics": "a", "tasks.max": "0"},
        {"tasks.max": "Invalid value 0 for configuration tasks.max"},
    ),
    (
        "unknown-transform-type",
        {
            "connector.class": "FileStreamSink",
            "topics": "a",
            "transforms": "route",
            "transforms.route.type": "com.example.NoSuchTransform",
        },
        {"transforms.route.type": "com.example.NoSuchTransform"},
    ),
    (
        "two-errors-at-once",
        {"connector.class": "FileStreamSource", "tasks.max": "0"},
        {"topic": 'Missing required configuration "topic"', "tasks.max": "Value must be at least 1"},
    ),
]


def _check_invalid(body: dict[str, Any], expected: dict[str, str]) -> None:
    """Kafka's body: exactly error_code and message; the reasons are the message's lines."""
    assert list(body) == ["error_code", "message"], body
    assert body["error_code"] == 400, body
    message = body["message"]
    assert message.startswith(INVALID_PREFIX) and message.endswith("\n" + INVALID_SUFFIX), message
    head, *reasons, _ = message.split("\n")
    assert head == f"{INVALID_PREFIX}{len(reasons)} error(s):", message
    for fragment in expected.values():
        assert any(fragment in reason for reason in reasons), (fragment, reasons)


def test_invalid_configs_are_rejected_and_create_nothing(
    worker: ConnectWorker, tmp_path: Path, topic: str
) -> None:
    existing = source_config(tmp_path / "in.txt", topic)
    worker.create("existing", existing)
    before = worker.json("GET", "/connectors")
    assert before == ["existing"]

    for case, config, expected in INVALID:
        name = f"bad-{case}"
        r = worker.post("/connectors", json={"name": name, "config": config})
        assert r.status_code == 400, (case, r.status_code, r.text)
        _check_invalid(r.json(), expected)
        r = worker.put(f"/connectors/{name}/config", json=config)
        assert r.status_code == 400, (case, "PUT", r.status_code, r.text)
        _check_invalid(r.json(), expected)
        assert worker.get(f"/connectors/{name}").status_code == 404, case
        assert worker.json("GET", "/connectors") == before, case

    # An invalid update of an existing connector changes nothing either.
    r = worker.put("/connectors/existing/config", json={**existing, "tasks.max": "0"})
    assert r.status_code == 400, r.text
    assert worker.json("GET", "/connectors/existing/config") == {**existing, "name": "existing"}
    worker.wait_for_state("existing", "RUNNING", ["RUNNING"])
    assert "Created connector bad-" not in worker.log_text()
    assert "Updated connector existing" not in worker.log_text()


def test_validate_endpoint(worker: ConnectWorker) -> None:
    path = "/connector-plugins/FileStreamSource/config/validate"
    body = worker.json(
        "PUT",
        path,
        json={"connector.class": "FileStreamSource", "name": "v", "tasks.max": "0", "file": "/tmp/x"},
    )
    assert body["name"] == "connectors.file.source.FileStreamSourceConnector"
    assert isinstance(body["groups"], list) and "Common" in body["groups"]
    by_name = {c["value"]["name"]: c for c in body["configs"]}
    for c in body["configs"]:
        assert set(c) == {"definition", "value"}
        assert set(c["value"]) == {"name", "value", "recommended_values", "errors", "visible"}
    errors = {n: c["value"]["errors"] for n, c in by_name.items() if c["value"]["errors"]}
    assert set(errors) == {"topic", "tasks.max"}, errors
    assert body["error_count"] == sum(len(v) for v in errors.values()) == 2
    assert by_name["file"]["value"]["value"] == "/tmp/x"
    definition = by_name["topic"]["definition"]
    assert definition["name"] == "topic" and definition["type"] == "STRING" and definition["required"] is True
    assert list(definition) == CONFIG_KEY_INFO_FIELDS

    ok = worker.json(
        "PUT", path, json={"connector.class": "FileStreamSource", "name": "v", "topic": "t", "file": "/tmp/x"}
    )
    assert ok["error_count"] == 0, [c["value"] for c in ok["configs"] if c["value"]["errors"]]

    sink = worker.json(
        "PUT",
        "/connector-plugins/FileStreamSink/config/validate",
        json={"connector.class": "FileStreamSink", "name": "v", "topics": "a", "topics.regex": "b"},
    )
    assert sink["error_count"] == 2

    r = worker.put("/connector-plugins/NoSuchPlugin/config/validate", json={"name": "v"})
    assert r.status_code == 404, r.text
    r = worker.put(path, json={"connector.class": "FileStreamSink", "name": "v"})
    assert r.status_code == 400, r.text
    assert worker.json("GET", "/connectors") == []


# ------------------------------------------------------------------------------------------- secrets

SECRET = "Sup3r-S3cret-Value-91f2"
SECRET2 = "An0ther-S3cret-Value-7c1d"
SHORT_SECRET = "pw-Qz7"  # fails the plugin's validator
UNRESOLVED_SECRET = "Unkn0wn-Class-S3cret-44aa"

SECRET_PLUGIN = textwrap.dedent(
    '''
    """A test-only source connector with a PASSWORD key (loaded from plugin.path)."""

    import hashlib
    import threading

    from connect.api import ConfigDef, ConfigException, SourceConnector, SourceTask

    def _min_length(name, value):
        if len(value.value) < 8:
            raise ConfigException(name, value, "must have at least 8 characters")

    CONFIG = (
        ConfigDef()
        .define("topic", "string", importance="high", doc="Topic.")
        .define("auth.passphrase", "password", importance="high", doc="A secret.", validator=_min_length)
        .define("probe.file", "string", importance="low", doc="Where the task reports what it got.")
    )


    class SecretSourceConnector(SourceConnector):
        def version(self):
            return "1.0"

        def config(self):
            return CONFIG

        def start(self, props):
            CONFIG.parse(props)
            self._props = dict(props)

        def task_class(self):
            return SecretSourceTask

        def task_configs(self, max_tasks):
            return [dict(self._props)]

        def stop(self):
            pass


    class SecretSourceTask(SourceTask):
        def __init__(self):
            self._stop = threading.Event()

        def version(self):
            return "1.0"

        def start(self, props):
            values = CONFIG.parse(props)
            digest = hashlib.sha256(values["auth.passphrase"].value.encode()).hexdigest()
            with open(values["probe.file"], "w") as f:
                f.write(digest)

        def poll(self):
            self._stop.wait(0.2)
            return None

        def stop(self):
            self._stop.set()
    '''
)


@pytest.fixture
def secret_worker(start_worker: Any, tmp_path: Path) -> ConnectWorker:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "secret_plugin.py").write_text(SECRET_PLUGIN)
    worker: ConnectWorker = start_worker({"plugin.path": str(plugins)}, log_level="DEBUG")
    return worker


def test_password_values_never_shown(secret_worker: ConnectWorker, tmp_path: Path, topic: str) -> None:
    w = secret_worker
    plugins = [p["class"] for p in w.json("GET", "/connector-plugins")]
    assert any(p.endswith("SecretSourceConnector") for p in plugins), plugins
    probe = tmp_path / "probe.txt"
    config = {
        "connector.class": "SecretSourceConnector",
        "topic": topic,
        "auth.passphrase": SECRET,
        "probe.file": str(probe),
    }
    responses: list[str] = []

    def call(method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        r = w.request(method, path, **kwargs)
        responses.append(f"{method} {path} -> {r.status_code}: {r.text}")
        assert r.status_code == expect, responses[-1]
        return r.json() if r.content else None

    created = call("POST", "/connectors", 201, json={"name": "sec", "config": config})
    assert created["config"]["auth.passphrase"] == "[hidden]"
    w.wait_for_state("sec", "RUNNING", ["RUNNING"])
    # The task got the real value: masking is for output only.
    digest = wait_until("the probe file", lambda: probe.exists() and probe.read_text(), 10)
    assert digest == hashlib.sha256(SECRET.encode()).hexdigest()

    assert call("GET", "/connectors/sec")["config"]["auth.passphrase"] == "[hidden]"
    assert call("GET", "/connectors/sec/config")["auth.passphrase"] == "[hidden]"
    assert call("GET", "/connectors/sec/tasks")[0]["config"]["auth.passphrase"] == "[hidden]"
    expanded = call("GET", "/connectors", params=[("expand", "info"), ("expand", "status")])
    assert expanded["sec"]["info"]["config"]["auth.passphrase"] == "[hidden]"
    call("GET", "/connectors/sec/status")
    validated = call(
        "PUT", "/connector-plugins/SecretSourceConnector/config/validate", json={**config, "name": "sec"}
    )
    assert validated["error_count"] == 0
    value = next(c["value"] for c in validated["configs"] if c["value"]["name"] == "auth.passphrase")
    assert value["value"] == "[hidden]"
    definition = next(
        c["definition"] for c in validated["configs"] if c["value"]["name"] == "auth.passphrase"
    )
    assert definition["type"] == "PASSWORD"

    # An update with another secret, and a restart: still masked everywhere.
    updated = call("PUT", "/connectors/sec/config", json={**config, "auth.passphrase": SECRET2})
    assert updated["config"]["auth.passphrase"] == "[hidden]"
    call("POST", "/connectors/sec/restart", 202, params={"includeTasks": "true"})
    w.wait_for_state("sec", "RUNNING", ["RUNNING"])
    wait_until(
        "the task to see the new secret",
        lambda: probe.read_text() == hashlib.sha256(SECRET2.encode()).hexdigest(),
        10,
    )

    # A secret failing validation: the 400 names the field, not the value.
    bad = call(
        "POST",
        "/connectors",
        400,
        json={"name": "sec2", "config": {**config, "auth.passphrase": SHORT_SECRET}},
    )
    assert "auth.passphrase" in bad["message"], bad
    # Unknown class: nothing declares the key, yet a secret-looking name is still masked.
    bad = call(
        "POST",
        "/connectors",
        400,
        json={
            "name": "sec3",
            "config": {"connector.class": "com.example.Missing", "database.password": UNRESOLVED_SECRET},
        },
    )
    validated = call(
        "PUT",
        "/connector-plugins/SecretSourceConnector/config/validate",
        json={**config, "name": "sec", "auth.passphrase": SHORT_SECRET},
    )
    assert validated["error_count"] == 1

    call("DELETE", "/connectors/sec", 204)
    w.stop()

    everything = "\n".join(responses)
    log = w.log_text()
    for secret in (SECRET, SECRET2, SHORT_SECRET, UNRESOLVED_SECRET):
        assert secret not in everything, f"secret {secret} in a REST response:\n" + "\n".join(
            r for r in responses if secret in r
        )
        leaked = [line for line in log.splitlines() if secret in line]
        assert not leaked, f"secret {secret} in the worker log:\n" + "\n".join(leaked[:5])
    assert "[hidden]" in everything
    assert json.dumps(SECRET) not in log
