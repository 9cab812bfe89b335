"""Who may use the peer: the configured API key and the ephemeral keys the peer minted.

* With an API key configured, every route needs ``Authorization: Bearer <key>``; realtime call
  routes also take an unexpired ephemeral key (``ek_…``) minted by this peer.
* With none configured, any non-empty bearer is accepted, except an ephemeral key this peer
  minted that has expired.
Ephemeral keys remember the session they were minted with (calls made with them start from it).
Keys are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from ..realtime.events import Session

#: Minted keys remembered (oldest forgotten first).
MAX_KEYS = 10_000


@dataclass(frozen=True)
class EphemeralKey:
    value: str
    expires_at: int
    session: Session
    dialect: str  # "ga" or "beta": the route that minted it


class AuthError(Exception):
    """401 with an OpenAI-shaped body."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class KeyStore:
    """The peer's API key and its minted ephemeral keys."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key or None
        self._ephemeral: OrderedDict[str, EphemeralKey] = OrderedDict()

    def mint(self, session: Session, seconds: int, dialect: str = "ga") -> EphemeralKey:
        key = EphemeralKey(
            value="ek_" + secrets.token_hex(16),
            expires_at=int(time.time()) + seconds,
            session=session,
            dialect=dialect,
        )
        self._ephemeral[key.value] = key
        while len(self._ephemeral) > MAX_KEYS:
            self._ephemeral.popitem(last=False)
        return key

    def check(self, authorization: str | None, *, allow_ephemeral: bool) -> EphemeralKey | None:
        """Validate a header; return the ephemeral key used, if any. Raises :class:`AuthError`."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                None,
            )
        minted = self._ephemeral.get(token)
        if minted is not None:
            if minted.expires_at <= time.time():
                raise AuthError("The ephemeral key has expired.", "invalid_api_key")
            if allow_ephemeral or self.api_key is None:
                return minted
            raise AuthError(
                "Ephemeral keys can only be used to connect realtime calls.", "invalid_api_key"
            )
        if self.api_key is None or hmac.compare_digest(token.encode(), self.api_key.encode()):
            return None
        raise AuthError("Incorrect API key provided.", "invalid_api_key")
