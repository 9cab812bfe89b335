"""The two voice sets and how a voice crosses between them.

Text mode speaks with text-to-speech voices; realtime mode with realtime voices. The sets
overlap (alloy, echo, shimmer) but not fully, so switching modes maps a voice that the target
set lacks to the nearest one, and :class:`VoicePreference` remembers what the user chose in each
mode, so that toggling twice restores it exactly.

Mappings (chosen by timbre, documented so users can predict them):

    text → realtime: onyx → echo, nova → shimmer, fable → ballad
    realtime → text: ash → onyx, ballad → fable, coral → nova, sage → shimmer,
                     verse → echo, marin → nova, cedar → onyx

Voices added by the provider can be added by settings (``extraRealtimeVoices``,
``extraTtsVoices``); an added voice with no mapping falls back to the target set's default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["realtime", "text"]
MODES: tuple[Mode, ...] = ("realtime", "text")

TTS_VOICES: tuple[str, ...] = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")
REALTIME_VOICES: tuple[str, ...] = (
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip

TO_REALTIME = {"onyx": "echo", "nova": "shimmer", "fable": "ballad"}
TO_TEXT = {
    "ash": "onyx",
    "ballad": "fable",
    "coral": "nova",
    "sage": "shimmer",
    "verse": "echo",
    "marin": "nova",
    "cedar": "onyx",
}
DEFAULT_VOICE = "alloy"  # in both sets


@dataclass(frozen=True)
class VoiceCatalog:
    """Both voice sets, with any voices the user's settings add."""

    realtime: tuple[str, ...] = REALTIME_VOICES
    text: tuple[str, ...] = TTS_VOICES

    @classmethod
    def with_extra(cls, realtime: Iterable[str] = (), text: Iterable[str] = ()) -> VoiceCatalog:
        return cls(
            realtime=REALTIME_VOICES + tuple(v for v in realtime if v not in REALTIME_VOICES),
            text=TTS_VOICES + tuple(v for v in text if v not in TTS_VOICES),
        )

    def voices(self, mode: Mode) -> tuple[str, ...]:
        return self.realtime if mode == "realtime" else self.text

    def supports(self, mode: Mode, voice: str) -> bool:
        return voice in self.voices(mode)

    def map(self, voice: str, to: Mode) -> str:
        """The voice to use in mode ``to`` for a user who had ``voice``."""
        if self.supports(to, voice):
            return voice
        table = TO_REALTIME if to == "realtime" else TO_TEXT
        mapped = table.get(voice, DEFAULT_VOICE)
        return mapped if self.supports(to, mapped) else DEFAULT_VOICE


@dataclass
class VoicePreference:
    """What the user chose in each mode; the voice of a mode is their choice or a mapping."""

    catalog: VoiceCatalog = field(default_factory=VoiceCatalog)
    chosen: dict[Mode, str] = field(default_factory=dict)

    def configure(self, voice: str, text_voice: str | None = None) -> None:
        """The configured voices, as choices: ``voice`` for every mode that has it (so a text
        voice such as onyx is text mode's choice, and realtime maps it), ``text_voice`` for
        text mode. They replace earlier choices: the latest choice leads."""
        self.chosen.clear()
        for mode in MODES:
            if self.catalog.supports(mode, voice):
                self.chosen[mode] = voice
        if text_voice and self.catalog.supports("text", text_voice):
            self.chosen["text"] = text_voice

    def choose(self, mode: Mode, voice: str) -> tuple[str, str | None]:
        """Record the user's choice for ``mode``. Returns (voice used, note for the user or None).

        The latest choice leads: the other mode forgets its own and follows the mapping of
        this one. A voice the mode does not have is replaced by its mapping, and the user is told.
        """
        self.chosen.pop(other_mode(mode), None)
        if self.catalog.supports(mode, voice):
            self.chosen[mode] = voice
            return voice, None
        used = self.catalog.map(voice, mode)
        known = voice in self.catalog.realtime or voice in self.catalog.text
        why = "is not a" if known else "is not a known"
        note = f"voice {voice!r} {why} {mode} voice; using {used!r}"
        self.chosen[mode] = used
        return used, note

    def voice(self, mode: Mode) -> str:
        """The voice of ``mode``: its choice, else the other mode's mapped, else the default."""
        if chosen := self.chosen.get(mode):
            return chosen
        other = self.chosen.get(other_mode(mode))
        return self.catalog.map(other, mode) if other else DEFAULT_VOICE


def other_mode(mode: Mode) -> Mode:
    return "text" if mode == "realtime" else "realtime"
