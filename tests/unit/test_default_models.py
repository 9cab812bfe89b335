"""Defaults that will not be switched off under the user: none is deprecated in the SDK.

The installed ``openai`` package documents each model it lists as deprecated, with its shutdown
date, in a "Deprecated values:" note beside the field (or type alias). These tests read those
notes from the SDK's source and fail when one of vivavoce's defaults appears there.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from vivavoce.settings import Settings

#: Where the SDK lists each kind of model, with its deprecation notes.
SOURCES = {
    "realtime": "openai.types.realtime.realtime_session_create_request",
    "transcription": "openai.types.realtime.audio_transcription",
    "transcription (HTTP)": "openai.types.audio_model",
    "text chat": "openai.types.shared.chat_model",
    "speech": "openai.types.audio.speech_model",
}


def deprecated(module: str) -> set[str]:
    """Every model name quoted under a "Deprecated values:" note in ``module``'s source."""
    source = inspect.getsource(importlib.import_module(module))
    names: set[str] = set()
    for note in re.findall(r"Deprecated values:\n(.*?)(?:\"\"\"|\n\s*\n)", source, re.S):
        names.update(re.findall(r'"([^"]+)"', note))
    return names


def test_the_deprecation_notes_are_found() -> None:
    # If the SDK changes how it writes them, this says so instead of passing silently.
    assert "gpt-realtime" in deprecated(SOURCES["realtime"])
    assert "whisper-1" in deprecated(SOURCES["transcription"])
    assert "gpt-4o-mini" in deprecated(SOURCES["text chat"])


@pytest.mark.parametrize(
    ("kind", "default"),
    [
        ("realtime", Settings().model),
        ("transcription", Settings().transcription.model),
        ("transcription (HTTP)", Settings().transcription.model),
        ("text chat", Settings().text_model),
        # Text mode's voice: a realtime model reading aloud (OpenAI's replacement for its
        # text-to-speech models, all deprecated in openai 3.60).
        ("realtime", Settings().speech_model),
    ],
)
def test_no_default_model_is_deprecated(kind: str, default: str) -> None:
    assert default not in deprecated(SOURCES[kind]), f"the default {kind} model is deprecated"


def test_older_names_stay_accepted() -> None:
    settings = Settings(model="gpt-realtime", text_model="gpt-4o-mini")
    assert (settings.model, settings.text_model) == ("gpt-realtime", "gpt-4o-mini")


def test_the_speech_default_is_a_realtime_model_and_tts_names_still_work() -> None:
    from vivavoce.text.voice import is_realtime_model

    assert is_realtime_model(Settings().speech_model)
    assert Settings().speech_model not in deprecated(SOURCES["speech"])
    assert not is_realtime_model(Settings(speech_model="gpt-4o-mini-tts").speech_model)
