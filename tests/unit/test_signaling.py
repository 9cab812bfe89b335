"""HTTP steps against exact server answers (httpx MockTransport): typed, one-line errors."""

import json
from collections.abc import Callable

import httpx
import pytest

from vivavoce.errors import (
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
    SignalingError,
    StepTimeout,
)
from vivavoce.realtime import events as ev
from vivavoce.realtime.signaling import EphemeralKey, Signaling

API_KEY = "sk-test-SECRET-0123456789"
SDP_ANSWER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"


def _signaling(
    handler: Callable[[httpx.Request], httpx.Response], dialect: str = "ga"
) -> Signaling:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Signaling(
        http,
        base_url="https://api.example.test/v1",
        api_key=API_KEY,
        dialect=dialect,  # type: ignore[arg-type]
        timeout=0.5,
    )


def _error(status: int, message: str, code: str | None = None, **headers: str) -> httpx.Response:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    }
    return httpx.Response(status, json=body, headers=headers)


async def test_ga_mint_asks_for_a_realtime_session_and_returns_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"value": "ek_abc", "expires_at": 1_900_000_000, "session": {}}
        )

    key = await _signaling(handler).mint_key(ev.Session(model="gpt-realtime"))
    assert key.value == "ek_abc"
    assert "ek_abc" not in repr(key)
    request = seen[0]
    assert request.url.path == "/v1/realtime/client_secrets"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = json.loads(request.content)
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 600}
    assert body["session"]["type"] == "realtime"
    assert body["session"]["model"] == "gpt-realtime"


async def test_ga_sdp_exchange_posts_sdp_with_the_ephemeral_key_and_reads_the_call_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/realtime/calls"
        assert request.headers["content-type"] == "application/sdp"
        assert request.headers["authorization"] == "Bearer ek_abc"
        assert request.content.startswith(b"v=0")
        return httpx.Response(
            201, text=SDP_ANSWER, headers={"Location": "/v1/realtime/calls/rtc_123"}
        )

    answer = await _signaling(handler).exchange_sdp(EphemeralKey("ek_abc", 0), "v=0\r\n", "m")
    assert answer.call_id == "rtc_123"
    assert answer.sdp == SDP_ANSWER


async def test_beta_dialect_uses_sessions_and_the_model_query() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(str(request.url))
        if request.url.path.endswith("/sessions"):
            assert json.loads(request.content)["voice"] == "echo"
            return httpx.Response(200, json={"client_secret": {"value": "ek_b", "expires_at": 1}})
        return httpx.Response(201, text=SDP_ANSWER)

    s = _signaling(handler, dialect="beta")
    key = await s.mint_key(
        ev.Session(model="m", audio=ev.SessionAudio(output=ev.AudioOutput(voice="echo")))
    )
    await s.exchange_sdp(key, "v=0\r\n", "gpt-4o-realtime-preview")
    assert paths == [
        "https://api.example.test/v1/realtime/sessions",
        "https://api.example.test/v1/realtime?model=gpt-4o-realtime-preview",
    ]


@pytest.mark.parametrize(
    ("response", "error_type", "text"),
    [
        (
            _error(401, "Incorrect API key provided: sk-test-*****6789.", "invalid_api_key"),
            AuthenticationError,
            "API key rejected by api.example.test while minting an ephemeral key (401): "
            "Incorrect API key provided: sk-test-*****6789.",
        ),
        (
            _error(403, "Project does not have access to model gpt-realtime"),
            AuthenticationError,
            "access denied by api.example.test while minting an ephemeral key (403): "
            "Project does not have access to model gpt-realtime",
        ),
        (
            _error(
                429,
                "Rate limit reached for requests",
                "rate_limit_exceeded",
                **{"retry-after": "2.5"},
            ),
            RateLimitError,
            "rate limited by api.example.test while minting an ephemeral key (429): "
            "Rate limit reached for requests; retry in 2.5 s",
        ),
        (
            _error(500, "The server had an error while processing your request."),
            ServerError,
            "api.example.test failed while minting an ephemeral key (500): "
            "The server had an error while processing your request.",
        ),
        (
            _error(400, "Invalid value: 'gpt-nope'. Model not found.", "invalid_value"),
            BadRequestError,
            "api.example.test refused minting an ephemeral key (400): "
            "Invalid value: 'gpt-nope'. Model not found.",
        ),
        (
            httpx.Response(502, text="<html>\n<body>Bad Gateway</body>\n</html>"),
            ServerError,
            "api.example.test failed while minting an ephemeral key (502): "
            "<html> <body>Bad Gateway</body> </html>",
        ),
    ],
)
async def test_http_failures_become_typed_errors_with_the_servers_message(
    response: httpx.Response, error_type: type[SignalingError], text: str
) -> None:
    with pytest.raises(error_type) as info:
        await _signaling(lambda _: response).mint_key(ev.Session(model="m"))
    assert str(info.value) == text
    assert API_KEY not in str(info.value)
    assert info.value.step == "minting an ephemeral key"


async def test_rate_limit_carries_retry_after_seconds() -> None:
    response = _error(429, "slow down", **{"retry-after-ms": "1500"})
    with pytest.raises(RateLimitError) as info:
        await _signaling(lambda _: response).mint_key(ev.Session(model="m"))
    assert info.value.retry_after == 1.5


async def test_a_full_server_refusing_the_call_is_one_line_naming_too_many_calls() -> None:
    """The local peer's 429 for a call beyond ``--max-calls`` (no retry-after: a call ends
    when it ends), as the user reads it."""
    body = {
        "error": {
            "message": "Too many simultaneous calls: this server takes 16 at a time (limit 16, "
            "open 16, requested 1). Please try again when a call ends.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    with pytest.raises(RateLimitError) as info:
        await _signaling(lambda _: httpx.Response(429, json=body)).exchange_sdp(
            EphemeralKey("ek", 0), "v=0", "m"
        )
    assert str(info.value) == (
        "rate limited by api.example.test while exchanging SDP (429): Too many simultaneous "
        "calls: this server takes 16 at a time (limit 16, open 16, requested 1). Please try "
        "again when a call ends."
    )
    assert info.value.error_code == "rate_limit_exceeded" and info.value.retry_after is None


async def test_a_server_that_never_answers_times_out_naming_the_step() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(StepTimeout, match="timed out after 0.5 s while exchanging SDP"):
        await _signaling(handler).exchange_sdp(EphemeralKey("ek", 0), "v=0", "m")


async def test_unreachable_server_names_host_and_step() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SignalingError, match="cannot reach api.example.test while minting"):
        await _signaling(handler).mint_key(ev.Session(model="m"))


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (httpx.Response(200, json={"expires_at": 1}), "has no key"),
        (httpx.Response(200, text="<html>"), "is not JSON"),
        (httpx.Response(200, json=["x"]), "not a JSON object"),
    ],
)
async def test_malformed_client_secret_answers_are_clear_errors(
    response: httpx.Response, text: str
) -> None:
    with pytest.raises(SignalingError, match=text):
        await _signaling(lambda _: response).mint_key(ev.Session(model="m"))


async def test_an_answer_that_is_not_sdp_is_refused() -> None:
    response = httpx.Response(201, text='{"ok": true}')
    with pytest.raises(SignalingError, match="is not SDP"):
        await _signaling(lambda _: response).exchange_sdp(EphemeralKey("ek", 0), "v=0", "m")
