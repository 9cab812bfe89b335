"""A call whose packets are late, not lost, stays up (issue 17's load).

With 16 calls on a loaded machine both event loops fell behind, ICE consent answers waited
seconds behind unread audio in the sockets, and aioice, which gives each consent check 0.5 s
and no retransmission, closed every call on both sides ≈ 30 s in, though both were alive
(rtc/consent.py). Here the relay delays every datagram 0.4 s each way (0.8 s round trip) and
consent is checked every ≈ 0.3 s, three misses closing a call: with aioice's own checks the
call does not even come up (consent expires during the seconds-long DTLS handshake); ours wait
for the late answers. ≈ 10 s, most of it the handshake at that delay.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.netsim import Impairment, NetSim
from tests.peer.conftest import CallFactory
from vivavoce.peer.app import RunningPeer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


async def test_a_call_with_late_consent_answers_stays_up(
    echo_peer: RunningPeer, make_call: CallFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)
    async with NetSim(echo_peer.base_url, Impairment(delay=0.4)) as net:
        call = await make_call(net.base_url, with_audio=False, timeout=20.0)
        await asyncio.sleep(4.0)  # ≈ 4 consent checks each way, every answer 0.8 s late
        assert call._pc.connectionState == "connected"
        seen = len(call.events)
        call.send({"type": "conversation.item.retrieve", "item_id": "item_nothing"})
        await call.wait_for("error", timeout=5.0, after=seen)
