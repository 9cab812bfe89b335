"""Real calls through virtual devices: the microphone reaches the peer, the voice the speaker."""

from __future__ import annotations

import asyncio
import itertools
import time
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vivavoce.audio import open_audio
from vivavoce.audio.errors import AudioError, DeviceLost
from vivavoce.audio.io import DeviceAudio
from vivavoce.audio.recorder import default_path
from vivavoce.realtime import Call, CallState, TranscriptUpdate
from vivavoce.rtc.tracks import rms_dbfs
from vivavoce.settings import Settings

from ..conftest import call_for, overlap
from .conftest import Pulse, samples_of

SAID = "please open the file and show me the main function"
Speak = Callable[[str], Awaitable[np.ndarray]]


def call_settings(peer: Any, **changes: Any) -> Settings:
    return Settings(
        api_key=peer.api_key, peer="openai", base_url=str(peer.base_url), connect_timeout=10,
        **changes,
    )  # fmt: skip


async def running(audio: DeviceAudio, limit: float = 15.0) -> None:
    """Wait until the duplex stream delivers blocks (a null sink takes ~1.5 s to start)."""
    deadline = time.monotonic() + limit
    while audio.stats()["callbacks"] < 20:
        assert time.monotonic() < deadline, "the stream never started"
        await asyncio.sleep(0.05)


async def finals(call: Call, out: list[TranscriptUpdate]) -> None:
    async for update in call.transcripts():
        if update.final:
            out.append(update)  # noqa: PERF401 (seen while the call runs)


async def event_types(call: Call, out: list[str]) -> None:
    async for event in call.events():
        out.append(str(getattr(event, "type", "")))  # noqa: PERF401


async def wait_for(pred: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def audible_seconds(samples: np.ndarray, rate: int = 48000, dbfs: float = -45.0) -> float:
    n = rate // 50
    frames = [samples[i : i + n] for i in range(0, samples.size - n + 1, n)]
    return sum(rms_dbfs(f) > dbfs for f in frames) * 0.02


@pytest.mark.slow
async def test_spoken_turn_through_virtual_devices(
    pulse: Pulse, peer: Any, speak: Speak, tmp_path: Path, no_leaks: None
) -> None:
    levels: list[tuple[float, float]] = []
    settings = call_settings(peer)
    audio = await open_audio(settings, lambda db: levels.append((time.monotonic(), db)))
    audio.start_recording(default_path(tmp_path))
    call = call_for(settings, source=audio.source, sink=audio.sink)
    got: list[TranscriptUpdate] = []
    try:
        await call.start()
        watcher = asyncio.create_task(finals(call, got))
        types: list[str] = []
        events = asyncio.create_task(event_types(call, types))
        await running(audio)
        speech = await speak(SAID)
        pad = np.zeros(16000, np.int16)
        async with pulse.record() as chunks:
            await pulse.play(np.concatenate([speech, pad]), 16000)
            assert await wait_for(lambda: any(u.role == "user" for u in got), 40)
            assert await wait_for(lambda: any(u.role == "assistant" for u in got), 40)
            assert await wait_for(lambda: "output_audio_buffer.stopped" in types, 40)
            await asyncio.sleep(0.5)  # the last of the reply reaches the speaker
        heard = next(u.text for u in got if u.role == "user")
        assert overlap(SAID, heard) >= 0.6, heard
        reply = next(u.text for u in got if u.role == "assistant")
        played = samples_of(chunks)
        seconds = audible_seconds(played)
        words = len(reply.split())
        assert 0.08 * words <= seconds <= 1.5 * words + 2, (seconds, reply)
        assert audio.speaker.frames > 0
    finally:
        await call.close()
        await audio.close()
        await audio.close()  # idempotent
        watcher.cancel()
        events.cancel()
    # The input level: reported at most 10 times a second, loud while the sentence played.
    assert max(db for _, db in levels) > -40
    times = [t for t, _ in levels]
    assert all(b - a >= 0.095 for a, b in itertools.pairwise(times))
    # Both sides recorded, aligned: user left, assistant right.
    recordings = list((tmp_path / "recordings").glob("*.wav"))
    assert len(recordings) == 1
    with wave.open(str(recordings[0])) as w:
        assert w.getnchannels() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 2)
        rate = w.getframerate()
    assert audible_seconds(data[:, 0].copy(), rate) > 1.0
    assert audible_seconds(data[:, 1].copy(), rate) > 0.3


@pytest.mark.slow
async def test_device_vanishing_mid_call_keeps_the_call(pulse: Pulse, peer: Any) -> None:
    problems: list[AudioError] = []
    settings = call_settings(peer)
    audio = await open_audio(settings, lambda _: None)
    audio.on_problem.append(problems.append)
    call = call_for(settings, source=audio.source, sink=audio.sink)
    try:
        await call.start()
        await running(audio)
        pulse.stop()  # the sound server goes away mid-call
        assert await wait_for(lambda: audio.error is not None, 10), audio.stats()
        assert isinstance(audio.error, DeviceLost) and audio.lost
        assert problems == [audio.error]
        assert "call goes on" in str(audio.error)
        await asyncio.sleep(0.5)
        assert call.state is CallState.LIVE
        await call.send_text("are you still there", respond=False)
        audio.play(np.zeros(4800, np.int16), 48000)  # ignored, no error
    finally:
        await call.close()
        await audio.close()


async def test_flush_drops_queued_playback_at_once(pulse: Pulse, peer: Any) -> None:
    audio = await open_audio(call_settings(peer), lambda _: None)
    try:
        audio.play(np.full(48000 * 3, 3000, np.int16), 48000)
        await running(audio)
        dropped = audio.flush()
        assert 1.0 < dropped <= 3.0
        assert audio.playout.queued_blocks == 0
    finally:
        await audio.close()
