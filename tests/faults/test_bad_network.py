"""A bad network does not break the call: real aiortc, the real peer, a lossy relay between.

The relay (``tests/netsim.py``) carries every datagram of the call both ways; the peer's
answer is rewritten so that its only candidate is the relay. Measurements are printed (run
with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import call_for, overlap, watched
from tests.faults.conftest import settings_for
from tests.netsim import BAD_NETWORK, Impairment, NetSim
from vivavoce.realtime import Call, CallState
from vivavoce.realtime.transcript import TranscriptUpdate
from vivavoce.rtc.tracks import MemorySink
from vivavoce.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

#: The issue's impairment: 5 % loss, 40 ms ± 30 ms, some packets held back a further 50 ms.
BAD = BAD_NETWORK
SENTENCE = "please open the main file"
#: Seconds of clean network after which the jitter buffer waits for nothing again
#: (rtc/jitter.py: 6–8 s in simulation; the real call's packets arrive at the same pace).
RELAXED_WITHIN = 10.0


class GapSink(MemorySink):
    """Counts holes in the assistant's audio: a frame whose RTP time is not the previous
    frame's end (aiortc conceals nothing: a packet given up is 20 ms that never plays)."""

    def __init__(self) -> None:
        super().__init__()
        self._next_pts: int | None = None
        self._audible = False
        self.gaps = 0
        self.audible_gaps = 0
        self.missing_ms = 0.0

    def write(self, frame: Any) -> None:
        before = self.audible_frames
        super().write(frame)
        audible = self.audible_frames > before
        if self._next_pts is not None and frame.pts > self._next_pts:
            self.gaps += 1
            self.missing_ms += (frame.pts - self._next_pts) * 1000 / frame.sample_rate
            if audible or self._audible:
                self.audible_gaps += 1
        self._audible = audible
        self._next_pts = frame.pts + frame.samples


def jitter_buffer(call: Call) -> Any:
    """The adaptive jitter buffer of the call's audio receiver (aiortc keeps it private)."""
    receiver: Any = call._pc.getReceivers()[0]  # type: ignore[union-attr]
    return receiver._RTCRtpReceiver__jitter_buffer


async def _collect(call: Call, timeout: float = 40) -> list[TranscriptUpdate]:
    updates: list[TranscriptUpdate] = []

    async def run() -> None:
        async for u in call.transcripts():
            updates.append(u)
            if u.final and u.role == "assistant":
                return

    await asyncio.wait_for(run(), timeout)
    return updates


@pytest.fixture
async def bad_net(peer: Any) -> AsyncIterator[NetSim]:
    """The relay in front of the peer, clean until a test impairs it."""
    async with NetSim(peer.base_url) as net:
        yield net


@pytest.fixture
async def call(bad_net: NetSim, settings: Settings) -> AsyncIterator[Call]:
    """A live call through the relay, its assistant audio in a :class:`GapSink`."""
    call = call_for(settings, base_url=bad_net.base_url, sink=GapSink())
    try:
        await call.start()
        yield call
    finally:
        await call.close()


async def test_a_call_through_5_percent_loss_and_jitter_stays_live_and_understood(
    bad_net: NetSim, call: Call, speak: Callable[[str], Awaitable[Any]]
) -> None:
    sink = call.sink
    assert isinstance(sink, GapSink)
    buffer = jitter_buffer(call)
    bad_net.impairment = BAD
    depths: list[tuple[float, int]] = []
    sampling = asyncio.ensure_future(_sample_depth(buffer, depths))
    try:
        await _impaired_then_clean(bad_net, call, sink, buffer, depths, speak)
    finally:
        sampling.cancel()


async def _impaired_then_clean(
    bad_net: NetSim,
    call: Call,
    sink: GapSink,
    buffer: Any,
    depths: list[tuple[float, int]],
    speak: Callable[[str], Awaitable[Any]],
) -> None:
    collecting = asyncio.ensure_future(_collect(call))
    call.source.feed(await speak(SENTENCE), rate=16000)
    updates = await collecting
    await asyncio.sleep(1.0)  # the end of the reply plays
    heard = next(u.text for u in updates if u.role == "user" and u.final)
    assert overlap(SENTENCE, heard) >= 0.5, heard
    assert call.state is CallState.LIVE
    assert sink.audible_frames > 50, "the assistant's voice did not arrive"
    peak = max(d for _, d in depths)
    counts = bad_net.counts()
    print(
        f"\nimpaired: heard {heard!r}; assistant audio {sink.audible_frames} audible frames, "
        f"{sink.gaps} gaps ({sink.audible_gaps} in speech, {sink.missing_ms:.0f} ms "
        f"missing); jitter buffer depth peak {peak}, late {buffer.late}, skipped "
        f"{buffer.skipped}, dropped {buffer.dropped}; relay {dict(counts)}"
    )
    assert peak >= 1, "the jitter buffer did not grow under jitter"
    assert sink.gaps > 0, "the relay lost nothing?"

    bad_net.impairment = Impairment()
    cleaned = time.monotonic()
    while buffer.depth > 0 and time.monotonic() - cleaned < RELAXED_WITHIN + 5:
        await asyncio.sleep(0.1)
    shrunk_after = time.monotonic() - cleaned
    print(f"clean again: depth {peak} → {buffer.depth} after {shrunk_after:.1f} s")
    assert buffer.depth == 0, "the jitter buffer did not shrink back on a clean network"
    assert shrunk_after <= RELAXED_WITHIN, f"the jitter buffer took {shrunk_after:.1f} s to relax"
    assert call.liveness is not None and call.liveness.probes_sent == 0, "a false alarm"
    assert call.state is CallState.LIVE


async def _sample_depth(buffer: Any, depths: list[tuple[float, int]]) -> None:
    t0 = time.monotonic()
    for _ in range(10_000):
        depths.append((time.monotonic() - t0, buffer.depth))
        await asyncio.sleep(0.1)


async def test_a_3_second_blackout_is_ridden_through_with_nothing_lost(bad_net: NetSim) -> None:
    conv, statuses, messages = watched(settings_for(bad_net.base_url))
    try:
        await conv.start()
        call = conv.realtime.call
        await conv.send_text("remember the word tangerine")
        count = len(statuses)
        bad_net.blackout(3.0)
        typed = asyncio.ensure_future(conv.send_text("what was the word"))
        await asyncio.sleep(3.5)
        await asyncio.wait_for(typed, 20)
        deadline = time.monotonic() + 20
        while conv.turns[-1].role != "assistant" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        changes = [s.state for s in statuses[count:]]
        print(
            f"\nblackout 3 s: states since {changes}, messages {messages}, "
            f"relay {dict(bad_net.counts())}"
        )
        # Either the same call went on (ICE consent and the watchdog keep it) or it was
        # reopened with the conversation; the user hears of it at most once.
        assert len(messages) <= 1
        assert conv.status.state == "live"
        if conv.realtime.call is call:
            assert "reconnecting" not in changes
        texts = [t.text for t in conv.turns]
        assert texts[0] == "remember the word tangerine"
        assert "what was the word" in texts
        assert conv.turns[-1].role == "assistant"
    finally:
        await conv.close()


async def test_a_server_that_sends_nothing_while_quiet_but_answers_checks_is_kept(
    bad_net: NetSim, call: Call
) -> None:
    bad_net.impairment = Impairment(server_media=False)
    await asyncio.sleep(9)
    assert call.liveness is not None
    print(
        f"\nquiet server: {call.liveness.probes_sent} consent checks sent, "
        f"{call.liveness.probes_unanswered} unanswered; relay {dict(bad_net.counts())}"
    )
    assert call.state is CallState.LIVE
    assert call.liveness.probes_sent >= 1


async def test_the_watchdog_notices_a_network_that_never_comes_back(
    bad_net: NetSim, call: Call
) -> None:
    bad_net.blackout(60)
    cut = time.monotonic()
    await asyncio.wait_for(call.wait_closed(), 15)
    noticed = time.monotonic() - cut
    print(f"\nnetwork cut noticed after {noticed:.1f} s: {call.error}")
    assert noticed <= 10
    assert str(call.error).startswith("the server stopped answering")
