"""The logical replication connection: slot creation, ``START_REPLICATION`` and the CopyBoth stream.

psycopg 3 has no replication API, but its low-level ``pgconn`` speaks the protocol: the connection is
opened with ``replication=database``, commands run through the simple query protocol, and the stream
is read with non-blocking ``get_copy_data`` plus ``select`` on the socket, so a read never blocks
longer than the caller's timeout. Progress goes back as standby status updates (``r`` messages): the
*flush* position is what PostgreSQL records as the slot's ``confirmed_flush_lsn`` and may discard WAL
before, so the task sends only positions the runtime has committed.

Owned by the task thread; :meth:`close` may come from ``stop()`` under the task's lock.
"""

from __future__ import annotations

import select
import struct
import time
from typing import Any, Final

import psycopg
from psycopg import pq

from connect.api.errors import ConnectException
from connectors.postgres import catalog
from connectors.postgres.config import Settings
from connectors.postgres.pgoutput import PG_EPOCH_US, lsn_to_str, str_to_lsn

_STATUS: Final = struct.Struct(">cQQQqB")
_KEEPALIVE: Final = struct.Struct(">Qqb")


def _now_pg_us() -> int:
    return int(time.time() * 1_000_000) - PG_EPOCH_US


class ReplicationStream:
    """One replication connection to the captured database."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.conn: psycopg.Connection[Any] = catalog.connect(settings, replication=True)
        self.pg = self.conn.pgconn
        self.streaming = False
        self.received = 0  # the highest WAL position seen (written, for status updates)
        self.flushed = 0  # the position last confirmed as flushed

    def create_slot(self, slot: str, export_snapshot: bool) -> tuple[int, str | None]:
        """``CREATE_REPLICATION_SLOT ... LOGICAL pgoutput``: (consistent point, exported snapshot name)."""
        mode = "EXPORT_SNAPSHOT" if export_snapshot else "NOEXPORT_SNAPSHOT"
        try:
            row = self.conn.execute(f'CREATE_REPLICATION_SLOT "{slot}" LOGICAL pgoutput {mode}').fetchone()
        except psycopg.Error as exc:
            raise ConnectException(
                f"could not create replication slot '{slot}': {str(exc).strip()}"
            ) from None
        assert row is not None
        return str_to_lsn(row[1]), row[2]

    def start(self, slot: str, publication: str, start_lsn: int) -> None:
        """``START_REPLICATION`` from ``start_lsn`` (0: the slot's confirmed position)."""
        pub = publication.replace("'", "''").replace('"', '""')
        command = (
            f'START_REPLICATION SLOT "{slot}" LOGICAL {lsn_to_str(start_lsn)} '
            f"(proto_version '1', publication_names '\"{pub}\"')"
        )
        result = self.pg.exec_(command.encode())
        if result.status != pq.ExecStatus.COPY_BOTH:
            message = (result.error_message or b"").decode(errors="replace").strip()
            raise ConnectException(f"START_REPLICATION on slot '{slot}' failed: {message}")
        self.pg.nonblocking = 1
        self.streaming = True
        self.flushed = max(self.flushed, start_lsn)

    def read(self) -> bytes | None:
        """The next copy message if one is buffered, None if none is (never blocks).

        Raises :class:`psycopg.OperationalError` when the stream ended or the connection broke.
        """
        n, data = self.pg.get_copy_data(1)
        if n > 0:
            return bytes(data)
        if n == 0:
            return None
        result = self.pg.get_result()
        detail = ""
        if result is not None and result.error_message:
            detail = result.error_message.decode(errors="replace").strip()
        elif self.pg.error_message:
            detail = self.pg.error_message.decode(errors="replace").strip()
        self.streaming = False
        raise psycopg.OperationalError(f"replication stream ended: {detail or 'connection closed'}")

    def wait(self, timeout: float) -> None:
        """Block until data may be readable (or ``timeout`` s passed), then pull it into libpq's buffer."""
        if timeout > 0:
            select.select([self.pg.socket], [], [], timeout)
        self.pg.consume_input()  # raises psycopg.OperationalError if the connection broke

    def send_status(self, flush_lsn: int | None = None, reply: bool = False) -> None:
        """A standby status update; ``flush_lsn`` (if higher) becomes the confirmed position."""
        if flush_lsn is not None and flush_lsn > self.flushed:
            self.flushed = flush_lsn
        written = max(self.received, self.flushed)
        message = _STATUS.pack(b"r", written, self.flushed, self.flushed, _now_pg_us(), 1 if reply else 0)
        self.pg.put_copy_data(message)
        self.pg.flush()

    @staticmethod
    def keepalive(message: bytes) -> tuple[int, bool]:
        """(server WAL end, reply requested) of a ``k`` message."""
        wal_end, _ts, reply = _KEEPALIVE.unpack_from(message, 1)
        return wal_end, bool(reply)

    def close(self) -> None:
        self.streaming = False
        try:
            self.conn.close()
        except Exception:
            pass
