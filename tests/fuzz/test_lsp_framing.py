"""The language server's framing, fuzzed: ``vivavoce lsp`` over stdio (raw pipes) and
``vivavoce lsp --ws`` over WebSocket, one process each per module.

Bad ``Content-Length`` (negative, not a number, shorter or longer than the body, over the
limit), split and merged messages, huge headers, invalid UTF-8, no blank line after the header,
JSON-RPC with members of the wrong type. Whatever arrives: the process stays up, writes no
traceback, and answers a valid ``realtime/status`` within 2 s.

Over stdio a frame whose length lies swallows, or cuts the header of, what follows it; the
check then sends ``realtime/status`` again every 0.2 s (each one pads a body that waits for
bytes that were promised), and the first answer counts. A longer-than-true length is drawn at
most 400 bytes over, what these requests fill in 2 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.servers import LoopThread, Server, serving
from tests.fuzz.strategies import json_values
from vivavoce.lsp.framing import frame

# A real call (or server) runs in another thread while examples are drawn; its ICE/SCTP code
# draws from the global `random`, and Hypothesis takes that for the strategy's doing.
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

ANSWER_WITHIN = 2.0
INIT = {"processId": None, "capabilities": {}, "initializationOptions": {}}
_ids = itertools.count(1000)


def status_request() -> tuple[int, dict[str, Any]]:
    msg_id = next(_ids)
    return msg_id, {"jsonrpc": "2.0", "id": msg_id, "method": "realtime/status"}


# --------------------------------------------------------------------------- stdio


class Stdio:
    """``vivavoce lsp`` on pipes: frames in, every answer's id collected by a thread."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.answered: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.server.process.stdout
        assert out is not None
        while line := out.readline():
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
                while out.readline().strip():
                    pass
                message = json.loads(out.read(length))
                if "id" in message and "method" not in message:
                    self.answered.put(message["id"])

    def send(self, data: bytes) -> None:
        stdin = self.server.process.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def answers_status(self) -> bool:
        """Send realtime/status every 0.2 s until one is answered (within 2 s)."""
        sent: set[int] = set()
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline:
            msg_id, request = status_request()
            sent.add(msg_id)
            self.send(frame(request))
            until = min(deadline, time.monotonic() + 0.2)
            while (left := until - time.monotonic()) > 0:
                try:
                    if self.answered.get(timeout=left) in sent:
                        return True
                except queue.Empty:
                    break
        return False


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stdio]:
    log = tmp_path_factory.mktemp("lsp") / "lsp.err"
    with serving(["lsp"], log, stdin=True) as server:
        client = Stdio(server)
        client.send(frame({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT}))
        client.send(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        assert client.answered.get(timeout=60) == 0
        yield client


def body_of(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["request", "json", "wrong types", "bad utf-8", "garbage"]))
    if kind == "request":  # a fixed id: drawing must not depend on state (replays)
        return b'{"jsonrpc": "2.0", "id": "fuzzed", "method": "realtime/status"}'
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "wrong types":
        message = {
            "jsonrpc": draw(st.sampled_from(["2.0", "1.0"]) | json_values),
            "id": draw(json_values),
            "method": draw(st.sampled_from(["realtime/status", "realtime/start"]) | json_values),
            "params": draw(json_values),
        }
        return json.dumps(message).encode()
    if kind == "bad utf-8":
        return b'{"jsonrpc":"2.0","method":"\xff\xfe' + draw(st.binary(max_size=20)) + b'"}'
    return draw(st.binary(max_size=200))


@st.composite
def bad_frames(draw: st.DrawFn) -> bytes:
    body = body_of(draw)
    length = draw(st.sampled_from(["true", "true", "short", "long", "junk", "over"]))
    if length == "short":
        header = b"Content-Length: %d" % draw(st.integers(0, max(len(body) - 1, 0)))
    elif length == "long":
        header = b"Content-Length: %d" % (len(body) + draw(st.integers(1, 400)))
    elif length == "junk":
        header = b"Content-Length: " + draw(
            st.sampled_from([b"-1", b"abc", b"", b"1e3", b"0x10", b" 12 34", b"\xff"])
        )
    elif length == "over":
        header = b"Content-Length: %d" % draw(st.sampled_from([10**9, 10**12, 10**30]))
    else:
        header = b"Content-Length: %d" % len(body)
    extra = draw(
        st.lists(
            st.sampled_from([b"Content-Type: application/vscode-jsonrpc", b"X: y"])
            | st.binary(max_size=30).filter(lambda b: b"\r\n" not in b),
            max_size=2,
        )
    )
    header = b"\r\n".join([header, *extra])
    end = draw(st.sampled_from([b"\r\n\r\n"] * 4 + [b"\r\n", b"\n\n", b""]))
    return header + end + body


@settings(deadline=None)  # each exchange asserts its own time limit
@given(frames=st.lists(bad_frames(), min_size=1, max_size=3), split=st.data())
def test_stdio_survives_any_framing(stdio: Stdio, frames: list[bytes], split: Any) -> None:
    since = len(stdio.server.stderr())
    data = b"".join(frames)  # merged; then written in random pieces (split)
    cuts = sorted(split.draw(st.lists(st.integers(0, len(data)), max_size=3)))
    for start, end in itertools.pairwise([0, *cuts, len(data)]):
        stdio.send(data[start:end])
    assert stdio.answers_status(), f"no answer to realtime/status after {data[:300]!r}"
    stdio.server.assert_healthy(since)


def test_stdio_skips_huge_headers(stdio: Stdio) -> None:
    since = len(stdio.server.stderr())
    stdio.send(b"X-Huge: " + b"a" * 3_000_000 + b"\r\n")
    assert stdio.answers_status()
    stdio.server.assert_healthy(since)


# --------------------------------------------------------------------------- WebSocket


class WebSocket:
    """One WebSocket client of ``vivavoce lsp --ws`` on a background loop."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = LoopThread()
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.server.url)
        await self.ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT})
        )
        await self._answer(0, 60)

    async def _answer(self, msg_id: int, timeout: float) -> None:
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                frame_ = await self.ws.receive()
                assert frame_.type is aiohttp.WSMsgType.TEXT, frame_
                message = json.loads(frame_.data)
                if message.get("id") == msg_id and "method" not in message:
                    return

    async def exchange(self, data: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)
        msg_id, request = status_request()
        await self.ws.send_str(json.dumps(request))
        await self._answer(msg_id, ANSWER_WITHIN)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()


@pytest.fixture(scope="module")
def websocket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSocket]:
    log = tmp_path_factory.mktemp("lsp-ws") / "lsp.err"
    with serving(["lsp", "--ws", "127.0.0.1:0"], log) as server:
        server.wait_listening()
        client = WebSocket(server)
        client.loop.run(client.connect(), 90)
        try:
            yield client
        finally:
            client.loop.run(client.close(), 10)
            client.loop.close()


messages = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0") | json_values},
        optional={
            "id": json_values,
            "method": st.sampled_from(["realtime/status", "realtime/sendText", "exit!"])
            | json_values,
            "params": json_values,
        },
    ).map(json.dumps),
    st.sampled_from(["[" * 50_000 + "]" * 50_000, "Content-Length: 2\r\n\r\n{}"]),
) | st.binary(max_size=200)


@settings(deadline=None)  # each exchange asserts its own time limit
@given(data=messages)
def test_websocket_survives_any_message(websocket: WebSocket, data: str | bytes) -> None:
    since = len(websocket.server.stderr())
    websocket.loop.run(websocket.exchange(data), 10)
    websocket.server.assert_healthy(since)
