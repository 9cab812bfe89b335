"""Notice within seconds that the server of a live call is gone.

Without this, aiortc notices a server that vanished (killed, unplugged, its machine gone) only
through ICE consent freshness (RFC 7675 as aioice implements it): one unanswered check every
4–6 s, six in a row → the connection closes after ≈ 31 s (measured with a ``vivavoce peer``
process killed by SIGKILL mid-call).

What a server sends while neither side speaks (measured, 10 quiet seconds of a call to a
``vivavoce peer`` process): 500 RTP packets (20 ms silence frames, never more than 34 ms apart),
21 RTCP reports, nothing on the data channel. The official client (openai-agents-js,
``OpenAIRealtimeWebRTC``) relies on the browser: libwebrtc marks the connection
``disconnected`` after ≈ 2.5 s without any packet, STUN answers to its own pings included, and
the client closes the call 5 s later — so a browser notices a dead OpenAI server in ≈ 7.5 s
whether or not that server streams silence.

The choice, among the three ways in:

* tuned ICE consent checks: aioice's interval and failure count are module constants, shared
  by every call in the process (the embedded peer included), and checks every second on a
  healthy call are traffic for nothing;
* SCTP heartbeats: aiortc answers them but never sends one, and ignores the acks; it would
  need two private hooks inside its SCTP association;
* a watchdog on what comes in: chosen. :class:`Liveness` reads, every ``tick`` seconds, the
  count of packets the call's DTLS transport received (RTP, RTCP and data channel alike,
  through the public ``getStats()``). A healthy server is never quiet for long — our peer
  sends 50 packets a second — so a call that heard nothing for ``quiet_after`` seconds is
  suspect, but a server that does not stream silence (DTX, or no RTP between answers) must not
  be hung up on for that alone. So, like the browser, the watchdog then asks: up to
  ``probes`` ICE consent checks (a STUN binding request every ICE agent must answer, ICE-lite
  servers included), each given ``probe_timeout`` seconds. Any answer, or any packet arriving
  meanwhile, clears the suspicion; none, and the call is declared dead.

With the defaults a dead server is noticed 4 s + ≤ 0.5 s + 2 s ≈ 6.5 s after its last packet,
under the 10 s asked. A 3-second network blackout is ridden through (the probes span 4–6.5 s
after the last packet, so they are answered once the network is back), and 5 % loss never
leaves 4 s without a packet at 50 packets a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Seconds without any packet from the server before it is asked whether it is there.
QUIET_AFTER = 4.0
#: Consent checks sent then, one after the other, and how long each waits for its answer.
PROBES = 4
PROBE_TIMEOUT = 0.5
#: How often the packet count is read.
TICK = 0.5


class Liveness:
    """Watches one live peer connection; calls ``on_dead(reason)`` once if its server is gone.

    Run :meth:`run` as a background task of the call (it never returns on a healthy call; it
    ends when cancelled or after ``on_dead``).
    """

    def __init__(
        self,
        pc: Any,
        on_dead: Callable[[str], None],
        *,
        quiet_after: float = QUIET_AFTER,
        probes: int = PROBES,
        probe_timeout: float = PROBE_TIMEOUT,
        tick: float = TICK,
    ) -> None:
        self._pc = pc
        self._on_dead = on_dead
        self.quiet_after = quiet_after
        self.probes = probes
        self.probe_timeout = probe_timeout
        self.tick = tick
        #: When a packet from the server was last seen (time.monotonic()).
        self.last_heard = time.monotonic()
        #: Consent checks sent because the server was quiet, and how many went unanswered.
        self.probes_sent = 0
        self.probes_unanswered = 0
        #: The longest stretch without a packet seen so far (seconds, to ``tick`` precision).
        self.longest_quiet = 0.0
        self._received = -1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            if self._pc.connectionState == "closed":
                return  # the call is ending anyway
            if await self._heard():
                continue
            quiet = time.monotonic() - self.last_heard
            self.longest_quiet = max(self.longest_quiet, quiet)
            if quiet < self.quiet_after:
                continue
            if await self._server_answers():
                self.last_heard = time.monotonic()
                continue
            self._on_dead(
                f"the server stopped answering (nothing received for {quiet:.0f} s, "
                f"{self.probes} connectivity checks unanswered)"
            )
            return

    async def _heard(self) -> bool:
        """True when the transport received a packet since the last look."""
        received = await self._packets_received()
        if received != self._received:
            self._received = received
            self.last_heard = time.monotonic()
            return True
        return False

    async def _packets_received(self) -> int:
        report = await self._pc.getStats()
        return sum(
            int(getattr(s, "packetsReceived", 0) or 0)
            for s in report.values()
            if s.type == "transport"
        )

    async def _server_answers(self) -> bool:
        for _ in range(self.probes):
            self.probes_sent += 1
            if await consent_check(self._pc, self.probe_timeout):
                return True
            self.probes_unanswered += 1
            if await self._heard():  # media came back while we asked
                return True
        return False


async def consent_check(pc: Any, wait: float) -> bool:
    """One ICE consent check (RFC 7675) on the selected pair: True if answered within ``wait`` s.

    aiortc has no public way to do this: it builds the request exactly as aioice's own periodic
    consent check does (``Connection.query_consent``), through the ICE transport's aioice
    connection. If that internal shape ever changes, the check counts as unanswered, so the
    watchdog degrades to "silent for ``quiet_after`` seconds means gone" — never to silence.
    """
    from aioice import stun

    try:
        connection = pc.sctp.transport.transport._connection
        pairs = list(connection._nominated.values())
        key = connection.remote_password.encode("utf8")
    except AttributeError:
        log.debug("no ICE connection to check consent on")
        return False
    for pair in pairs:
        request = connection.build_request(pair, nominate=False)
        try:
            await asyncio.wait_for(
                pair.protocol.request(
                    request, pair.remote_addr, integrity_key=key, retransmissions=0
                ),
                wait,
            )
        except (stun.TransactionError, TimeoutError, OSError, AttributeError):
            continue  # no answer, or the socket already gone
        return True
    return False
