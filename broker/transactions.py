"""Transactions are not supported yet: how the broker turns a transactional producer away.

A transactional producer (``transactional.id`` set) first asks any broker for its transaction
coordinator (FindCoordinator with key type 1), then asks the coordinator for a producer id
(InitProducerId with the transactional id). Both are answered with TRANSACTIONAL_ID_AUTHORIZATION_FAILED
and :data:`MESSAGE`, the answer of a Kafka broker that will not serve that transactional id:
clients treat it as fatal, so librdkafka's ``init_transactions()`` fails at once with the message
(Java and kafka-python alike). The retriable answers (COORDINATOR_NOT_AVAILABLE, or INVALID_REQUEST
as librdkafka treats it) make clients retry until their timeout with nothing said. The transaction
APIs proper (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit) are not advertised in
ApiVersions, and a Produce carrying a transactional id is refused with the same error.

Called on the event-loop thread only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("broker.transactions")

MESSAGE = (
    "Transactions are not supported by this broker yet (headrace); "
    "use an idempotent producer (enable.idempotence=true) without transactional.id"
)
LOG_INTERVAL_S = 60.0  # one log line per transactional id per interval
_MAX_TRACKED_IDS = 1024


class TransactionRefusals:
    """Refuses transactional requests and logs one line per transactional id (per :data:`LOG_INTERVAL_S`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logged: dict[str, float] = {}

    def refuse(self, transactional_id: str, request: str, client_id: str | None, peer: str) -> str:
        """Log the refusal (rate-limited) and return the error message for the response."""
        now = self._clock()
        last = self._logged.get(transactional_id)
        if last is None or now - last >= LOG_INTERVAL_S:
            if len(self._logged) >= _MAX_TRACKED_IDS:
                self._logged.clear()
            self._logged[transactional_id] = now
            log.warning(
                "transactions are not supported yet: refused %s for transactional.id %r from %s (%s)",
                request,
                transactional_id,
                client_id,
                peer,
            )
        return MESSAGE
