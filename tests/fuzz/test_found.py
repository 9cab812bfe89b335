"""What the fuzz tests found, each pinned by its minimal example (plain tests, no Hypothesis)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from tests.fuzz.servers import serving
from vivavoce.lsp.framing import FrameReader, frame, handle
from vivavoce.peer import start_peer
from vivavoce.peer.app import RunningPeer
from vivavoce.peer.errors import error_body
from vivavoce.peer.wire import ClientEventError, parse_client_message

pytestmark = pytest.mark.timeout(120)

KEY = "sk-found"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def peer() -> AsyncIterator[RunningPeer]:
    running = await start_peer(api_key=KEY)
    yield running
    await running.close()


async def post(peer: RunningPeer, path: str, data: Any, ctype: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        headers = {**AUTH, "Content-Type": ctype}
        async with http.post(peer.base_url + path, data=data, headers=headers) as resp:
            return resp.status, await resp.json()


def one_line_error(body: Any) -> str:
    message: str = body["error"]["message"]
    assert message and "\n" not in message
    return message


# --------------------------------------------------------------------------- peer HTTP


@pytest.mark.parametrize(
    ("path", "data", "ctype"),
    [
        ("/realtime/client_secrets", "[" * 100_000 + "]" * 100_000, "application/json"),
        ("/realtime/sessions", '{"model": [null]}', "application/json"),
        ("/realtime/client_secrets", '{"session": {"model": 5}}', "application/json"),
        ("/realtime/client_secrets", '{"session": {"modalities": null}}', "application/json"),
        ("/audio/transcriptions", "", "multipart/form-data"),
        ("/realtime/calls", "x", "multipart/form-data"),
        (
            "/realtime/calls",
            '--b\r\nContent-Disposition: form-data; name="\x1f"\r\n\r\n\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=[
        "deep-json",
        "model-not-a-string",
        "session-model-5",
        "modalities-null",
        "no-boundary",
        "no-boundary-offer",
        "bad-part-header",
    ],
)
async def test_bad_bodies_are_400s_not_500s(
    peer: RunningPeer, path: str, data: str, ctype: str
) -> None:
    status, body = await post(peer, path, data, ctype)
    assert status == 400, body
    one_line_error(body)


def raw_exchange(peer: RunningPeer, raw: bytes) -> tuple[int, str, bytes]:
    with socket.create_connection((peer.host, peer.port), timeout=10) as sock:
        sock.sendall(raw)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    ctype = next(
        (x.split(":", 1)[1].strip() for x in lines if x.lower().startswith("content-type")), ""
    )
    return int(lines[0].split()[1]), ctype, body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /v1/models HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100_000 + b"\r\n\r\n", 400),
        (
            b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nExpect: 0\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n",
            417,
        ),
    ],
    ids=["content-length-abc", "huge-header", "unknown-expect"],
)
async def test_requests_aiohttp_refuses_get_the_openai_shape(
    peer: RunningPeer, raw: bytes, status: int
) -> None:
    got, ctype, body = await asyncio.to_thread(raw_exchange, peer, raw)
    assert got == status
    assert ctype.startswith("application/json")
    one_line_error(json.loads(body))


async def test_an_offer_whose_bundle_names_a_missing_section_is_refused_quietly(
    peer: RunningPeer, caplog: pytest.LogCaptureFixture
) -> None:
    offer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\na=mid:1\r\n"
        "a=sctp-port:5000\r\na=rtpmap:96 opus/48000/2\r\na=ice-ufrag:abcd\r\n"
        "a=ice-pwd:abcdefghijklmnopqrstuv\r\na=setup:actpass\r\n"
    )
    status, body = await post(peer, "/realtime/calls", offer, "application/sdp")
    assert status == 400 and body["error"]["code"] == "invalid_offer"
    assert "Traceback" not in caplog.text


def test_error_messages_quote_a_clients_newline_escaped() -> None:
    message = error_body("Invalid value: 'a\nb'.")["error"]["message"]
    assert message == "Invalid value: 'a\\nb'."


# --------------------------------------------------------------------------- peer data channel


@pytest.mark.parametrize(
    "session",
    [
        {"instructions": {}},
        {"modalities": 5},
        {"modalities": None},
        {"type": "realtime", "audio": 5},
    ],
)
def test_a_session_update_with_a_bad_session_is_a_client_error(session: dict[str, Any]) -> None:
    with pytest.raises(ClientEventError) as info:
        parse_client_message({"type": "session.update", "session": session})
    assert "\n" not in info.value.message


# --------------------------------------------------------------------------- LSP framing


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int) -> bytes:
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


VALID = {"jsonrpc": "2.0", "id": 1, "method": "realtime/status"}


async def bodies(data: bytes) -> list[bytes]:
    reader, out = FrameReader(Reader(data).read), []
    while (body := await reader.next_body()) is not None:
        out.append(body)
        if handle(Stub(), body, lambda _: None) == "not json":
            reader.resync(body)
    return out


class Stub:
    """A pygls protocol that structures nothing and records what it was handed."""

    def __init__(self) -> None:
        self.handled: list[Any] = []

    def structure_message(self, data: dict[str, Any]) -> Any:
        return SimpleNamespace(jsonrpc=data["jsonrpc"], **{k: v for k, v in data.items()})

    def handle_message(self, message: Any) -> None:
        self.handled.append(message)


@pytest.mark.parametrize(
    "bad",
    [
        b"Content-Length: -1\r\n\r\n{}",  # pygls lost every later message after this one
        b"Content-Length: abc\r\n\r\n{}",
        b'Content-Length: 5\r\n\r\n{"jsonrpc":"2.0","id":5,"method":"x"}',
        b"Content-Length: 2\r\n{}",
        b"Content-Length: 1000000000000\r\n\r\n{}",
        b"X: " + b"a" * 200_000 + b"\r\n",
    ],
    ids=["negative", "not-a-number", "short", "no-blank-line", "over-the-limit", "huge-header"],
)
async def test_a_bad_frame_does_not_hide_the_next_message(bad: bytes) -> None:
    assert json.loads((await bodies(bad + frame(VALID)))[-1]) == VALID


async def test_the_last_content_length_of_a_header_block_counts() -> None:
    """A body sent without its blank line, then a header with a bad length: the block is
    skipped, not read with the first length (which swallowed what came next)."""
    glued = b'Content-Length: 30\r\n{"jsonrpc": "2.0", "id": null}Content-Length: -1\r\n\r\n'
    assert [json.loads(b) for b in await bodies(glued + frame(VALID))] == [VALID]


async def test_a_too_long_frame_gives_back_the_messages_it_swallowed() -> None:
    got = await bodies(b"Content-Length: 80\r\n\r\n{}" + frame(VALID) * 3)
    assert sum(json.loads(b) == VALID for b in got if b.startswith(b'{"j')) == 3


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"\xff\xfe", -32700),
        (b"[1, 2]", -32600),
        (b'{"jsonrpc":"2.0","id":{"a":1},"method":5}', -32600),
        (b'{"jsonrpc":"2.0","id":null}', -32600),
    ],
)
def test_what_is_not_a_message_gets_an_error_reply(message: bytes, code: int) -> None:
    replies: list[dict[str, Any]] = []
    stub = Stub()
    handle(stub, message, replies.append)
    assert [r["error"]["code"] for r in replies] == [code] and not stub.handled


def test_stdio_answers_after_a_negative_content_length(tmp_path: Path) -> None:
    """The minimal example end to end: the real ``vivavoce lsp`` on pipes."""
    with serving(["lsp"], tmp_path / "lsp.err", stdin=True) as server:
        assert server.process.stdin is not None and server.process.stdout is not None
        init = {"processId": None, "capabilities": {}}
        server.process.stdin.write(
            frame({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
            + b"Content-Length: -1\r\n\r\n{}"
            + frame(VALID)
        )
        server.process.stdin.close()  # the server answers what it read, then exits
        out = server.process.stdout.read()
        assert b'"id": 1' in out or b'"id":1' in out, out[-300:]
        assert "Traceback" not in server.stderr()
