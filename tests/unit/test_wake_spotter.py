"""The wake word spotter (pocketsphinx keyphrase search, on this machine) hears its phrase in
synthesized speech, says where it ended, and stays quiet on other speech."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from vivavoce.audio.wake import CHUNK, RATE, Spotter, WakeWordError, load_spotter

Speak = Callable[[str], Awaitable[np.ndarray]]


def _feed(spotter: Spotter, pcm: np.ndarray) -> list[int]:
    """The stream positions where the phrase ended, fed as the microphone does (100 ms)."""
    found = []
    for i in range(0, pcm.size, CHUNK):
        end = spotter.feed(pcm[i : i + CHUNK])
        if end is not None:
            found.append(end)
    return found


def _padded(pcm: np.ndarray) -> np.ndarray:
    gap = np.zeros(RATE // 2, np.int16)
    return np.concatenate([gap, pcm, gap])


async def test_the_phrase_is_heard_where_it_ends_and_other_speech_is_not(speak: Speak) -> None:
    spotter = await load_spotter("Hey Viva!")
    try:
        assert spotter.phrase == "hey viva"
        other = _padded(await speak("the quick brown fox jumps over the lazy dog"))
        assert _feed(spotter, other) == []
        start = spotter.samples
        wake = await speak("hey viva")
        command = await speak("what time is it")
        said = _padded(np.concatenate([wake, np.zeros(RATE // 4, np.int16), command]))
        (end,) = _feed(spotter, said)
        # The phrase ended after "hey viva" was said and before the command began.
        wake_end = start + RATE // 2 + wake.size
        assert wake_end - RATE // 2 <= end <= wake_end + RATE // 4, (end - start) / RATE
        assert _feed(spotter, other) == []  # and quiet again afterwards
    finally:
        spotter.close()
        spotter.close()  # idempotent


def test_a_made_up_word_is_pronounced_from_its_pieces() -> None:
    spotter = Spotter("okay vivavoce")
    try:
        assert spotter.phrase == "okay vivavoce"
        assert spotter._decoder.lookup_word("vivavoce")
    finally:
        spotter.close()
    with pytest.raises(WakeWordError):
        Spotter(" ,!")


def _trimmed(pcm: np.ndarray) -> np.ndarray:
    """Speech without its leading and trailing silence."""
    loud = np.nonzero(np.abs(pcm) > 300)[0]
    return pcm[loud[0] : loud[-1]]


async def test_the_phrase_counts_only_after_a_pause(speak: Speak) -> None:
    """Run into the end of another sentence, the phrase is refused (most false triggers are
    words inside a sentence that sound like it); after half a second of pause it is heard."""
    before, wake = _trimmed(await speak("we went to the market")), _trimmed(await speak("hey viva"))
    for pause, heard in ((0, False), (RATE // 2, True)):
        spotter = await load_spotter("hey viva")
        try:
            said = _padded(np.concatenate([before, np.zeros(pause, np.int16), wake]))
            assert bool(_feed(spotter, said)) is heard
            assert spotter.refused == (0 if heard else 1)  # heard, and refused for the pause
        finally:
            spotter.close()
