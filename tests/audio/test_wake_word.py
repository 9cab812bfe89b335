"""The wake word, end to end: the real language server process with sound devices (the virtual
ones), a wake word set and no call started. The status says it listens for the wake word (not
LIVE) and only the microphone is open, no speaker; flite says "hey viva, what time is it" into
the virtual microphone; the call opens by itself with both devices and the words after the
phrase are the first user turn, answered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from tests.e2e.editor import Editor

from ..conftest import overlap
from .conftest import Pulse, lsp_with_devices

COMMAND = "what time is it in the morning"


@pytest.fixture
async def listening(pulse: Pulse) -> AsyncIterator[Editor]:
    """The real server with the virtual devices and the wake word "hey viva" set."""
    options = {"peer": "embedded", "echoCancellation": "off", "wakeWord": "hey viva"}
    async with lsp_with_devices(options) as editor:
        yield editor


@pytest.mark.slow
async def test_the_wake_word_opens_the_call_and_what_follows_is_the_first_turn(
    pulse: Pulse, listening: Editor, speak: Any
) -> None:
    editor = listening
    # Nobody started anything: the server listens for the wake word, on this machine.
    await editor.until(lambda: any(s["state"] == "listening" for s in editor.statuses), 30)
    first = next(s for s in editor.statuses if s["state"] != "idle")
    assert (first["state"], first["audio"], first["callId"]) == ("listening", "wake", None)
    await editor.until(lambda: any(s["inputLevel"] != 0.0 for s in editor.statuses), 30)
    # Waiting may last all day: only the microphone is open (one 16 kHz recording stream), no
    # speaker (no playback stream: the call's devices open only with the call).
    assert pulse.pactl("list", "short", "sink-inputs") == ""
    (recording,) = pulse.pactl("list", "short", "source-outputs").splitlines()
    assert "1ch 16000Hz" in recording, recording
    # Other speech opens nothing.
    await pulse.play(np.concatenate([await speak("the weather is nice today"),
                                     np.zeros(8000, np.int16)]), 16000)  # fmt: skip
    assert editor.statuses[-1]["state"] == "listening"
    said = np.concatenate([await speak(f"hey viva, {COMMAND}"), np.zeros(16000, np.int16)])
    await pulse.play(said, 16000)
    await editor.until(lambda: bool(editor.finals("assistant")), 60)
    assert pulse.pactl("list", "short", "sink-inputs") != ""  # the call has its speaker
    states = [s["state"] for s in editor.statuses]
    assert states.index("listening") < states.index("connecting") < states.index("live"), states
    assert not any(s["audio"] == "live" for s in editor.statuses[: states.index("live")])
    # The words after the phrase are the first turn, from its first words on: those were said
    # before the call was open (the phrase is heard ≈ 0.5 s after it ends, a call takes ≈ 1 s).
    (heard,) = editor.finals("user")
    assert overlap("what time is it", heard) >= 0.75, heard
    assert "viva" not in heard, heard
    # Stopped, the server listens for the wake word again only after the next start.
    await editor.request("realtime/stop")
    await editor.until(lambda: editor.statuses[-1]["state"] == "listening", 20)
    await editor.request("realtime/stop")
    await editor.until(lambda: editor.statuses[-1]["state"] == "idle", 20)


async def test_what_is_said_while_the_calls_devices_open_is_sent_once(pulse: Pulse) -> None:
    """The phrase heard, the call's devices open while the microphone alone still captures (a
    gap would lose words, an overlap say them twice): the call is given what the microphone
    alone heard up to where its own microphone begins, then its own. Clicks are played all along,
    each one 8 ms further from the last: in what the call would send, they follow on as played."""
    from vivavoce.audio import open_audio
    from vivavoce.audio.listen import open_microphone
    from vivavoce.conversation.wake import OVERLAP_SECONDS, captured, hand_over
    from vivavoce.settings import Settings

    spacing = [0.1 + 0.008 * k for k in range(26)]  # s: 0.1, 0.108, … (no two alike)
    clicks = np.zeros(16000 * 6, np.int16)
    for at in np.cumsum(spacing)[:-1]:
        clicks[int(at * 16000) : int(at * 16000) + 16] = 20000
    settings = Settings(echo_cancellation="off")
    mic = await open_microphone(settings, lambda _: None)
    player = asyncio.get_running_loop().create_task(pulse.play(clicks, 16000, latency_msec=200))
    io = None
    try:
        heard: list[Any] = []  # what followed the phrase, so far: a second
        while sum(pcm.size for pcm in heard) < 16000:
            await asyncio.sleep(0.1)
            heard.extend(pcm for pcm in [mic.take()] if pcm is not None)
        io = await open_audio(settings, lambda _: None)
        await captured(io.source, OVERLAP_SECONDS)  # both capture meanwhile
        await mic.close()
        rest = mic.take()
        assert rest is not None
        hand_over([*heard, rest], 0, io.source)
        await asyncio.sleep(1.0)
        sent = io.source.take_all()
    finally:
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player
        await mic.close()
        if io is not None:
            await io.close()
    assert sent is not None
    loud = np.flatnonzero(np.abs(sent.astype(np.int32)) > 5000)
    starts = loud[np.insert(np.diff(loud) > 4800, 0, True)]  # the first loud sample of each
    gaps = np.round(np.diff(starts) / 48000, 3)
    assert len(gaps) >= 8, gaps
    first = int(np.argmin(np.abs(np.array(spacing) - gaps[0])))
    expected = np.array(spacing[first : first + len(gaps)])
    assert np.all(np.abs(gaps - expected) < 0.003), (gaps, expected)  # none lost or doubled


@pytest.mark.slow
async def test_a_microphone_lost_while_waiting_is_said_not_listened_to_deaf(pulse: Pulse) -> None:
    """The sound server hangs while the wake word is listened for: within seconds the status
    says the microphone is gone (not ``listening`` for ever to a microphone that hears nothing)."""
    import os
    import signal
    import time

    from vivavoce.audio import open_audio
    from vivavoce.audio.io import STALL_SECONDS
    from vivavoce.audio.listen import open_microphone
    from vivavoce.conversation import Conversation
    from vivavoce.settings import Settings

    settings = Settings(peer="embedded", wake_word="hey viva", echo_cancellation="off")
    conv = Conversation(settings, audio=open_audio, microphone=open_microphone)
    assert pulse.pid is not None
    try:
        conv.wake.changed()
        deadline = time.monotonic() + 30
        while conv.status.input_level == 0.0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # listening, and the microphone delivers
        assert conv.status.state == "listening", conv.status
        os.kill(pulse.pid, signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            while conv.status.state == "listening" and time.monotonic() - stopped < 15:
                await asyncio.sleep(0.1)
            waited = time.monotonic() - stopped
        finally:
            os.kill(pulse.pid, signal.SIGCONT)
        assert waited < STALL_SECONDS + 2, waited
        assert conv.status.state == "idle" and conv.status.audio == "off"
        assert "the microphone stream stopped" in (conv.status.audio_error or "")
        assert "wake word is not listened for" in (conv.status.audio_error or "")
    finally:
        await conv.close()
