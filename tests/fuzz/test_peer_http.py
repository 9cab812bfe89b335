"""The peer's HTTP routes, fuzzed over real sockets against one ``vivavoce peer`` process.

Bodies (near-valid sessions, wrong types, huge strings, deep nesting, mutated aiortc offers,
multipart forms, random files) and headers (Authorization, Content-Type, Content-Length that
lies). Whatever arrives: an answer within the timeout, never a 5xx, every 4xx the OpenAI error
shape with a one-line message, and the peer still answers a valid request afterwards.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPResponse, RemoteDisconnected

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.servers import LoopThread, Server, serving
from tests.fuzz.strategies import (
    Blob,
    deep_json,
    huge_json,
    json_values,
    mutated_lines,
    objects_with,
)

# A real call (or server) runs in another thread while examples are drawn; its ICE/SCTP code
# draws from the global `random`, and Hypothesis takes that for the strategy's doing.
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

KEY = "sk-fuzz-peer"
SOCKET_BUFFERS = 64 * 1024
TIMEOUT = 10.0  # one request; a flite synthesis of a short text takes well under this

JSON_ROUTES = [
    "/v1/realtime/client_secrets",
    "/v1/realtime/sessions",
    "/v1/chat/completions",
    "/v1/audio/speech",
]
CALL_ROUTES = ["/v1/realtime/calls", "/v1/realtime?model=gpt-4o-realtime-preview"]
SESSION_KEYS = [
    "type", "model", "instructions", "output_modalities", "audio", "tools", "tool_choice",
    "max_output_tokens", "voice", "modalities", "turn_detection", "input_audio_format",
    "input_audio_transcription", "expires_after", "session", "id", "object", "speed",
]  # fmt: skip
BODY_KEYS = [
    *SESSION_KEYS, "messages", "stream", "stream_options", "input", "response_format",
    "stream_format", "seconds", "role", "content", "tool_calls", "function", "name",
]  # fmt: skip


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("peer") / "peer.err"
    args = ["peer", "--port", "0", "--api-key", KEY, "--max-upload-mib", "1"]
    with serving(args, log) as server:
        server.wait_listening()
        yield server


@pytest.fixture(scope="module")
def offer() -> str:
    """A real aiortc offer (data channel + audio, loopback candidates) to mutate."""
    from aiortc import RTCPeerConnection

    from vivavoce.rtc import prepare_aiortc, rtc_configuration
    from vivavoce.rtc.ice import host_addresses
    from vivavoce.rtc.tracks import PcmSource, PcmSourceTrack

    async def make() -> str:
        prepare_aiortc()
        pc = RTCPeerConnection(rtc_configuration([]))
        pc.createDataChannel("oai-events")
        pc.addTransceiver(PcmSourceTrack(PcmSource()), direction="sendrecv")
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        sdp = Blob(pc.localDescription.sdp)
        await pc.close()
        return sdp

    loop = LoopThread()
    try:
        return loop.run(make(), 30)
    finally:
        loop.close()


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def ctype(self) -> str:
        return self.headers.get("Content-Type") or ""


def exchange(server: Server, raw: bytes, *, half_close: bool = False) -> Answer | None:
    """Send one raw request; the answer (None: a half-closed request, closed unanswered)."""
    host, port = server.url.split("/")[2].split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # reset, or shut down (ENOTCONN) before we were done
            # More than the socket buffers hold: the peer may stop reading once it refused the
            # headers (a junk Content-Length) or the size, and its answer is then lost.
            assert len(raw) > SOCKET_BUFFERS, f"closed while sending {raw[:200]!r}"
            return None
        resp = HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode("latin-1"))
        try:
            resp.begin()
        except TimeoutError:
            raise AssertionError(f"no answer within {TIMEOUT} s to {raw[:200]!r}") from None
        except RemoteDisconnected:
            # The client never sent the body it announced: closing is an answer.
            assert half_close, f"closed without an answer: {raw[:200]!r}"
            return None
        return Answer(resp.status, resp.headers, resp.read())


def request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: str | None = None,
) -> bytes:
    """A raw HTTP/1.1 request; ``length`` overrides the Content-Length header (it may lie)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def assert_openai_error(answer: Answer) -> None:
    assert answer.ctype.startswith("application/json"), (answer.status, answer.body[:300])
    data = json.loads(answer.body)
    error = data["error"]
    assert set(error) >= {"message", "type", "param", "code"}, data
    message = error["message"]
    assert isinstance(message, str) and message and "\n" not in message, data
    assert "Traceback" not in message


def check(server: Server, raw: bytes, *, half_close: bool = False) -> Answer | None:
    """Send ``raw``; assert the answer is no 5xx and a 4xx is OpenAI-shaped; then the peer
    still works."""
    since = len(server.stderr())
    answer = exchange(server, raw, half_close=half_close)
    if answer is not None:
        assert_answer(server, answer, raw, since)
    models = exchange(server, request("GET", "/v1/models", headers=auth()))
    assert models is not None and models.status == 200, models
    server.assert_healthy(since)
    return answer


def assert_answer(server: Server, answer: Answer, raw: bytes, since: int) -> None:
    """No 5xx, a 4xx in the OpenAI shape; an accepted offer's call hung up."""
    assert answer.status < 500, (answer.status, raw[:300], server.stderr()[since:][-3000:])
    if answer.status >= 400:
        assert_openai_error(answer)
    location = answer.headers.get("Location")
    if answer.status == 201 and location:
        # A fuzzed offer that was accepted made a call: end it, so that calls stay few.
        exchange(server, request("POST", f"{location}/hangup", headers=auth()))


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- strategies

authorizations = st.one_of(
    st.just(auth()),
    st.just(auth()),
    st.just({}),
    st.builds(lambda t: {"Authorization": t}, st.text(max_size=40)),
    st.builds(lambda t: {"Authorization": f"Bearer {t}"}, st.text(min_size=1, max_size=20)),
    st.just({"Authorization": "Bearer ek_" + "0" * 32}),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
extra_headers = st.dictionaries(
    st.sampled_from(["Content-Type", "Origin", "OpenAI-Beta", "Accept", "X-Random", "Expect"]),
    header_text | st.sampled_from(["application/json", "application/sdp", "text/plain"]),
    max_size=3,
)
near_session = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["realtime", "transcription", "x"]) | json_values,
        "model": st.sampled_from(["gpt-realtime", "gpt-4o-realtime-preview", "", "x"])
        | json_values,
        "instructions": st.text(max_size=30) | json_values,
        "output_modalities": st.lists(st.sampled_from(["audio", "text", "x"]), max_size=3)
        | json_values,
        "audio": objects_with(["input", "output"]) | json_values,
        "voice": st.sampled_from(["alloy", "marin", "nobody"]) | json_values,
        "modalities": json_values,
        "turn_detection": objects_with(["type", "threshold", "silence_duration_ms"]) | json_values,
        "tools": st.lists(objects_with(["type", "name", "parameters"]), max_size=2) | json_values,
        "max_output_tokens": st.integers() | st.just("inf") | json_values,
        "input_audio_transcription": objects_with(["model", "language"]) | json_values,
    },
)
chat_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "developer", "x"])},
    optional={
        "content": st.text(max_size=30) | json_values,
        "tool_calls": json_values,
        "tool_call_id": json_values,
    },
)
near_body = st.fixed_dictionaries(
    {},
    optional={
        "session": near_session | json_values,
        "expires_after": objects_with(["anchor", "seconds"]) | json_values,
        "model": st.sampled_from(["gpt-4o-mini", "tts-1", "gpt-realtime"]) | json_values,
        "messages": st.lists(chat_message, max_size=3) | json_values,
        "stream": st.booleans() | json_values,
        "input": st.text(max_size=20) | json_values,
        "voice": json_values,
        "response_format": st.sampled_from(["wav", "pcm", "mp3"]) | json_values,
        "speed": st.floats() | json_values,
        "tools": json_values,
    },
)
json_bodies = (
    st.one_of(
        near_body.map(json.dumps),
        near_session.map(json.dumps),
        objects_with(BODY_KEYS).map(json.dumps),
        json_values.map(json.dumps),
    ).map(str.encode)
    | deep_json
    | huge_json
    | st.binary(max_size=200)
)


@st.composite
def lengths(draw: st.DrawFn, body: bytes) -> tuple[str | None, bool]:
    """A Content-Length header for ``body`` (None: the true one) and whether to half-close."""
    kind = draw(st.sampled_from(["true"] * 6 + ["short", "long", "junk"]))
    if kind == "short" and body:
        return str(draw(st.integers(0, len(body) - 1))), False
    if kind == "long":
        return str(len(body) + draw(st.integers(1, 5000))), True
    if kind == "junk":
        return draw(
            st.sampled_from(["-1", "abc", "1e3", " 5", "0x10", "99999999999999999999"])
        ), True
    return None, False


# --------------------------------------------------------------------------- tests


@settings(deadline=None)  # each exchange asserts its own time limit
@given(
    path=st.sampled_from(JSON_ROUTES),
    body=json_bodies,
    headers=authorizations,
    extra=extra_headers,
    data=st.data(),
)
def test_json_routes_answer_every_body_without_a_5xx(
    peer: Server,
    path: str,
    body: bytes,
    headers: dict[str, str],
    extra: dict[str, str],
    data: st.DataObject,
) -> None:
    length, half_close = data.draw(lengths(body))
    raw = request(
        "POST", path, body, {"Content-Type": "application/json", **headers, **extra}, length=length
    )
    check(peer, raw, half_close=half_close)


@st.composite
def offers(draw: st.DrawFn, real: str) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "garbage", "real"]))
    if kind == "real":
        return real.encode()
    if kind == "garbage":
        return draw(st.binary(max_size=300) | huge_json)
    return draw(mutated_lines(real.split("\r\n"))).encode("utf-8", "surrogatepass")


@st.composite
def multipart(draw: st.DrawFn, sdp: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    fields: list[tuple[str, bytes, str | None]] = []
    if draw(st.booleans()):
        fields.append(("sdp", sdp, draw(st.none() | st.just("offer.sdp"))))
    if draw(st.booleans()):
        session = draw(near_session.map(json.dumps).map(str.encode) | st.binary(max_size=80))
        fields.append(("session", session, None))
    extra = draw(st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=40)), max_size=2))
    fields += [(name, value, None) for name, value in extra]
    return form(boundary, fields), f"multipart/form-data; boundary={boundary}"


def form(boundary: str, fields: list[tuple[str, bytes, str | None]]) -> bytes:
    out = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode(
            "utf-8", "surrogateescape"
        )
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@settings(deadline=None)  # each exchange asserts its own time limit
@given(data=st.data(), headers=authorizations, path=st.sampled_from(CALL_ROUTES))
def test_offers_as_sdp_or_forms_answer_without_a_5xx(
    peer: Server, offer: str, data: st.DataObject, headers: dict[str, str], path: str
) -> None:
    sdp = data.draw(offers(offer))
    if data.draw(st.booleans()):
        body, ctype = sdp, data.draw(st.sampled_from(["application/sdp"] * 3 + ["text/plain"]))
    else:
        body, ctype = data.draw(multipart(sdp))
    length, half_close = data.draw(lengths(body))
    raw = request("POST", path, body, {"Content-Type": ctype, **headers}, length=length)
    check(peer, raw, half_close=half_close)


@settings(deadline=None)  # each exchange asserts its own time limit
@given(
    data=st.data(),
    file=st.binary(max_size=2000) | st.sampled_from([b"RIFF", b"RIFF\x00\x00\x00\x00WAVEfmt "]),
    model=st.sampled_from(["whisper-1", "gpt-4o-transcribe", ""]) | st.text(max_size=10),
    fmt=st.none() | st.sampled_from(["json", "text", "verbose_json", "srt"]),
    headers=authorizations,
)
def test_transcriptions_answer_any_form_without_a_5xx(
    peer: Server,
    data: st.DataObject,
    file: bytes,
    model: str,
    fmt: str | None,
    headers: dict[str, str],
) -> None:
    fields: list[tuple[str, bytes, str | None]] = []
    if data.draw(st.booleans()):
        fields.append(("file", file, data.draw(st.sampled_from(["a.wav", "a.mp3", "x"]))))
    if data.draw(st.booleans()):
        fields.append(("model", model.encode("utf-8", "surrogatepass"), None))
    if fmt is not None:
        fields.append(("response_format", fmt.encode(), None))
    boundary = uuid.uuid4().hex
    body = form(boundary, fields)
    ctype = data.draw(
        st.just(f"multipart/form-data; boundary={boundary}")
        | st.sampled_from(["multipart/form-data", "application/json", "multipart/form-data; b=x"])
    )
    length, half_close = data.draw(lengths(body))
    raw = request(
        "POST", "/v1/audio/transcriptions", body, {"Content-Type": ctype, **headers}, length=length
    )
    check(peer, raw, half_close=half_close)


@settings(deadline=None)  # each exchange asserts its own time limit
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from([*JSON_ROUTES, *CALL_ROUTES, "/v1/models", "/v1/_admin/faults"])
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(
        lambda p: "/" + p
    ),
    headers=authorizations,
    extra=extra_headers,
)
def test_any_method_and_path_answer_without_a_5xx(
    peer: Server, method: str, path: str, headers: dict[str, str], extra: dict[str, str]
) -> None:
    # A route the peer does not have answers an Expect header with aiohttp's own plain 417
    # (its expect handler runs before any middleware); the peer's routes answer in its shape.
    extra.pop("Expect", None)
    check(peer, request(method, path, b"", {**headers, **extra}))


def test_huge_headers_are_refused_in_the_openai_shape(peer: Server) -> None:
    raw = request("POST", JSON_ROUTES[0], b"{}", {**auth(), "X-Huge": "a" * 200_000})
    check(peer, raw)
