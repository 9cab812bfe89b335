"""Who may use the WebSocket server: a per-start token, an Origin allow-list, loopback only.

* The ``Host`` header must name this server (:func:`vivavoce.netguard.addressed_here`: a
  loopback name or address, or the host it listens on); otherwise 421. A DNS-rebinding page
  (``evil.example`` now resolving to 127.0.0.1) sends its own name, and its own Origin, which
  is same-origin with itself: only the Host check stops it before the token is even asked for.

Cheap to import (no aiohttp, no pygls): the ``vivavoce`` command's argument parsing uses it.

* The token is made at every start and printed once; a browser passes it as ``?token=…`` (it
  cannot set headers), other clients may send ``Authorization: Bearer …``. Wrong or missing: 401.
* An ``Origin`` header, when present, must be on the list; otherwise 403. Browsers always send
  one, so another page in the user's browser cannot drive the microphone even if it guessed the
  port and the token were leaked to it by no fault of ours. Pages opened from a file send ``null``
  (Chrome, Firefox) or ``file://``; both are admitted by default. Editors and scripts send no
  Origin: the token alone guards them. ``*`` on the list admits every origin.
* The server binds loopback only, unless ``allow_remote`` (:func:`vivavoce.netguard.check_bind`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..netguard import addressed_here

__all__ = ["FILE_ORIGINS", "Gate", "new_token", "normalize_origin"]

if TYPE_CHECKING:
    from aiohttp.web import BaseRequest

#: Origins admitted by default: pages opened from a local file.
FILE_ORIGINS: frozenset[str] = frozenset({"null", "file://"})


def new_token() -> str:
    """A fresh random token for one start (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def normalize_origin(origin: str) -> str:
    """``HTTP://Example.com/`` → ``http://example.com`` (how browsers send it)."""
    return origin.strip().rstrip("/").lower()


@dataclass
class Gate:
    """Who may open a connection: the token, the allowed ``Origin`` values, the ``Host``."""

    token: str
    allowed_origins: set[str] = field(default_factory=lambda: set(FILE_ORIGINS))
    #: The host the server listens on (requests may also name loopback).
    host: str = "127.0.0.1"

    def allow(self, origins: Iterable[str]) -> None:
        self.allowed_origins.update(normalize_origin(o) for o in origins)

    def refusal(self, request: BaseRequest) -> tuple[int, str] | None:
        """``(HTTP status, one-line reason)`` if the request must be refused, else None."""
        if not self.addressed(request):
            return 421, "this server answers only requests addressed to it (Host)"
        given = request.query.get("token", "")
        auth = request.headers.get("Authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return 401, "wrong or missing token"
        origin = request.headers.get("Origin")
        if origin is not None:
            allowed = {normalize_origin(o) for o in self.allowed_origins}
            if "*" not in allowed and normalize_origin(origin) not in allowed:
                return 403, f"origin {origin!r} is not allowed"
        return None

    def addressed(self, request: BaseRequest) -> bool:
        """Whether the request's ``Host`` names this server (the DNS-rebinding check)."""
        return addressed_here(request.headers.get("Host"), self.host)
