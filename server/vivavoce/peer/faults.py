"""Fault injection: the local peer misbehaving on purpose, so clients can be tested against it.

Faults are named; ``vivavoce peer --fault NAME`` (repeatable), ``start_peer(faults=[...])`` or
``POST /v1/_admin/faults`` (only on a peer started with ``--faults`` / ``fault_admin``;
loopback clients with the key) turn them on.

HTTP faults (persist until turned off):

* ``key-401``, ``key-403``, ``key-429`` (with ``retry-after``), ``key-500``, ``key-503``:
  minting a key (``client_secrets`` / beta ``sessions``) fails with that status.
* ``key-malformed``: minting answers 200 with JSON that has no key.
* ``sdp-slow``: the SDP answer comes after ``sdp_delay`` seconds (or when the peer closes).
* ``sdp-garbled``: 201 with a body that starts like SDP and is not.
* ``sdp-400``: the offer is refused (400).
* ``ice-unreachable``: a real answer whose candidates point at a closed port, and the peer's
  side hung up: ICE can never connect.
* ``reject-events``: every client event is answered with an ``error`` event naming it.

Call faults fire on a live call ``delay`` seconds after ``session.created`` when active, or at
once on every live call when posted as ``fire`` to the admin endpoint:

* ``channel-close``: the data channel closes mid-call.
* ``session-expired``: an ``error`` event with code ``session_expired``, then the call closes.
* ``malformed-json``, ``unknown-event``, ``oversize-message`` (a 70 KiB event, over the
  64 KiB the protocol allows): the server sends something a client must survive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..realtime.events import new_id
from .errors import ApiError

KEY_STATUS: dict[str, int] = {
    "key-401": 401,
    "key-403": 403,
    "key-429": 429,
    "key-500": 500,
    "key-503": 503,
}
HTTP_FAULTS = frozenset(
    {*KEY_STATUS, "key-malformed", "sdp-slow", "sdp-garbled", "sdp-400", "ice-unreachable"}
)
CALL_FAULTS = frozenset(
    {"channel-close", "session-expired", "malformed-json", "unknown-event", "oversize-message"}
)
EVENT_FAULTS = frozenset({"reject-events"})
ALL_FAULTS = HTTP_FAULTS | CALL_FAULTS | EVENT_FAULTS

#: What the server says when a session reaches its maximum length (as OpenAI words it).
EXPIRED_MESSAGE = "Your session hit the maximum duration of 60 minutes."
OVERSIZE_BYTES = 70 * 1024
GARBLED_SDP = "v=0\r\nthis is not a session description\r\nm=garbage\r\n"

_KEY_MESSAGES = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use the Realtime API.", "invalid_request_error", None),
    429: ("Rate limit reached for requests.", "rate_limit_error", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def check_names(names: Iterable[str]) -> frozenset[str]:
    """The names as a set; ``ValueError`` (one line) for an unknown one."""
    chosen = frozenset(names)
    unknown = sorted(chosen - ALL_FAULTS)
    if unknown:
        raise ValueError(
            f"unknown fault {unknown[0]!r}; known faults: {', '.join(sorted(ALL_FAULTS))}"
        )
    return chosen


@dataclass
class Faults:
    """The faults a peer injects now, and their timing."""

    active: frozenset[str] = field(default_factory=frozenset)
    #: Seconds after session.created before an active call fault fires.
    delay: float = 1.0
    #: How late ``sdp-slow`` answers.
    sdp_delay: float = 60.0
    #: ``retry-after`` of ``key-429``.
    retry_after: int = 2

    def __post_init__(self) -> None:
        self.active = check_names(self.active)

    def set(self, names: Iterable[str]) -> None:
        self.active = check_names(names)

    def on(self, name: str) -> bool:
        return name in self.active

    def call_faults(self) -> list[str]:
        return sorted(self.active & CALL_FAULTS)

    def check_key(self) -> dict[str, Any] | None:
        """Raise the injected error of minting a key, or return a malformed body, or None."""
        for name, status in KEY_STATUS.items():
            if name in self.active:
                message, kind, code = _KEY_MESSAGES[status]
                error = ApiError(status, message, type=kind, code=code)
                if status == 429:
                    error.headers = {"retry-after": str(self.retry_after)}
                raise error
        if "key-malformed" in self.active:
            return {"object": "realtime.client_secret", "secret": None}
        return None

    def check_offer(self) -> None:
        if "sdp-400" in self.active:
            raise ApiError(
                400,
                "The SDP offer could not be processed.",
                param="sdp",
                code="invalid_offer",
            )

    def wire(self) -> dict[str, Any]:
        return {
            "faults": sorted(self.active),
            "delay": self.delay,
            "sdpDelay": self.sdp_delay,
            "known": sorted(ALL_FAULTS),
        }


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ \S+ )(\d+)( .*)$", re.MULTILINE)


def unreachable(sdp: str, port: int = 9) -> str:
    """``sdp`` with every candidate's port replaced by ``port`` (nothing listens there)."""
    return _CANDIDATE.sub(lambda m: f"{m.group(1)}{port}{m.group(3)}", sdp)


def call_fault_messages(name: str) -> tuple[list[str], bool]:
    """The messages a call fault sends, and whether the call then closes its channel."""
    if name == "session-expired":
        error = {
            "type": "error",
            "event_id": new_id("event"),
            "error": {
                "type": "invalid_request_error",
                "code": "session_expired",
                "message": EXPIRED_MESSAGE,
                "param": None,
                "event_id": None,
            },
        }
        return [json.dumps(error)], True
    if name == "channel-close":
        return [], True
    if name == "malformed-json":
        return ['{"type": "response.output_text.delta", "delta": '], False
    if name == "unknown-event":
        return [
            json.dumps({"type": "vivavoce.fault.unknown", "event_id": new_id("event"), "x": 1})
        ], False
    if name == "oversize-message":
        event = {
            "type": "response.output_text.delta",
            "event_id": new_id("event"),
            "response_id": new_id("resp"),
            "item_id": new_id("item"),
            "output_index": 0,
            "content_index": 0,
            "delta": "x" * OVERSIZE_BYTES,
        }
        return [json.dumps(event)], False
    raise ValueError(f"not a call fault: {name!r}")


def rejection(raw: str | bytes) -> str:
    """The ``error`` event answering a client event under ``reject-events``."""
    event_id = None
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and isinstance(data.get("event_id"), str):
            event_id = data["event_id"]
    except ValueError:
        pass
    return json.dumps(
        {
            "type": "error",
            "event_id": new_id("event"),
            "error": {
                "type": "invalid_request_error",
                "code": "fault_injected",
                "message": "The server refused this event.",
                "param": None,
                "event_id": event_id,
            },
        }
    )
