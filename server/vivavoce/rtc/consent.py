"""ICE consent freshness (RFC 7675) that a busy event loop does not fail.

aioice checks consent every 4–6 s with one STUN request and **no retransmission**, so an answer
later than 0.5 s (its first retransmission timeout) counts as none, and six in a row close the
connection. Measured with 16 calls on one ``vivavoce peer`` on a loaded 2-core machine (issue
17): both event loops fell behind, each call's UDP socket held up to 250 KB of unread packets,
every consent answer waited seconds behind them, and every call on both sides was closed ≈ 30 s
into the load ("Consent to send expired"), though both ends were alive and answering.

RFC 7675 asks only that consent be lost when no answer came for 30 s. :func:`install` makes
each check wait for its answer up to :data:`RETRANSMISSIONS` retransmissions (0.5 + 1 + 2 +
4 = 7.5 s), so a late answer still counts; six checks unanswered still close the connection
(≈ 40 s instead of ≈ 30 s). The client notices a dead server much sooner anyway, through
:mod:`.liveness` (its own probes, its own timeouts), which this does not touch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

__all__ = ["RETRANSMISSIONS", "install"]

log = logging.getLogger(__name__)

#: Retransmissions of each consent check (aioice: 0); its answer may come 7.5 s later.
RETRANSMISSIONS = 3

_installed = False


def install() -> None:
    """Replace aioice's consent check loop with one that waits for late answers (idempotent)."""
    global _installed
    if _installed:
        return
    import aioice.ice
    from aioice import stun

    async def query_consent(self: Any) -> None:
        # aioice's own loop (aioice 0.10–0.13), with retransmissions for each check.
        failures = 0
        while True:
            interval = aioice.ice.CONSENT_INTERVAL
            await asyncio.sleep(interval * (0.8 + 0.4 * random.random()))  # noqa: S311
            for pair in list(self._nominated.values()):
                request = self.build_request(pair, nominate=False)
                try:
                    await pair.protocol.request(
                        request,
                        pair.remote_addr,
                        integrity_key=self.remote_password.encode("utf8"),
                        retransmissions=RETRANSMISSIONS,
                    )
                    failures = 0
                except stun.TransactionError:
                    failures += 1
                if failures >= aioice.ice.CONSENT_FAILURES:
                    log.info("ICE consent expired: %d checks unanswered", failures)
                    self._query_consent_task = None
                    await self.close()
                    return

    setattr(aioice.ice.Connection, "query_consent", query_consent)  # noqa: B010 - no hook
    _installed = True
