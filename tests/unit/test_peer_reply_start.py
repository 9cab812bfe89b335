"""How soon the peer's reply can be heard: its first clause is spoken alone, and the
synthesizer's leading silence is not played (issue 21, "replies as fast as the best stacks")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from vivavoce.peer.audio import trim_leading_silence
from vivavoce.peer.sentences import sentences


async def _chunks(*parts: str) -> AsyncIterator[str]:
    for part in parts:
        yield part


async def _said(*parts: str) -> list[str]:
    return [s async for s in sentences(_chunks(*parts))]


async def test_the_first_clause_is_spoken_before_its_sentence_is_complete() -> None:
    assert await _said("You said: the build", " is broken. That is", " the first thing.") == [
        "You said:",
        "the build is broken.",
        "That is the first thing.",
    ]
    # Streamed word by word, the clause goes as soon as its comma arrives.
    assert (await _said("Well", " then,", " we", " will", " see."))[0] == "Well then,"


async def test_only_the_first_sentence_is_cut_and_never_at_one_word() -> None:
    assert await _said("Yes, it is done. Then, later, more.") == [
        "Yes, it is done.",
        "Then, later, more.",
    ]
    assert await _said("It works, mostly, and then, more.") == [
        "It works,",
        "mostly, and then, more.",
    ]


def test_a_reply_starts_with_its_first_sound() -> None:
    silence, speech = np.zeros(3200, np.int16), np.full(1600, 2000, np.int16)
    trimmed = trim_leading_silence(np.concatenate([silence, speech]))
    assert trimmed.size == 1600 + 320  # 20 ms kept before the first sound
    assert trim_leading_silence(silence).size == 0
    loud_start = np.concatenate([speech, silence])
    assert trim_leading_silence(loud_start).size == loud_start.size
    assert trim_leading_silence(np.array([-32768], np.int16)).size == 1  # full scale is sound
