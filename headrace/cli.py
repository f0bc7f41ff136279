"""The ``headrace`` command line: ``broker``, ``standalone``, ``distributed`` and ``demo``.

Every long-running command stops cleanly on SIGTERM/SIGINT and exits non-zero with a one-line
reason on bad input.
"""

from __future__ import annotations

import argparse
import errno
import gc
import importlib.metadata
import logging
import sys
from pathlib import Path


def _version() -> str:
    try:
        return importlib.metadata.version("headrace")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"headrace: --set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _broker_config(args: argparse.Namespace) -> object:
    from broker.config import BrokerConfig, BrokerConfigError, PropertiesError, parse_properties

    props: dict[str, str] = {}
    if args.config:
        try:
            props.update(parse_properties(Path(args.config).read_text()))
        except OSError as exc:
            raise SystemExit(f"headrace: cannot read --config {args.config}: {exc.strerror}") from None
        except PropertiesError as exc:
            raise SystemExit(f"headrace: --config {args.config}: {exc}") from None
    props.update(_parse_sets(args.set))
    try:
        return BrokerConfig.from_properties(Path(args.data_dir), args.host, args.port, props)
    except BrokerConfigError as exc:
        raise SystemExit(f"headrace: invalid broker config: {exc}") from None


def cmd_broker(args: argparse.Namespace) -> int:
    from broker.log.errors import LogDirLockedError
    from broker.server import run

    config = _broker_config(args)
    try:
        run(config)  # type: ignore[arg-type]
    except LogDirLockedError as exc:
        print(f"headrace: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"headrace: broker failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _worker_props(args: argparse.Namespace) -> dict[str, str]:
    from connect.runtime.config_files import worker_properties

    props = worker_properties(args.worker_config, _parse_sets(args.set))
    if args.bootstrap_servers:
        props["bootstrap.servers"] = args.bootstrap_servers
    return props


def _freeze_startup_heap() -> None:
    """Keep the started worker's heap (modules, the REST app, plugins) out of every later garbage
    collection: collect once, then ``gc.freeze()``. Record conversion allocates objects fast enough to
    trigger a full collection every few tens of thousands of records, and rescanning that long-lived
    heap each time cost a sink task ~25% of its throughput. Worker processes only (the CLI)."""
    gc.collect()
    gc.freeze()


def _cannot_listen(args: argparse.Namespace, exc: OSError) -> str:
    hint = (
        " (choose another with --rest-port, or 0 for any free port)" if exc.errno == errno.EADDRINUSE else ""
    )
    return f"headrace: cannot listen on {args.rest_host}:{args.rest_port}: {exc.strerror or exc}{hint}"


def cmd_standalone(args: argparse.Namespace) -> int:
    from connect.runtime.config_files import load_connector_file
    from headrace.launcher import LaunchError, StandaloneWorker, wait_for_signal

    try:
        props = _worker_props(args)
        if args.offsets_file:
            props["offset.storage.file.filename"] = args.offsets_file
        connectors = [load_connector_file(Path(p)) for p in args.connectors]
        worker = StandaloneWorker(props, args.rest_host, args.rest_port)
    except LaunchError as exc:
        print(f"headrace: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the REST port is taken
        print(_cannot_listen(args, exc), file=sys.stderr)
        return 1
    try:
        worker.start()
    except OSError as exc:
        print(f"headrace: cannot start the worker: {exc}", file=sys.stderr)
        return 1
    _freeze_startup_heap()
    try:
        for config in connectors:
            worker.add_connector(config)
        print(
            f"Headrace standalone worker: REST API at http://{args.rest_host}:{worker.rest_port}/ "
            f"(connectors: {', '.join(c['name'] for c in connectors) or 'none yet'})",
            file=sys.stderr,
            flush=True,
        )
        wait_for_signal()
    except LaunchError as exc:
        print(f"headrace: {exc}", file=sys.stderr)
        return 2
    finally:
        worker.stop()
    return 0


def cmd_distributed(args: argparse.Namespace) -> int:
    from headrace.launcher import DistributedWorker, LaunchError, wait_for_signal

    try:
        props = _worker_props(args)
        if args.group_id:
            props["group.id"] = args.group_id
        worker = DistributedWorker(props, args.rest_host, args.rest_port)
    except LaunchError as exc:
        print(f"headrace: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the REST port is taken
        print(_cannot_listen(args, exc), file=sys.stderr)
        return 1
    try:
        worker.start()
    except Exception as exc:  # broker unreachable, internal topics unusable, port taken
        servers = worker.config.bootstrap_servers
        print(f"headrace: cannot start the worker (bootstrap.servers={servers}): {exc}", file=sys.stderr)
        worker.stop()
        return 1
    _freeze_startup_heap()
    try:
        print(
            f"Headrace distributed worker: REST API at http://{args.rest_host}:{worker.rest_port}/ "
            f"(group {worker.config.get('group.id')})",
            file=sys.stderr,
            flush=True,
        )
        wait_for_signal()
    finally:
        worker.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from headrace.demo import run_demo

    return run_demo(args)


def _add_log_level(parser: argparse.ArgumentParser, default: object) -> None:
    """``--log-level`` is accepted before and after the subcommand; the subcommand's copy defaults to
    SUPPRESS so it only overrides the top-level value when given."""
    parser.add_argument(
        "--log-level",
        default=default,
        type=_log_level,
        help="DEBUG, INFO, WARNING, ERROR (default INFO; WARNING for the demo)",
    )


def _log_level(value: str) -> str:
    if value.upper() not in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"):
        raise argparse.ArgumentTypeError(f"unknown level {value!r} (DEBUG, INFO, WARNING, ERROR)")
    return "WARNING" if value.upper() == "WARN" else value.upper()


def _add_worker_options(parser: argparse.ArgumentParser) -> None:
    """The options both worker commands take (standalone and distributed)."""
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default localhost:9092)")
    parser.add_argument("--rest-host", default="127.0.0.1", help="REST listen address (default 127.0.0.1)")
    parser.add_argument(
        "--rest-port", type=int, default=8083, help="REST port (default 8083; 0 = any free port)"
    )
    parser.add_argument("--worker-config", help="a Kafka Connect worker.properties file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one worker property (repeatable); flags win over the file",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="headrace", description="Headrace: Kafka-compatible broker and connectors"
    )
    p.add_argument("--version", action="version", version=f"headrace {_version()}")
    _add_log_level(p, default=None)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("broker", help="run the included Kafka-protocol broker in the foreground")
    b.add_argument("--data-dir", default="./data/broker", help="where the log lives (default ./data/broker)")
    b.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    b.add_argument("--port", type=int, default=9092, help="listen port (default 9092)")
    b.add_argument("--config", help="a Kafka-style server.properties file")
    b.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one broker property (repeatable), e.g. --set num.partitions=3",
    )
    _add_log_level(b, default=argparse.SUPPRESS)
    b.set_defaults(func=cmd_broker)

    s = sub.add_parser("standalone", help="run a standalone Connect worker with the given connectors")
    s.add_argument("connectors", nargs="*", metavar="CONNECTOR.json|.properties")
    _add_worker_options(s)
    s.add_argument("--offsets-file", help="where source offsets are kept (default ./data/connect.offsets)")
    _add_log_level(s, default=argparse.SUPPRESS)
    s.set_defaults(func=cmd_standalone)

    w = sub.add_parser("distributed", help="run one worker of a distributed Connect cluster")
    _add_worker_options(w)
    w.add_argument("--group-id", help="the Connect cluster to join (group.id; required here or in the file)")
    _add_log_level(w, default=argparse.SUPPRESS)
    w.set_defaults(func=cmd_distributed)

    d = sub.add_parser("demo", help="start an embedded broker and run a pipeline with live progress")
    d.add_argument("--data-dir", default=None, help="keep data here (default: a temporary directory)")
    d.add_argument("--port", type=int, default=0, help="broker port (default: a free port)")
    d.add_argument(
        "--messages", type=int, default=200_000, help="how many records the demo moves (default 200000)"
    )
    d.add_argument(
        "--rows",
        type=int,
        default=20_000,
        help="rows inserted into the SQLite source table of the database pipeline (default 20000; 0: skip)",
    )
    d.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to keep serving after the pipeline finishes (default: until Ctrl-C)",
    )
    _add_log_level(d, default=argparse.SUPPRESS)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level or ("WARNING" if args.command == "demo" else "INFO"))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
