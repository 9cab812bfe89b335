"""The peer process killed mid-call (SIGKILL): how soon the client notices, and what it does.

Detection is the call's liveness watchdog (``vivavoce.rtc.liveness``): nothing received for
4 s, then 4 unanswered ICE consent checks of 0.5 s each. Before it, aiortc's ICE consent
expiry took ≈ 31 s. A quiet, healthy call must never trip it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import watched
from tests.faults.conftest import KEY, settings_for
from vivavoce.rtc.liveness import consent_check

#: The issue's bound; the watchdog's own worst case is ≈ 6.5 s.
DETECT_WITHIN = 10.0


@pytest.fixture
def peer_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A ``vivavoce peer`` process of its own on 127.0.0.1, and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vivavoce", "peer", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline().split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("no_leaks")
async def test_a_peer_killed_mid_call_is_noticed_within_10_s_and_the_conversation_falls_back(
    peer_process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = peer_process
    conv, statuses, messages = watched(settings_for(url))
    try:
        await conv.start()
        call = conv.realtime.call
        assert call is not None
        assert await consent_check(call._pc, 0.5), "a live server answers a consent check"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        while conv.status.state == "live" and time.monotonic() - killed < 40:
            await asyncio.sleep(0.05)
        detected = time.monotonic() - killed
        print(f"\npeer SIGKILL noticed after {detected:.1f} s: {statuses[-1].error}")
        assert detected <= DETECT_WITHIN, f"noticed after {detected:.1f} s"
        assert not await consent_check(call._pc, 0.5)
        assert statuses[-1].error is not None
        assert statuses[-1].error.startswith("the server stopped answering")
        # It tries to reopen the call (the peer is gone), then goes on in text, saying so once.
        while not messages and time.monotonic() - killed < DETECT_WITHIN + 30:
            await asyncio.sleep(0.1)
        assert (conv.status.mode, conv.status.state) == ("text", "live")
        assert len(messages) == 1 and "continuing in text mode" in messages[0][1]
    finally:
        await conv.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_quiet_call_of_30_s_raises_no_false_alarm(
    peer_process: tuple[subprocess.Popen[str], str],
) -> None:
    _, url = peer_process
    conv, statuses, messages = watched(settings_for(url))
    try:
        await conv.start()
        call = conv.realtime.call
        assert call is not None and call.liveness is not None
        count = len(statuses)
        await asyncio.sleep(30)  # neither side speaks
        assert conv.realtime.call is call and conv.status.state == "live"
        assert statuses[count:] == [] and messages == []
        assert call.liveness.probes_sent == 0
        print(f"\nlongest quiet stretch seen: {call.liveness.longest_quiet:.1f} s")
    finally:
        await conv.close()
