"""The layering rule (docs/ARCHITECTURE.md, "Parts and allowed imports") holds for the whole tree,
and the checker catches each kind of wrong import, including lazy and TYPE_CHECKING ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.layering import PARTS, RULES, check, check_file, rule_for

ROOT = Path(__file__).resolve().parent.parent


def test_the_tree_follows_the_layering_rule() -> None:
    violations = check(ROOT)
    assert not violations, "\n".join(map(str, violations))


def test_every_part_has_a_rule() -> None:
    for part in PARTS:
        assert (ROOT / part).is_dir(), part
        assert rule_for(part) is not None, part


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(root).parents:
        if str(parent) != ".":
            (root / parent / "__init__.py").touch()
    path.write_text(text)
    return path


WRONG = [
    ("connect/runtime/worker.py", "from broker.server import run\n", "broker.server"),
    ("connect/runtime/launcher.py", "def f():\n    from rest.app import create_app\n", "rest.app"),
    (
        "connect/runtime/x.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import rest.models\n",
        "rest.models",
    ),
    ("connectors/mysql/task.py", "from connect.runtime.worker import Worker\n", "connect.runtime.worker"),
    ("connectors/mysql/task.py", "from connect.converters.json import X\n", "connect.converters.json"),
    ("connectors/mysql/task.py", "from connectors.postgres.types import x\n", "connectors.postgres.types"),
    ("plugins/mine.py", "import connect.runtime.plugins\n", "connect.runtime.plugins"),
    ("rest/routes.py", "from connect.runtime.worker import Worker\n", "connect.runtime.worker"),
    ("rest/routes.py", "from broker.config import BrokerConfig\n", "broker.config"),
    ("rest/routes.py", "from connect.api.errors import ConnectException\n", "connect.api.errors"),
    ("broker/apis/x.py", "from connect.api import SinkTask\n", "connect.api"),
    ("broker/apis/x.py", "from ...connect import runtime\n", "connect"),
    ("kafka_common/codec.py", "from broker.log import x\n", "broker.log"),
    ("connect/api/task.py", "import confluent_kafka\n", "confluent_kafka"),
    ("connect/api/task.py", "from connect.runtime import worker\n", "connect.runtime"),
]


@pytest.mark.parametrize(("rel", "text", "imported"), WRONG, ids=[f"{w[0]}:{w[2]}" for w in WRONG])
def test_a_deliberately_wrong_import_is_caught(tmp_path: Path, rel: str, text: str, imported: str) -> None:
    path = _write(tmp_path, rel, text)
    violations = check_file(tmp_path, path)
    assert [v.imported for v in violations] == [imported]
    assert rel in str(violations[0]) and imported in str(violations[0])
    assert check(tmp_path) == violations


RIGHT = [
    ("connectors/mysql/task.py", "from connectors.mysql.config import X\nfrom connect.api import SinkTask\n"),
    ("connectors/mysql/task.py", "from .config import X\nimport pymysql\n"),
    ("connect/runtime/distributed/group_client.py", "from kafka_common.codec import build\n"),
    ("rest/routes.py", "from connect.runtime.herder import Herder\nfrom connect.runtime.models import X\n"),
    ("headrace/cli.py", "from broker.server import run\nfrom rest.app import create_app\n"),
    ("broker/server.py", "from kafka_common.properties import parse_properties\nimport uvloop\n"),
    ("connect/api/task.py", "from __future__ import annotations\nimport abc\nfrom .records import X\n"),
]


@pytest.mark.parametrize(("rel", "text"), RIGHT, ids=[r[0] for r in RIGHT])
def test_allowed_imports_pass(tmp_path: Path, rel: str, text: str) -> None:
    assert check_file(tmp_path, _write(tmp_path, rel, text)) == []


def test_most_specific_rule_wins() -> None:
    assert rule_for("connect.api.task") is RULES[0]
    assert rule_for("connect.runtime.worker") is not RULES[0]
    assert rule_for("connectorsx") is None and rule_for("tests.support") is None
