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
