"""``Conversation(audio=open_audio)``: the factory as the conversation uses it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vivavoce.audio import open_audio
from vivavoce.audio.io import DeviceAudio
from vivavoce.conversation import Conversation, Mode, Status
from vivavoce.realtime import TranscriptUpdate

from ..conftest import overlap, watched
from .conftest import Pulse, _alive
from .test_call import call_settings, running, wait_for

Speak = Callable[[str], Awaitable[np.ndarray]]


async def started(conv: Conversation, mode: Mode | None = None) -> DeviceAudio:
    """Start ``conv`` and wait until its real devices deliver audio."""
    await conv.start(mode=mode)
    io = conv.io
    assert isinstance(io, DeviceAudio)
    await running(io)
    return io


@pytest.mark.slow
async def test_conversation_hears_the_microphone_and_mute_silences_it(
    pulse: Pulse, peer: Any, speak: Speak
) -> None:
    finals: list[TranscriptUpdate] = []
    statuses: list[Status] = []
    conv = Conversation(
        call_settings(peer),
        audio=open_audio,
        on_transcript=lambda u: finals.append(u) if u.final else None,
        on_status=statuses.append,
    )
    try:
        await started(conv)
        assert conv.status.state == "live"
        said = "what time is it in the morning"
        speech = np.concatenate([await speak(said), np.zeros(16000, np.int16)])
        await pulse.play(speech, 16000)
        assert await wait_for(lambda: any(u.role == "user" for u in finals), 40)
        heard = next(u.text for u in finals if u.role == "user")
        assert overlap(said, heard) >= 0.6, heard
        assert any(s.input_level > -60 for s in statuses)  # the level reached the status
        await wait_for(lambda: any(u.role == "assistant" for u in finals), 40)
        await asyncio.sleep(6)  # the reply plays out
        users = sum(u.role == "user" for u in finals)
        await conv.mute(True)
        await pulse.play(speech, 16000)
        await asyncio.sleep(3)
        assert sum(u.role == "user" for u in finals) == users  # muted: nothing heard
    finally:
        await conv.close()
    assert conv.io is None


@pytest.mark.slow
@pytest.mark.usefixtures("pulse")
async def test_the_embedded_peer_dying_mid_call_is_noticed_at_once_and_replaced() -> None:
    """With devices the embedded peer runs as a process; if it dies, a new one takes the call.

    Without this, a killed peer is noticed only when ICE consent expires (~30 s of silence).
    """
    import os
    import signal
    import time

    from vivavoce.peer.process import PeerProcess
    from vivavoce.settings import Settings

    settings = Settings(peer="embedded", echo_cancellation="off", connect_timeout=10)
    conv, _, messages = watched(settings, audio=open_audio)
    try:
        await conv.start()
        await conv.send_text("remember the blue car")
        assert await wait_for(lambda: any(t.role == "assistant" for t in conv.turns), 30)
        first = conv.endpoint.peer
        assert isinstance(first, PeerProcess)
        first_call = conv.status.call_id
        workers = _children(first._proc.pid)  # its speech recognition workers
        os.kill(first._proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        assert await wait_for(lambda: conv.status.state == "reconnecting", 5)
        noticed = time.monotonic() - killed
        print(f"\nembedded peer death noticed after {noticed:.2f} s")
        assert await wait_for(lambda: conv.status.state == "live", 60)
        assert noticed < 2.0, noticed
        assert conv.status.mode == "realtime" and conv.status.call_id != first_call
        assert conv.endpoint.peer is not first and conv.endpoint.peer.running
        assert messages == []  # recovered: nothing to tell the user
        # The conversation goes on with the new peer, which was given the earlier turns.
        await conv.send_text("what did I say")
        assert await wait_for(lambda: sum(t.role == "assistant" for t in conv.turns) == 2, 30)
        assert "remember the blue car" in conv.turns[-1].text
        # The dead peer's workers did not outlive it.
        assert workers and await wait_for(lambda: not any(_alive(w) for w in workers), 5)
    finally:
        await conv.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.slow
async def test_push_to_talk_in_text_mode_dictates_from_the_microphone(
    pulse: Pulse, peer: Any, speak: Speak
) -> None:
    """Text mode, key held: the real microphone's speech up to the release becomes one turn."""
    finals: list[TranscriptUpdate] = []
    conv = Conversation(
        call_settings(peer, push_to_talk="hold", echo_cancellation="off"),
        audio=open_audio,
        on_transcript=lambda u: finals.append(u) if u.final else None,
    )
    said = "please open the main file"
    try:
        await started(conv, mode="text")
        await pulse.play(await speak(said), 16000)  # before the key: not dictated
        await conv.push_to_talk(True)
        await pulse.play(await speak(said), 16000)
        await conv.push_to_talk(False)  # the last blocks are still in the hand-over here
        assert await wait_for(lambda: any(u.role == "assistant" for u in finals), 40)
        users = [u.text for u in finals if u.role == "user"]
        assert len(users) == 1 and overlap(said, users[0]) >= 0.6, users
    finally:
        await conv.close()


@pytest.mark.slow
async def test_microphone_blocks_lost_to_a_stalled_loop_are_counted_in_the_status(
    pulse: Pulse, peer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    conv, statuses, _ = watched(call_settings(peer, echo_cancellation="off"), audio=open_audio)
    try:
        io = await started(conv)
        assert conv.status.input_dropped == 0
        time.sleep(1.5)  # the event loop stalls: 75 blocks arrive, the hand-over keeps 50
        assert await wait_for(lambda: conv.status.input_dropped > 0, 5)
        assert conv.status.input_dropped == io.stats()["handoverDropped"] >= 20
        assert conv.status.wire()["inputDropped"] == conv.status.input_dropped
        assert "block(s) dropped" in caplog.text
        assert conv.status.state == "live"  # the call goes on
    finally:
        await conv.close()
    assert statuses[-1].input_dropped == 0  # devices closed: the count starts again


@pytest.mark.slow
async def test_devices_lost_mid_call_are_in_the_status_and_the_call_goes_on(
    pulse: Pulse, peer: Any
) -> None:
    finals: list[TranscriptUpdate] = []
    conv, _, messages = watched(
        call_settings(peer),
        audio=open_audio,
        on_transcript=lambda u: finals.append(u) if u.final else None,
    )
    try:
        await started(conv)
        assert conv.status.audio_error is None
        pulse.stop()  # the sound server goes away (a USB headset pulled out: the same path)
        assert await wait_for(lambda: conv.status.audio_error is not None, 10)
        lost = conv.status.audio_error or ""
        assert "call goes on without it" in lost and "\n" not in lost
        assert conv.status.wire()["audioError"] == lost
        assert conv.status.state == "live" and conv.status.input_level == 0.0
        assert messages == [("warning", f"vivavoce: {lost}")]  # said once
        await conv.send_text("are you still there")  # the conversation goes on
        assert await wait_for(lambda: any(u.role == "assistant" for u in finals), 20)
    finally:
        await conv.close()
    assert conv.status.audio_error is None
