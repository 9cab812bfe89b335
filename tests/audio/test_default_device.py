"""Following the system's default devices when none is chosen, mid-call (a real PulseAudio).

PortAudio opens the sound server's "default" device; PulseAudio (≥ 15; PipeWire likewise) moves
such streams when the user picks another default, so a call follows a headset plugged in while
it runs. Devices chosen by name stay where they are; PortAudio's list is re-read between calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vivavoce.audio import open_audio
from vivavoce.audio.playback import tone

from .conftest import Pulse, samples_of
from .test_call import audible_seconds, call_settings, running


@pytest.mark.slow
async def test_a_new_default_headset_is_followed_mid_call(pulse: Pulse, peer: Any) -> None:
    pulse.pactl("load-module", "module-null-sink", "sink_name=vv_headset")
    levels: list[float] = []
    audio = await open_audio(call_settings(peer, echo_cancellation="off"), levels.append)
    try:
        await running(audio)
        # The user plugs a headset in: it becomes the default speaker and microphone.
        pulse.pactl("set-default-sink", "vv_headset")
        pulse.pactl("set-default-source", "vv_headset.monitor")
        await asyncio.sleep(0.5)
        async with pulse.record("vv_headset.monitor") as headset, pulse.record() as old:
            audio.play(tone(1.5), 48000)
            await asyncio.sleep(2.5)
        assert audible_seconds(samples_of(headset)) > 1.0  # the assistant is in the headset
        assert audible_seconds(samples_of(old)) < 0.1  # and no longer in the old speaker
        # The headset's microphone (here: what the headset plays) reaches the call.
        levels.clear()
        await pulse.play(tone(1.0), 48000, device="vv_headset")
        await asyncio.sleep(0.3)
        assert max(levels) > -30, levels
        levels.clear()
        await pulse.play(tone(1.0), 48000)  # the old microphone: no longer heard
        await asyncio.sleep(0.3)
        assert max(levels) < -60, levels
    finally:
        await audio.close()
