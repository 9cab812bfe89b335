"""The buffers between PortAudio threads and the loop, without devices."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import numpy as np

from vivavoce.audio.buffers import Handover, MicSource, PlayoutBuffer
from vivavoce.rtc.tracks import FRAME_SAMPLES


def block(n: int, value: int = 1) -> np.ndarray:
    return np.full(n, value, np.int16)


def test_playout_starts_at_target_and_grows_after_an_underrun() -> None:
    p = PlayoutBuffer(480)
    assert p.pull() is None
    p.push(block(960))
    assert p.pull() is not None and p.pull() is not None
    assert p.pull() is None and p.underruns == 1 and p.target == 2
    p.push(block(480))
    assert p.pull() is None  # waits for two blocks now
    p.push(block(480))
    assert p.pull() is not None


def test_playout_drops_unused_excess_but_never_a_queued_utterance() -> None:
    p = PlayoutBuffer(480, shrink_after=10)
    p.push(block(480 * 12))  # live audio arrived in a burst: 12 blocks, target 1
    for _ in range(10):
        p.pull()
    assert p.trimmed >= 1 and p.queued_blocks <= 1
    q = PlayoutBuffer(480, shrink_after=10)
    q.push(block(480 * 40), bounded=False)  # play(): a whole sentence
    for _ in range(30):
        q.pull()
    assert q.trimmed == 0 and q.queued_blocks == 10


def test_playout_caps_live_audio_and_flushes_at_once() -> None:
    p = PlayoutBuffer(480, cap=5)
    p.push(block(480 * 8 + 100))
    assert p.queued_blocks == 5 and p.trimmed == 3
    assert p.flush() == 5 * 480 + 100
    assert p.queued_blocks == 0 and p.pull() is None


async def test_handover_drops_the_oldest_when_the_loop_is_behind() -> None:
    got: list[int] = []
    h: Handover[int] = Handover(asyncio.get_running_loop(), got.append, maxlen=3)

    def producer() -> None:  # a PortAudio thread, while the loop is busy
        for i in range(10):
            h.put(i)

    t = threading.Thread(target=producer)
    t.start()
    t.join()
    await asyncio.sleep(0.05)
    assert got == [7, 8, 9] and h.dropped == 7


def test_push_to_talk_takes_everything_said_untrimmed() -> None:
    s = MicSource()
    s.feed(block(480 * 10))  # 100 ms held in the source (text-mode push-to-talk)
    everything = s.take_all()
    assert everything is not None and everything.size == 480 * 10  # nothing trimmed
    assert s.take_all() is None


def test_mic_source_gives_whole_frames_and_bounds_its_backlog() -> None:
    s = MicSource()
    s.feed(block(480))
    assert s.take() is None  # half a frame: silence rather than a frame half of zeros
    s.feed(block(480 * 9))  # 100 ms arrived at once
    frame = s.take()
    assert frame is not None and frame.size == FRAME_SAMPLES
    assert s.queued_seconds <= 0.0201
    assert s.trimmed_samples == 480 * 10 - 2 * FRAME_SAMPLES


def test_what_the_wake_word_queued_is_sent_whole_and_long_pauses_are_shortened() -> None:
    """After the wake word the call first sends what was said after it (2 s queued before the
    call opened), pauses between words as said, and catches up by shortening long pauses."""
    loud = np.full(FRAME_SAMPLES, 3000, np.int16)
    quiet = np.zeros(FRAME_SAMPLES, np.int16)
    said = [loud] * 30 + [quiet] * 5 + [loud] * 30 + [quiet] * 60 + [loud] * 10  # 2.7 s
    s = MicSource()
    for frame in said:
        s.feed(frame)
    s.catch_up()
    sent = []
    while (frame := s.take()) is not None:
        sent.append(int(frame[0]))
        if len(sent) > 200:
            break
    # Every loud frame, in order; the short pause kept; the long one down to 200 ms.
    expected = [3000] * 30 + [0] * 5 + [3000] * 30 + [0] * MicSource.KEEP_PAUSE + [3000] * 10
    assert sent[: len(expected)] == expected
    assert s.skipped_samples == (60 - MicSource.KEEP_PAUSE) * FRAME_SAMPLES
    assert s.trimmed_samples == 0
    # Caught up: the backlog bound holds again (the oldest is dropped as before).
    for _ in range(10):
        s.feed(loud)
    assert s.take() is not None and s.queued_seconds <= 0.0201


def test_importing_audio_does_not_load_sounddevice() -> None:
    code = (
        "import sys, vivavoce.audio, vivavoce.audio.devices, vivavoce.audio.doctor, "
        "vivavoce.audio.io, vivavoce.audio.playback\n"
        "assert 'sounddevice' not in sys.modules and 'aiortc' not in sys.modules, 'eager'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
