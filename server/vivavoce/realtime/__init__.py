"""The realtime engine: a WebRTC call with an OpenAI-Realtime-compatible server.

    from vivavoce.realtime import Call, CallOptions
    async with Call(session, CallOptions(base_url, api_key)) as call:
        await call.send_text("hello")
        async for update in call.transcripts():
            ...

Names load on first use, so importing :mod:`vivavoce.realtime.events` alone stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .call import Call, CallOptions, CallState
    from .transcript import Transcript, TranscriptUpdate, Turn

__all__ = ["Call", "CallOptions", "CallState", "Transcript", "TranscriptUpdate", "Turn"]

_HOME = {
    "Call": "call",
    "CallOptions": "call",
    "CallState": "call",
    "Transcript": "transcript",
    "TranscriptUpdate": "transcript",
    "Turn": "transcript",
}


# Names load on first use: the CLI and the language server start light.
__getattr__ = lazy_attributes(__name__, _HOME)
__dir__ = __getattr__.dir
