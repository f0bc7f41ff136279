"""Reading the files a worker starts from: connector configs (``.json`` or ``.properties``) and worker
properties (``--worker-config`` plus ``--set`` overrides), with one-line errors for bad input.

Called by the composition root (``headrace.cli``, ``headrace.launcher``, the demo) and by tests, on the
calling thread; nothing here starts anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connect.api.errors import ConfigException
from connect.runtime.worker_config import WorkerConfig, unknown_keys
from kafka_common.properties import PropertiesError, parse_properties

__all__ = ["LaunchError", "build_worker_config", "load_connector_file", "worker_properties"]

log = logging.getLogger("connect.worker")


class LaunchError(Exception):
    """Bad input at start-up: the CLI prints it as one line and exits non-zero."""


def load_connector_file(path: Path) -> dict[str, str]:
    """A connector config from ``.json`` (``{"name", "config"}`` or a flat map) or ``.properties``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise LaunchError(f"cannot read connector config {path}: {exc.strerror}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise LaunchError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise LaunchError(f"{path}: expected a JSON object")
        if isinstance(data.get("config"), dict):
            config = {k: _str(v) for k, v in data["config"].items()}
            if "name" in data:
                config.setdefault("name", str(data["name"]))
        else:
            config = {k: _str(v) for k, v in data.items()}
    else:
        try:
            config = parse_properties(text)
        except PropertiesError as exc:
            raise LaunchError(f"{path}: {exc}") from None
    if not config.get("name"):
        raise LaunchError(f"{path}: the connector config has no 'name'")
    return config


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, dict | list) else str(v)


def worker_properties(file: str | None, overrides: Mapping[str, str]) -> dict[str, str]:
    props: dict[str, str] = {}
    if file:
        try:
            props.update(parse_properties(Path(file).read_text()))
        except OSError as exc:
            raise LaunchError(f"cannot read --worker-config {file}: {exc.strerror}") from None
        except PropertiesError as exc:
            raise LaunchError(f"--worker-config {file}: {exc}") from None
    props.update(overrides)
    return props


def build_worker_config(props: Mapping[str, str]) -> WorkerConfig:
    """The worker's config; an invalid value is a :class:`LaunchError`, an unknown key a warning (with
    the closest known key), as Kafka logs supplied-but-unknown configs."""
    try:
        config = WorkerConfig(props)
    except ConfigException as exc:
        raise LaunchError(f"invalid worker config: {exc}") from None
    for line in unknown_keys(props):
        log.warning("%s", line)
    return config
