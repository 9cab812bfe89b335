"""The HTTP side of a call: mint an ephemeral key, trade SDP, hang up.

One :class:`Signaling` per call, on a shared ``httpx.AsyncClient``. Every failure becomes a
typed :mod:`vivavoce.errors` exception that names the step and carries the server's own message;
the API key and ephemeral keys never appear in one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import (
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
    SignalingError,
    StepTimeout,
)
from .events import Dialect, Session, session_to_beta

log = logging.getLogger(__name__)

#: GA keys may live up to 2 h; we ask for 10 min, and mint a fresh one per connection attempt.
EPHEMERAL_KEY_SECONDS = 600


@dataclass(frozen=True)
class EphemeralKey:
    value: str
    expires_at: float  # seconds since the epoch
    #: When the session this key opens ends (GA ``session.expires_at``), if the server said.
    session_expires_at: float | None = None

    def __repr__(self) -> str:  # never show the key itself
        return f"EphemeralKey(expires_at={self.expires_at})"


@dataclass(frozen=True)
class Answer:
    sdp: str
    call_id: str | None


class Signaling:
    """HTTP steps of one call against ``base_url`` (``…/v1``) in the given dialect."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        dialect: Dialect = "ga",
        timeout: float = 10.0,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self.dialect = dialect
        self._timeout = timeout

    async def mint_key(self, session: Session) -> EphemeralKey:
        """A short-lived key for this call, with the session configured up front."""
        step = "minting an ephemeral key"
        if self.dialect == "beta":
            body: dict[str, Any] = session_to_beta(session)
            data = await self._post_json(f"{self._base}/realtime/sessions", body, step)
            ends = None
            secret = data.get("client_secret")
            value = secret.get("value") if isinstance(secret, dict) else None
            expires = secret.get("expires_at") if isinstance(secret, dict) else None
        else:
            body = {
                "expires_after": {"anchor": "created_at", "seconds": EPHEMERAL_KEY_SECONDS},
                "session": session.model_dump(mode="json", exclude_none=True),
            }
            data = await self._post_json(f"{self._base}/realtime/client_secrets", body, step)
            value, expires = data.get("value"), data.get("expires_at")
            granted = data.get("session")
            ends = granted.get("expires_at") if isinstance(granted, dict) else None
        if not isinstance(value, str) or not value:
            raise SignalingError(
                f"the server's answer to {step} has no key (got fields: {sorted(data)})", step=step
            )
        key_ends = float(expires) if isinstance(expires, int | float) else time.time() + 60
        # 0 (unknown) or the key's own expiry repeated is no session end.
        session_ends: float | None = None
        if isinstance(ends, int | float) and time.time() < ends != key_ends:
            session_ends = float(ends)
        return EphemeralKey(value, key_ends, session_ends)

    async def exchange_sdp(self, key: EphemeralKey, offer_sdp: str, model: str) -> Answer:
        """POST the offer; the answer and the call id (from ``Location``) come back."""
        step = "exchanging SDP"
        if self.dialect == "beta":
            url, params = f"{self._base}/realtime", {"model": model}
        else:
            url, params = f"{self._base}/realtime/calls", {}
        response = await self._request(
            "POST",
            url,
            step,
            params=params,
            content=offer_sdp.encode(),
            headers={"Authorization": f"Bearer {key.value}", "Content-Type": "application/sdp"},
        )
        if not response.text.startswith("v=0"):
            raise SignalingError(
                f"the server's answer to {step} is not SDP (starts {response.text[:20]!r})",
                step=step,
            )
        location = response.headers.get("location", "")
        call_id = location.rstrip("/").rsplit("/", 1)[-1] if location else None
        return Answer(response.text, call_id)

    async def hang_up(self, call_id: str) -> None:
        """Tell the server the call is over (GA only; beta calls end with the connection)."""
        if self.dialect == "beta":
            return
        await self._request(
            "POST",
            f"{self._base}/realtime/calls/{call_id}/hangup",
            "hanging up",
            headers={"Authorization": f"Bearer {self._api_key}"},
        )

    async def _post_json(self, url: str, body: dict[str, Any], step: str) -> dict[str, Any]:
        response = await self._request(
            "POST", url, step, json=body, headers={"Authorization": f"Bearer {self._api_key}"}
        )
        try:
            data = response.json()
        except ValueError as exc:
            raise SignalingError(f"the server's answer to {step} is not JSON", step=step) from exc
        if not isinstance(data, dict):
            raise SignalingError(f"the server's answer to {step} is not a JSON object", step=step)
        return data

    async def _request(self, method: str, url: str, step: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, timeout=self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise StepTimeout(step, self._timeout) from exc
        except httpx.HTTPError as exc:
            host = httpx.URL(url).host
            raise SignalingError(
                f"cannot reach {host} while {step}: {type(exc).__name__}", step=step
            ) from exc
        if response.is_success:
            return response
        raise error_from_response(response, step)


def error_from_response(response: httpx.Response, step: str) -> SignalingError:
    """The typed error for a failed HTTP answer, with the server's own message."""
    status = response.status_code
    message, code = _server_message(response)
    where = httpx.URL(str(response.request.url)).host if response.request else "the server"
    detail = f": {message}" if message else ""
    trimmed = f": {message.rstrip('.')}" if message else ""
    if status in (401, 403):
        what = "API key rejected" if status == 401 else "access denied"
        return AuthenticationError(
            f"{what} by {where} while {step} ({status}){detail}",
            step=step,
            status=status,
            error_code=code,
        )
    if status == 429:
        retry = _retry_after(response)
        hint = f"; retry in {retry:g} s" if retry is not None else ""
        return RateLimitError(
            f"rate limited by {where} while {step} (429){trimmed if hint else detail}{hint}",
            step=step,
            error_code=code,
            retry_after=retry,
        )
    if status >= 500:
        return ServerError(
            f"{where} failed while {step} ({status}){detail}",
            step=step,
            status=status,
            error_code=code,
        )
    return BadRequestError(
        f"{where} refused {step} ({status}){detail}", step=step, status=status, error_code=code
    )


def _server_message(response: httpx.Response) -> tuple[str, str | None]:
    try:
        data = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200], None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or ""), str(code) if code is not None else None
    if isinstance(error, str):
        return error, None
    return "", None


def _retry_after(response: httpx.Response) -> float | None:
    for header in ("retry-after-ms", "retry-after"):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        return seconds / 1000 if header.endswith("-ms") else seconds
    return None
