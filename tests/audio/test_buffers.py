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


def test_mic_source_gives_whole_frames() -> None:
    s = MicSource()
    s.feed(block(480))
    assert s.take() is None  # half a frame: silence rather than a frame half of zeros
    s.feed(block(480))
    frame = s.take()
    assert frame is not None and frame.size == FRAME_SAMPLES


def test_a_busy_loop_cuts_no_words_and_the_delay_goes_at_the_next_pause() -> None:
    """The loop stalls mid-word: the track runs dry (sends silence) and the microphone's
    blocks then arrive together. Every word frame is still sent, in order (dropping the
    backlog at once cut 20 ms pieces out of words: "the code is ready" was heard as "the otis
    redding"); the delay it adds goes at the next pause, which is shortened, not its onset."""
    loud = [np.full(FRAME_SAMPLES, 3000 + i, np.int16) for i in range(40)]
    quiet = np.zeros(FRAME_SAMPLES, np.int16)
    soft = np.full(FRAME_SAMPLES, 40, np.int16)  # the breath before the next word
    s = MicSource()
    sent: list[int] = []

    def tick(*arrived: np.ndarray) -> None:  # 20 ms: blocks arrive, the track takes a frame
        for b in arrived:
            s.feed(b)
        frame = s.take()
        sent.append(-1 if frame is None else int(frame[0]))

    for b in loud[:10]:
        tick(b)
    for _ in range(3):  # the stall: nothing arrived, the track sent silence
        tick()
    tick(*loud[10:14])  # …then four blocks at once: 60 ms behind
    for b in loud[14:20]:
        tick(b)
    for _ in range(MicSource.KEEP_PAUSE + 10):  # a pause (the user thinks)
        tick(quiet)
    tick(soft)
    for b in loud[20:40]:
        tick(b)
    tick(quiet)
    words = [v for v in sent if v >= 3000]
    assert words == [3000 + i for i in range(40)], sent  # every word frame, in order
    assert s.trimmed_samples == 0
    assert s.skipped_samples == 2 * FRAME_SAMPLES, sent  # the pause shortened by the delay
    assert sent[sent.index(3020) - 1] == 40  # the breath before the word kept
    assert s.queued_seconds <= 0.0201  # no more delay than before the stall


def test_mic_source_bounds_its_backlog() -> None:
    """Speech that keeps coming faster than the call sends it: the oldest audio beyond
    ``max_speech_backlog`` goes (the delay stays bounded)."""
    s = MicSource()
    s.feed(block(FRAME_SAMPLES * 40, 3000))  # 800 ms arrived at once, all loud
    frame = s.take()
    assert frame is not None and frame.size == FRAME_SAMPLES
    assert s.queued_seconds <= MicSource.MAX_SPEECH_BACKLOG / 48000 + 1e-6
    assert s.trimmed_samples == FRAME_SAMPLES * 40 - FRAME_SAMPLES - MicSource.MAX_SPEECH_BACKLOG


def test_what_the_wake_word_queued_is_sent_whole_and_long_pauses_are_shortened() -> None:
    """After the wake word the call first sends what was said after it (2 s queued before the
    call opened), pauses between words as said, and catches up by shortening long pauses."""
    loud = np.full(FRAME_SAMPLES, 3000, np.int16)
    quiet = np.zeros(FRAME_SAMPLES, np.int16)
    said = [loud] * 30 + [quiet] * 5 + [loud] * 30 + [quiet] * 60 + [loud] * 10  # 2.7 s
    s = MicSource()
    for block_said in said:
        s.feed(block_said)
    s.catch_up()
    sent = []
    while (frame := s.take()) is not None:
        sent.append(int(frame[0]))
        if len(sent) > 200:
            break
    # Every loud frame, in order; the short pause kept; the long one down to 200 ms (and the
    # frame just before the next word, which may hold its start).
    kept = MicSource.KEEP_PAUSE + 1
    expected = [3000] * 30 + [0] * 5 + [3000] * 30 + [0] * kept + [3000] * 10
    assert sent[: len(expected)] == expected
    assert s.skipped_samples == (60 - kept) * FRAME_SAMPLES
    assert s.trimmed_samples == 0
    # Caught up: the backlog bound holds again (beyond it, the oldest is dropped).
    for _ in range(30):
        s.feed(loud)
    assert s.take() is not None and s.queued_seconds <= MicSource.MAX_SPEECH_BACKLOG / 48000


def test_importing_audio_does_not_load_sounddevice() -> None:
    code = (
        "import sys, vivavoce.audio, vivavoce.audio.devices, vivavoce.audio.doctor, "
        "vivavoce.audio.io, vivavoce.audio.playback\n"
        "assert 'sounddevice' not in sys.modules and 'aiortc' not in sys.modules, 'eager'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_the_call_waits_for_late_microphone_blocks_rather_than_sending_silence() -> None:
    """On a loaded machine the microphone's blocks stop for 60–80 ms and then come together
    (measured). The call sends them late rather than silence in their place: a gap in a word
    ("new line" was heard as "new ally and")."""
    from vivavoce.rtc.tracks import PcmSourceTrack

    source = MicSource()
    track = PcmSourceTrack(source)
    said = [np.full(FRAME_SAMPLES, 3000 + i, np.int16) for i in range(12)]

    async def microphone() -> None:  # a block every 20 ms, on its own clock
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, block_said in enumerate(said):
            if i not in (4, 5, 6):  # these three come late, with the next one
                await asyncio.sleep(start + 0.02 * (i + 1) - loop.time())
            source.feed(block_said)

    source.feed(np.zeros(FRAME_SAMPLES, np.int16))  # the microphone was running already
    feeding = asyncio.get_running_loop().create_task(microphone())
    sent = [int((await track.recv()).to_ndarray()[0, 0]) for _ in range(len(said) + 1)]
    await feeding
    track.stop()
    assert sent == [0] + [3000 + i for i in range(len(said))]
