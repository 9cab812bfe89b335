"""The realtime engine: a WebRTC call with an OpenAI-Realtime-compatible server.

from vivavoce.realtime import Call
async with Call(settings) as call:
    await call.send_text("hello")
    async for update in call.transcripts():
        ...
"""

from .call import Call, CallState, build_session
from .transcript import Transcript, TranscriptUpdate, Turn

__all__ = ["Call", "CallState", "Transcript", "TranscriptUpdate", "Turn", "build_session"]
