"""What the user chose for this conversation, and the one place a call's session is built.

The configured :class:`~vivavoce.settings.Settings` belong to the language server and are never
copied with overrides. What the user picks at ``realtime/start`` or mid-conversation (the voice
of each mode, the model of each mode, the instructions) lives in :class:`Choices`, beside them.
A configured value that changes is the latest choice and replaces the user's earlier one; a
setting that did not change leaves every choice alone.

:func:`session_for` turns settings + choices + the voice tools into the ``ev.Session`` a
:class:`~vivavoce.realtime.Call` asks for, and :func:`dictation_session_for` the transcription
session of dictation from it. Nothing else builds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..voices import VoiceCatalog, VoicePreference
from .status import Mode

if TYPE_CHECKING:
    from ..realtime import events as ev
    from ..settings import Settings
    from ..text.chat import ToolSpec


def catalog_for(settings: Settings) -> VoiceCatalog:
    return VoiceCatalog.with_extra(settings.extra_realtime_voices, settings.extra_tts_voices)


@dataclass
class Choices:
    """The user's choices in this conversation; each falls back to the configured settings."""

    voices: VoicePreference
    models: dict[Mode, str] = field(default_factory=dict)
    instructions: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Choices:
        choices = cls(VoicePreference(catalog_for(settings)))
        choices.voices.configure(settings.voice, settings.text_voice)
        return choices

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """New configured settings: the keys that changed become the latest choices."""
        self.voices.catalog = catalog_for(new)
        if (new.voice, new.text_voice) != (old.voice, old.text_voice):
            self.voices.configure(new.voice, new.text_voice)
        if new.model != old.model:
            self.models.pop("realtime", None)
        if new.text_model != old.text_model:
            self.models.pop("text", None)
        if new.instructions != old.instructions:
            self.instructions = None

    def voice(self, mode: Mode) -> str:
        """The voice of ``mode`` (dictation has none: the spoken call's is shown)."""
        return self.voices.voice("realtime" if mode == "dictation" else mode)

    def model(self, mode: Mode, settings: Settings) -> str:
        if mode == "dictation":
            return self.models.get(mode) or settings.transcription.model
        configured = settings.model if mode == "realtime" else settings.text_model
        return self.models.get(mode) or configured

    def instructions_for(self, settings: Settings) -> str:
        return self.instructions or settings.instructions


def transcription_for(settings: Settings, vocabulary: Sequence[str] = ()) -> ev.Transcription:
    """How the user's speech is transcribed: the model, the language, and the words to expect
    (``keywords`` for the models that take them, else a ``prompt``)."""
    from ..realtime import events as ev
    from ..vocabulary import transcription_hints

    tr = settings.transcription
    return ev.Transcription(
        model=tr.model, language=tr.language, **transcription_hints(tr.model, vocabulary)
    )


def session_for(
    settings: Settings,
    choices: Choices | None = None,
    tools: Sequence[ToolSpec] = (),
    vocabulary: Sequence[str] = (),
) -> ev.Session:
    """The session a call asks for: settings, the user's choices, the tools it may call, and
    the words of the code in front of the user (:func:`transcription_for`).

    With push-to-talk on there is no voice-activity detection: the user decides the turns.
    """
    from ..realtime import events as ev

    choices = choices or Choices.from_settings(settings)
    td = settings.turn_detection
    kind = td.type if settings.push_to_talk == "off" else "none"
    turn_detection: ev.ServerVad | ev.SemanticVad | None = None
    if kind == "server_vad":
        turn_detection = ev.ServerVad(
            threshold=td.threshold,
            prefix_padding_ms=td.prefix_padding_ms,
            silence_duration_ms=td.silence_duration_ms,
        )
    elif kind == "semantic_vad":
        turn_detection = ev.SemanticVad(eagerness=td.eagerness)
    session = ev.Session(
        model=choices.model("realtime", settings),
        instructions=choices.instructions_for(settings),
        output_modalities=["audio"],
        audio=ev.SessionAudio(
            input=ev.AudioInput(
                turn_detection=turn_detection,
                noise_reduction=(
                    None
                    if settings.noise_reduction == "off"
                    else ev.NoiseReduction(type=settings.noise_reduction)
                ),
                transcription=transcription_for(settings, vocabulary),
            ),
            output=ev.AudioOutput(voice=choices.voice("realtime")),
        ),
    )
    if tools:
        session.tools = [
            ev.Tool(name=name, description=description, parameters=parameters)
            for name, description, parameters in tools
        ]
        session.tool_choice = "auto"
    return session


def dictation_session_for(
    settings: Settings, choices: Choices | None = None, vocabulary: Sequence[str] = ()
) -> ev.Session:
    """The transcription session of dictation (the API's ``type: "transcription"``): the
    input of :func:`session_for` (transcription, turn detection, …) and nothing else; its
    turns never ask for a response."""
    from ..realtime import events as ev

    audio_input = session_for(settings, choices, vocabulary=vocabulary).audio.input.model_copy(
        deep=True
    )
    choices = choices or Choices.from_settings(settings)
    if audio_input.transcription is not None:
        audio_input.transcription.model = choices.model("dictation", settings)
    td = audio_input.turn_detection
    if td is not None:
        td.create_response = td.interrupt_response = False
    return ev.Session(type="transcription", audio=ev.SessionAudio(input=audio_input))
