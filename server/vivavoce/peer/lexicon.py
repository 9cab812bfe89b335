"""The words a session asks the peer's recognizer to expect (its transcription's ``keywords``
or ``prompt``), and how pocketsphinx is taught them.

An identifier (``getUserById``, ``max_retries``, ``vocab.py``) becomes one dictionary word,
pronounced as :mod:`vivavoce.pronunciation` says. Each word is added to the language model
with :data:`BOOST` times the weight of an unknown word, so a vocabulary word wins over the
run of ordinary words it sounds like ("get user by id" → ``getUserById``).
"""

from __future__ import annotations

import re
from typing import Any

from ..pronunciation import pronunciations
from ..realtime import events as ev

#: The most words one session teaches the recognizer.
MAX_WORDS = 200
#: How much likelier than an unknown word a vocabulary word is (ngram_model_add_word's weight).
BOOST = 100.0
_SPLIT = re.compile(r"[\s,;]+")


def session_words(transcription: ev.Transcription | None) -> tuple[str, ...]:
    """The words a session's transcription asks for: its keywords, else its prompt's words."""
    if transcription is None:
        return ()
    words = list(transcription.keywords or [])
    if not words and transcription.prompt:
        words = [w.strip(".:!?\"'()") for w in _SPLIT.split(transcription.prompt)]
    out: dict[str, None] = {}
    for word in words:
        if word and any(c.isalpha() for c in word) and len(out) < MAX_WORDS:
            out[word] = None
    return tuple(out)


def teach(decoder: Any, words: tuple[str, ...]) -> list[str]:
    """Add ``words`` to a pocketsphinx decoder's dictionary and language model, boosted;
    returns the words it could pronounce."""
    lm = decoder.get_lm()
    entries: list[tuple[str, str]] = []
    taught: list[str] = []
    for word in words:
        if decoder.lookup_word(word) is not None:
            continue
        sounds = pronunciations(word, decoder.lookup_word)
        if not sounds:
            continue
        if lm is not None:
            lm.add_word(word, BOOST)
        entries.extend((word if n == 0 else f"{word}({n + 1})", p) for n, p in enumerate(sounds))
        taught.append(word)
    for n, (name, phones) in enumerate(entries):
        decoder.add_word(name, phones, n == len(entries) - 1)  # the search updated once
    return taught
