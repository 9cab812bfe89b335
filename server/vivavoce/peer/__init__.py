"""The local peer: an offline server speaking the OpenAI Realtime protocol on loopback.

Public API:

* :func:`start_peer` (``host``, ``port``, ``api_key``, ``**options`` of :class:`PeerOptions`)
  → :class:`RunningPeer` with ``base_url`` and an idempotent ``close()``.
* :func:`add_arguments` / :func:`run` / :func:`main`: the ``vivavoce peer`` command.
* :class:`Responder` (and :class:`BuiltinResponder`, :class:`ChatResponder`): who writes replies.

Modules: ``app`` (realtime routes, the running server), ``peer`` (state the routes share),
``http`` (CORS, errors, body readers), ``textapi`` (chat/speech/transcription routes), ``rtc``
(one WebRTC call), ``session`` (a call's client events), ``input_audio`` (the caller's turns and
transcripts), ``responses`` (replies, spoken and cancelled), ``wire`` (event parsing and
dialects), ``session_config``, ``items``, ``vad``, ``stt``, ``tts``, ``responders``, ``auth``,
``audio``. Heavy modules (aiortc, av, pocketsphinx, silero) load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lazy import lazy_attributes
from .cli import add_arguments, main, run
from .options import PeerOptions

if TYPE_CHECKING:
    from .app import RunningPeer
    from .responders import BuiltinResponder, ChatResponder, Responder

__all__ = [
    "BuiltinResponder",
    "ChatResponder",
    "PeerOptions",
    "Responder",
    "RunningPeer",
    "add_arguments",
    "main",
    "run",
    "start_peer",
]


async def start_peer(
    host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, **options: Any
) -> RunningPeer:
    """Serve a local peer (see :func:`vivavoce.peer.app.start_peer`)."""
    from .app import start_peer as _start

    return await _start(host, port, api_key, **options)


# Loaded on first use: importing the package stays cheap for the CLI.
__getattr__ = lazy_attributes(
    __name__,
    {
        "RunningPeer": "app",
        "BuiltinResponder": "responders",
        "ChatResponder": "responders",
        "Responder": "responders",
    },
)
__dir__ = __getattr__.dir
