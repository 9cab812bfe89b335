"""Settings of a local peer (what ``start_peer(**options)`` and ``vivavoce peer`` accept)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .responders import Responder

#: OpenAI's upload limit for audio files.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024

#: What the peer's calls do: answer as an assistant, or send the caller's audio back.
PeerMode = Literal["assistant", "echo"]


@dataclass
class PeerOptions:
    """Options of :func:`vivavoce.peer.start_peer` (all keyword arguments).

    ``mode``: ``"assistant"`` (VAD → recognition → responder → speech) or ``"echo"`` (calls
    return the caller's audio unchanged). ``responder_url``: forward replies to this
    OpenAI-compatible chat completions URL (base ``…/v1`` or full URL) instead of the built-in
    responder; ``responder`` injects any :class:`~vivavoce.peer.responders.Responder` object.
    ``faults``: fault names to inject (see :mod:`vivavoce.peer.faults`), ``fault_delay``
    seconds after ``session.created`` for call faults, ``fault_sdp_delay`` for ``sdp-slow``.
    """

    mode: PeerMode = "assistant"
    responder_url: str | None = None
    responder_model: str = "gpt-4o-mini"
    responder_api_key: str | None = None
    responder: Responder | None = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    model: str = "gpt-realtime"
    faults: Sequence[str] = ()
    fault_delay: float = 1.0
    fault_sdp_delay: float = 60.0
