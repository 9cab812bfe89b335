"""Echo cancellation with a real echo path: the virtual speaker feeds the virtual microphone.

The local peer runs VAD and transcription on what the microphone sends. Without cancellation
the assistant hears itself (a user turn starts); with it, its own voice starts no user turn.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from vivavoce.audio import open_audio

from ..conftest import call_for
from .conftest import Pulse
from .test_call import call_settings, event_types, running, wait_for

SPEECH_STARTED = "input_audio_buffer.speech_started"


async def assistant_talks_into_open_mic(
    pulse: Pulse, peer: Any, echo: str, stalls: int = 0
) -> tuple[list[str], dict[str, Any]]:
    pulse.loopback()
    settings = call_settings(peer, echo_cancellation=echo)
    audio = await open_audio(settings, lambda _: None)
    call = call_for(settings, source=audio.source, sink=audio.sink)
    types: list[str] = []
    try:
        await call.start()
        events = asyncio.create_task(event_types(call, types))
        await running(audio)
        await asyncio.sleep(0.5)
        await call.send_text("tell me about the weather in the mountains")
        assert await wait_for(lambda: "output_audio_buffer.started" in types, 30)
        for _ in range(stalls):
            # The loop stalls (a busy machine, a slow handler): microphone blocks and speaker
            # references pile up, and the canceller's reference must be resynchronized.
            await asyncio.sleep(0.6)
            time.sleep(0.3)
        # The reply ends, or (hearing itself) the peer takes the echo for a user's barge-in.
        assert await wait_for(
            lambda: "output_audio_buffer.stopped" in types or SPEECH_STARTED in types, 40
        )
        await asyncio.sleep(2.0)  # any echo still in flight reaches the peer's VAD
        assert (audio.canceller is not None) == (echo == "on")
        stats = audio.stats()
    finally:
        await call.close()
        await audio.close()
        events.cancel()
    return types, stats


@pytest.mark.slow
async def test_with_echo_cancellation_the_assistant_starts_no_user_turn(
    pulse: Pulse, peer: Any
) -> None:
    types, stats = await assistant_talks_into_open_mic(pulse, peer, "on")
    assert SPEECH_STARTED not in types, (types, stats)
    assert stats["playoutMeanDepthMs"] < 120, stats


@pytest.mark.slow
async def test_without_echo_cancellation_the_echo_is_heard(pulse: Pulse, peer: Any) -> None:
    types, _ = await assistant_talks_into_open_mic(pulse, peer, "off")
    assert SPEECH_STARTED in types, types


@pytest.mark.slow
async def test_echo_stays_cancelled_when_the_loop_stalls(pulse: Pulse, peer: Any) -> None:
    """Stalls pile up microphone blocks and their references alike; they stay paired.

    (Pairing used to be reset on any reference backlog, leaving the piled-up microphone
    blocks with a silent reference: their echo went through and started a user turn.)
    """
    types, stats = await assistant_talks_into_open_mic(pulse, peer, "on", stalls=4)
    assert SPEECH_STARTED not in types, (types, stats)
