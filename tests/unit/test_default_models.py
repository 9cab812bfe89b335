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
        pytest.param(
            "speech",
            Settings().speech_model,
            marks=pytest.mark.xfail(
                strict=True,
                reason="every /audio/speech model in openai 3.60 is deprecated (shutdown "
                "2027-01-06); OpenAI's replacement is gpt-realtime-2.1-mini over the Realtime "
                "API, a different workflow text mode does not have yet",
            ),
        ),
    ],
)
def test_no_default_model_is_deprecated(kind: str, default: str) -> None:
    assert default not in deprecated(SOURCES[kind]), f"the default {kind} model is deprecated"


def test_older_names_stay_accepted() -> None:
    settings = Settings(model="gpt-realtime", text_model="gpt-4o-mini")
    assert (settings.model, settings.text_model) == ("gpt-realtime", "gpt-4o-mini")
