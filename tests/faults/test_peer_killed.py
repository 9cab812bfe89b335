"""The peer process killed mid-call (SIGKILL): how soon the client notices, and what it does."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import watched
from tests.faults.conftest import settings_for

#: Detection comes from aiortc's ICE consent checks (RFC 7675): ~30 s here.
DETECT_WITHIN = 60.0


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.usefixtures("no_leaks")
async def test_a_peer_killed_mid_call_is_detected_and_the_conversation_falls_back_to_text() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vivavoce", "peer", "--port", "0", "--api-key", "sk-test-faults"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        conv, statuses, messages = watched(settings_for(url))
        await conv.start()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        while conv.status.state == "live" and time.monotonic() - killed < DETECT_WITHIN:
            await asyncio.sleep(0.1)
        detected = time.monotonic() - killed
        print(f"\npeer SIGKILL detected after {detected:.1f} s: {statuses[-1].error}")
        assert conv.status.state != "live", f"not detected within {DETECT_WITHIN} s"
        while not messages and time.monotonic() - killed < DETECT_WITHIN + 30:
            await asyncio.sleep(0.1)
        assert (conv.status.mode, conv.status.state) == ("text", "live")
        assert len(messages) == 1 and "continuing in text mode" in messages[0][1]
        await conv.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
