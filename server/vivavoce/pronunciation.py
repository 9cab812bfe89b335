"""How a word is said, for pocketsphinx: phones (ARPAbet, as its bundled model's) for words its
dictionary lacks, made of the pieces it has.

An identifier (``getUserById``, ``max_retries``, ``vocab.py``) or a made-up word (``vivavoce``)
is said as its pieces (split at case changes, ``_``, ``-``, digits): each piece looked up in the
dictionary, else cut into the fewest dictionary words (``frobnicate`` → fro·b·…, with single
letters sounded by :data:`LETTER_SOUNDS`). Used by the local peer's recognizer
(``peer/lexicon.py``) and the wake word (``audio/wake.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from .vocabulary import split_identifier

#: A letter's usual sound, for pieces no dictionary word covers (ARPAbet, as the model's).
LETTER_SOUNDS = {
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH",
    "i": "IH", "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P",
    "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S",
    "y": "IY", "z": "Z",
}  # fmt: skip
#: Pieces programmers spell out (an ``id`` is "eye dee"), beside their dictionary sound.
SPELLED = frozenset({"id", "ui", "db", "io", "os", "ip", "url", "uri", "api", "sql", "css"})
_LETTER_NAMES = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY",
    "h": "EY CH", "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N",
    "o": "OW", "p": "P IY", "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW",
    "v": "V IY", "w": "D AH B AH L Y UW", "x": "EH K S", "y": "W AY", "z": "Z IY",
}  # fmt: skip
_FILE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def pieces(word: str) -> list[str]:
    """What is said of ``word``: ``vocab.py`` is said "vocab" (the suffix is left unsaid)."""
    return split_identifier(_FILE_SUFFIX.sub("", word) if "." in word else word)


def pronunciations(word: str, lookup: Callable[[str], str | None]) -> list[str]:
    """Phone strings for ``word`` (first: every piece as the dictionary or its parts say it;
    then, for pieces programmers spell out, with those spelled); [] when there is none."""
    parts = pieces(word)
    if not parts:
        return []
    sounded = [_sound(part, lookup) for part in parts]
    if any(s is None for s in sounded):
        return []
    out = [" ".join(s for s in sounded if s)]
    if any(p in SPELLED for p in parts):
        spelled = [
            " ".join(_LETTER_NAMES[c] for c in p) if p in SPELLED else s
            for p, s in zip(parts, sounded, strict=True)
        ]
        out.append(" ".join(s for s in spelled if s))
    return list(dict.fromkeys(out))


def _sound(piece: str, lookup: Callable[[str], str | None]) -> str | None:
    if piece.isdigit():
        return None  # digits: not worth a guess
    found = lookup(piece)
    if found:
        return found

    @cache
    def best(i: int) -> tuple[int, str] | None:
        """The cheapest sounding of piece[i:]: (cost, phones); a dictionary word costs 1, a
        lone letter 3 (so real words are preferred)."""
        if i == len(piece):
            return 0, ""
        found: tuple[int, str] | None = None
        for j in range(len(piece), i, -1):
            sub = piece[i:j]
            if len(sub) == 1:
                phones, cost = LETTER_SOUNDS.get(sub), 3
            else:
                phones, cost = lookup(sub), 1
            if not phones:
                continue
            rest = best(j)
            if rest is not None and (found is None or rest[0] + cost < found[0]):
                found = (rest[0] + cost, f"{phones} {rest[1]}".strip())
        return found

    result = best(0)
    return result[1] if result is not None else None
