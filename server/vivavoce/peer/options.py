"""Settings of a local peer (what ``start_peer(**options)`` and ``vivavoce peer`` accept)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .upstreams import TIMEOUT, Upstream

if TYPE_CHECKING:
    from .responders import Responder

#: OpenAI's upload limit for audio files.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024

#: What the peer's calls do: answer as an assistant, or send the caller's audio back.
PeerMode = Literal["assistant", "echo"]

#: When the caller's transcription events reach the client (see :class:`PeerOptions`).
TranscriptionLag = float | Literal["before", "after-response"]

#: Seconds an upstream server may take for one step (see :mod:`.upstreams`).
UPSTREAM_TIMEOUT = TIMEOUT
#: The real API ends every session after 60 minutes.
MAX_SESSION_SECONDS = 3600.0

#: Calls a peer carries at once by default; the next one gets a 429. ``make bench`` (group
#: ``load``) measures what that many calls cost: on 2 shared cores 16 (even 8) calls with audio
#: both ways do not yet keep every turn answered (silero VAD and Opus run on the one loop).
MAX_CALLS = 16


@dataclass
class PeerOptions:
    """Options of :func:`vivavoce.peer.start_peer` (all keyword arguments).

    ``mode``: ``"assistant"`` (VAD → recognition → responder → speech) or ``"echo"`` (calls
    return the caller's audio unchanged). ``responder_url``: forward replies to this
    OpenAI-compatible chat completions URL (base ``…/v1`` or full URL) instead of the built-in
    responder; ``responder`` injects any :class:`~vivavoce.peer.responders.Responder` object.
    ``faults``: fault names to inject (see :mod:`vivavoce.peer.faults`), ``fault_delay``
    seconds after ``session.created`` for call faults, ``fault_sdp_delay`` for ``sdp-slow``;
    ``fault_admin``: serve ``/v1/_admin/faults`` to change them at run time (off: the route
    does not exist).

    How strict and disorderly the calls are (defaults: like the real API):

    * ``transcription_lag``: when the caller's ``…input_audio_transcription.delta/completed``
      (and the user item's ``conversation.item.done``) are sent. ``"after-response"``
      (default): the response starts at commit and the transcription is released once no
      response is in progress, i.e. after the assistant's transcript is done; a number: that
      many seconds after the commit (or when known, if later), whatever the response does;
      ``"before"``: the old kind order, the transcription first, the response after it.
    * ``server_truncation``: on barge-in (``interrupt_response``) the server truncates the
      assistant item to the audio played (``conversation.item.truncated``), as over WebRTC.
    * ``max_session_seconds``: after this the call gets ``error`` ``session_expired`` and is
      closed.
    * ``ga_only``: answer the beta routes and beta-shaped sessions with
      ``beta_api_shape_disabled``, as api.openai.com does.

    ``max_calls``: calls open at once (default :data:`MAX_CALLS`). One more is refused with a
    429 in the shape of the API's rate-limit error (``type`` ``requests``, ``code``
    ``rate_limit_exceeded``), at the call route and at ``client_secrets``; the open calls
    go on undisturbed.

    Local servers for the steps of a turn (:mod:`.upstreams`; each optional, the built-in
    one otherwise): ``transcribe`` (``/audio/transcriptions``), ``speech`` (``/audio/speech``;
    ``speech_voice`` asks for that voice whatever the session's), and the chat step
    ``responder_url``/``responder_model``/``responder_api_key`` (``/chat/completions``).
    ``upstream_timeout``: seconds each request may take (each streamed piece).

    ``speculate`` (default on): with ``server_vad``, start writing a turn's reply (the chat
    request, the first sentence's speech) when its words are asked for, just before its silence
    ends it, and send it only if the turn ends with those words (:mod:`.speculation`). A paid
    chat server bills the replies thrown away (pauses that nearly ended a turn).
    """

    mode: PeerMode = "assistant"
    responder_url: str | None = None
    responder_model: str = "gpt-4o-mini"
    responder_api_key: str | None = None
    responder: Responder | None = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    model: str | None = None  # a call's model when it names none (None: gpt-realtime-2.1)
    faults: Sequence[str] = ()
    fault_delay: float = 1.0
    fault_sdp_delay: float = 60.0
    fault_admin: bool = False
    transcription_lag: TranscriptionLag = "after-response"
    server_truncation: bool = True
    max_session_seconds: float = MAX_SESSION_SECONDS
    ga_only: bool = False
    max_calls: int = MAX_CALLS
    transcribe: Upstream | None = None
    speech: Upstream | None = None
    speech_voice: str | None = None
    upstream_timeout: float = UPSTREAM_TIMEOUT
    speculate: bool = True

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise ValueError("max_calls must be at least 1")
