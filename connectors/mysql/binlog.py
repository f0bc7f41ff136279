"""The binlog connection: pymysqlreplication on a reader thread, started at a position the task owns.

The library is used with ``is_mariadb=False, resume_stream=True, log_file, log_pos`` (which also works
against MariaDB): with ``is_mariadb=True`` it ignores ``log_file``/``log_pos``, and its own reconnects
resume from its memory. The task's position is the truth: every (re)connect is a new
:class:`BinlogReader` at the task's position, and if the library reconnects by itself (an artificial
Rotate event to the file already being read) the reader stops with an error so that the task
reconnects from its own position instead. An artificial Rotate to another file is the server moving on
from a binlog that ended without a Rotate event (the server crashed while writing it): it is kept.

Threading: the reader thread reads and puts events in a bounded queue; the task thread takes them with
:meth:`take`. :meth:`close` may be called from any thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import socket
import threading
from typing import Any, Final

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, RowsEvent, UpdateRowsEvent, WriteRowsEvent

from connectors.mysql.config import Settings

log = logging.getLogger("connectors.mysql")

EVENTS: Final = [
    RotateEvent,
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    XidEvent,
    WriteRowsEvent,
    UpdateRowsEvent,
    DeleteRowsEvent,
]


def _read_time2(self: Any, column: Any) -> dt.timedelta:
    """TIME(fsp) from a row event, as MySQL's ``my_time_packed_from_binary`` reads it.

    Replaces ``RowsEvent.__read_time2`` of pymysqlreplication (1.0), which decodes a negative TIME with
    a fractional part wrongly (``-00:00:01.10`` as ``-00:00:04.46``): negative values are stored with
    the integer part shifted by one and the fraction reversed (fsp 1-4), or as one 48-bit number
    (fsp 5-6)."""
    fsp = column.fsp or 0
    read = self.packet.read
    intpart = int.from_bytes(read(3), "big") - 0x800000
    if fsp in (1, 2):
        frac = read(1)[0]
        if intpart < 0 and frac:
            intpart, frac = intpart + 1, frac - 0x100
        packed = (intpart << 24) + frac * 10_000
    elif fsp in (3, 4):
        frac = int.from_bytes(read(2), "big")
        if intpart < 0 and frac:
            intpart, frac = intpart + 1, frac - 0x10000
        packed = (intpart << 24) + frac * 100
    elif fsp in (5, 6):
        packed = ((intpart + 0x800000) << 24 | int.from_bytes(read(3), "big")) - 0x800000000000
    else:
        packed = intpart << 24
    magnitude = -packed if packed < 0 else packed
    hms = magnitude >> 24
    value = dt.timedelta(
        hours=(hms >> 12) & 0x3FF,
        minutes=(hms >> 6) & 0x3F,
        seconds=hms & 0x3F,
        microseconds=magnitude & 0xFFFFFF,
    )
    return -value if packed < 0 else value


if hasattr(RowsEvent, "_RowsEvent__read_time2"):
    RowsEvent._RowsEvent__read_time2 = _read_time2  # type: ignore[attr-defined]


class ReaderStopped(Exception):
    """The reader ended: ``cause`` is the error (None when closed)."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(str(cause) if cause else "closed")
        self.cause = cause


def _connect(**kwargs: Any) -> Any:
    """pymysql.connect with the keyword names PyMySQL >= 1.1 expects (the library passes the
    deprecated ``db`` and ``passwd``)."""
    if "db" in kwargs:
        kwargs["database"] = kwargs.pop("db")
    if "passwd" in kwargs:
        kwargs["password"] = kwargs.pop("passwd")
    return pymysql.connect(**kwargs)


class BinlogReader:
    def __init__(self, settings: Settings, file: str, pos: int, queue_size: int) -> None:
        self._closed = threading.Event()
        self.file = file
        self.pos = pos
        args = settings.connect_args()
        connection = {
            "host": args["host"],
            "port": args["port"],
            "user": args["user"],
            "password": args["password"],
            "connect_timeout": args["connect_timeout"],
        }
        if "ssl" in args:
            connection["ssl"] = args["ssl"]
        self._stream = BinLogStreamReader(
            connection_settings=connection,
            server_id=settings.server_id,
            resume_stream=True,
            blocking=True,
            log_file=file,
            log_pos=pos,
            only_events=EVENTS,
            is_mariadb=False,
            slave_heartbeat=5,
            enable_logging=False,
            pymysql_wrapper=self._connect,
        )
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name=f"mysql-binlog-{file}:{pos}", daemon=True)
        self._thread.start()

    def _connect(self, **kwargs: Any) -> Any:
        """The library's connection factory: after :meth:`close` the library must not reconnect (it
        would, by itself, when the closed socket fails its read)."""
        if self._closed.is_set():
            raise ReaderStopped(None)
        return _connect(**kwargs)

    def _run(self) -> None:
        current: str | None = None  # the binlog file being read
        put = self._queue.put
        try:
            for event in self._stream:
                if self._closed.is_set():
                    break
                if isinstance(event, RotateEvent):
                    if event.timestamp == 0 and current is not None and event.next_binlog == current:
                        # an artificial Rotate to the file being read: the library reconnected by
                        # itself, from its own memory (possibly inside a transaction)
                        raise ConnectionError(
                            "the binlog client reconnected by itself; reconnecting from the task's position"
                        )
                    # the first artificial Rotate names the start; a real one (or an artificial one to
                    # the next file, sent when a file ended without a Rotate, e.g. after a server
                    # crash) moves to the next file
                    current = event.next_binlog
                put(event)
            put(ReaderStopped(None))
        except BaseException as exc:
            if not self._closed.is_set():
                put(ReaderStopped(exc))
        finally:
            try:
                self._stream.close()
            except Exception:
                pass

    def take(self, timeout: float) -> Any:
        """The next event, None after ``timeout`` s; raises :class:`ReaderStopped` when the reader ended."""
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
        if isinstance(item, ReaderStopped):
            self._queue.put(item)  # stays ended
            raise item
        return item

    def close(self) -> None:
        self._closed.set()
        # Shut the socket down first: the reader thread blocked in a read holds the buffered reader's
        # lock, so closing the connection alone waits for the next packet (up to the 5 s heartbeat).
        sock = getattr(getattr(self._stream, "_stream_connection", None), "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self._stream.close()
        except Exception:
            pass
        try:  # unblock a reader waiting on a full queue
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
