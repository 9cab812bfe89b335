"""The conversation an editor holds with the assistant, across calls and modes.

    core.py           Conversation: requests (start, stop, toggle, push-to-talk, …), turns, devices
    realtime_mode.py  RealtimeMode: the current call, barge-in, tools, replay, reconnection
    dictation.py      DictationMode: a transcription session; dictate()/place(), spoken punctuation
    choices.py        Choices (the user's voice/model/instructions) and session_for()
    endpoint.py       Endpoint: the server (configured, or the local peer) and the HTTP client
    status.py         Status (``realtime/status``), AudioIO, Microphone, FinalTurn and Turns

Text mode's reply is :mod:`vivavoce.text.turn`; the local peer, :mod:`vivavoce.peer.process`.
"""

from __future__ import annotations

from .choices import Choices, dictation_session_for, session_for
from .core import Conversation
from .status import (
    AudioFactory,
    AudioIO,
    AudioUse,
    FinalTurn,
    MessageLevel,
    Microphone,
    MicrophoneFactory,
    Mode,
    Status,
    Turns,
)

__all__ = [
    "AudioFactory",
    "AudioIO",
    "AudioUse",
    "Choices",
    "Conversation",
    "FinalTurn",
    "MessageLevel",
    "Microphone",
    "MicrophoneFactory",
    "Mode",
    "Status",
    "Turns",
    "dictation_session_for",
    "session_for",
]
