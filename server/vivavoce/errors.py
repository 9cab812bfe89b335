"""The one exception tree of vivavoce.

    VivavoceError                  root; ``code`` is the JSON-RPC error code it maps to
    │                              (-32803 RequestFailed unless said otherwise)
    ├── ConfigError                a setting is missing or invalid (names the key); -32602
    │   └── RefusedError           a server will not start as asked: an address it may not
    │                              listen on, a port in use, its files missing; -32602
    ├── SignalingError             an HTTP step with the Realtime server failed (names the step)
    │   ├── AuthenticationError    401/403: key missing, wrong or expired
    │   ├── RateLimitError         429; ``retry_after`` seconds when the server said
    │   ├── ServerError            5xx
    │   └── BadRequestError        other 4xx (bad model, bad session, …)
    ├── StepTimeout                a step did not finish in time (names the step)
    ├── CallError                  the WebRTC call failed or ended unexpectedly
    │   └── SessionExpired         the server ended the session at its time limit
    ├── HistoryError               the history file could not be written (disk full,
    │                              read-only…); the turns are kept in memory
    └── ProtocolError              an event could not be parsed or is too large to send; -32602

Every message is one line a user can act on; none carries a secret.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CallError",
    "ConfigError",
    "HistoryError",
    "ProtocolError",
    "RateLimitError",
    "RefusedError",
    "ServerError",
    "SessionExpired",
    "SignalingError",
    "StepTimeout",
    "VivavoceError",
]


class VivavoceError(Exception):
    """Root of every error vivavoce raises on purpose."""

    #: JSON-RPC error code (LSP "RequestFailed" by default).
    code: int = -32803

    def __init__(self, message: str) -> None:
        # One line, always: a user sees this in a status bar or an echo area.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(VivavoceError):
    """A setting is missing or invalid."""

    code = -32602  # InvalidParams

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class RefusedError(ConfigError):
    """A server will not start as asked (a non-loopback address, a port in use, …).

    A :class:`ConfigError`: what the user asked for (``--host``, ``--port``, ``--ws``) is what
    has to change.
    """


class SignalingError(VivavoceError):
    """An HTTP exchange with the Realtime server failed."""

    def __init__(
        self,
        message: str,
        *,
        step: str,
        status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.status = status
        self.error_code = error_code


class AuthenticationError(SignalingError):
    """The server refused the key (401/403)."""


class RateLimitError(SignalingError):
    """The server asked us to slow down (429)."""

    def __init__(
        self,
        message: str,
        *,
        step: str,
        status: int | None = 429,
        error_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, step=step, status=status, error_code=error_code)
        self.retry_after = retry_after


class ServerError(SignalingError):
    """The server failed (5xx)."""


class BadRequestError(SignalingError):
    """The server rejected the request (other 4xx)."""


class StepTimeout(VivavoceError):
    """A step of connecting or talking did not finish in time."""

    def __init__(self, step: str, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s while {step}")
        self.step = step
        self.seconds = seconds


class CallError(VivavoceError):
    """The WebRTC call failed or ended unexpectedly."""


class SessionExpired(CallError):
    """The server ended the session at its time limit (60 minutes on api.openai.com)."""


class HistoryError(VivavoceError):
    """The history file could not be written; the turns are still in memory."""


class ProtocolError(VivavoceError):
    """An event could not be parsed, or is too large to send."""

    code = -32602
