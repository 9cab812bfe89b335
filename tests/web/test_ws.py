"""The WebSocket transport, spoken to as a browser would: one JSON-RPC message per text frame.

A real ``vivavoce lsp --ws`` / ``vivavoce web`` process, aiohttp as the client, 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from vivavoce.web.access import Gate

from .conftest import Running, command, running

pytestmark = pytest.mark.timeout(180)

INIT = {
    "processId": None,
    "capabilities": {},
    "initializationOptions": {"vivavoce": {"peer": "embedded"}},
}


class Client:
    """A JSON-RPC client over one WebSocket that keeps every frame it received."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[aiohttp.WSMessage] = []
        self.messages: list[dict[str, Any]] = []
        self._id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps({"jsonrpc": "2.0", **message}))

    async def receive(self, timeout: float = 30) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.receive(), timeout)
        self.frames.append(frame)
        assert frame.type is aiohttp.WSMsgType.TEXT, frame
        message: dict[str, Any] = json.loads(frame.data)
        self.messages.append(message)
        return message

    async def request(self, method: str, params: Any = None) -> dict[str, Any]:
        self._id += 1
        await self.send({"id": self._id, "method": method, "params": params})
        while (message := await self.receive()).get("id") != self._id or "method" in message:
            pass
        return message

    async def initialize(self) -> dict[str, Any]:
        reply = await self.request("initialize", INIT)
        await self.send({"method": "initialized", "params": {}})
        return reply


async def connect(
    session: aiohttp.ClientSession, url: str, origin: str | None = None
) -> aiohttp.ClientWebSocketResponse:
    headers = {"Origin": origin} if origin else {}
    return await session.ws_connect(url, headers=headers)


async def refused(url: str, origin: str | None = None) -> int:
    """The HTTP status of a refused upgrade."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await connect(session, url, origin)
    return info.value.status


async def test_the_language_server_answers_in_text_frames_and_chats(ws_server: Running) -> None:
    assert ws_server.url.startswith("ws://127.0.0.1:") and len(ws_server.token) >= 32
    async with aiohttp.ClientSession() as session:
        client = Client(await connect(session, ws_server.url, origin="null"))
        reply = await client.initialize()
        assert reply["result"]["serverInfo"]["name"] == "vivavoce"
        voices = (await client.request("realtime/voices"))["result"]
        assert "verse" in voices["realtime"] and "onyx" in voices["text"]
        started = await client.request("realtime/start", {"mode": "text"})
        assert started["result"]["state"] == "live"
        await client.request("realtime/sendText", {"text": "over a websocket"})
        while not any(
            m.get("method") == "realtime/transcript"
            and m["params"]["final"]
            and m["params"]["role"] == "assistant"
            for m in client.messages
        ):
            await client.receive()
        await client.request("realtime/stop")
        await client.ws.close()
    assert all(f.type is aiohttp.WSMsgType.TEXT for f in client.frames)
    transcripts = [m["params"] for m in client.messages if m.get("method") == "realtime/transcript"]
    final = next(t["text"] for t in transcripts if t["final"] and t["role"] == "assistant")
    assert final.startswith("You said: over a websocket")


async def test_wrong_token_and_foreign_origin_are_refused_at_the_upgrade(
    ws_server: Running,
) -> None:
    base = f"ws://{ws_server.address}/"
    assert await refused(base) == 401
    assert await refused(f"{base}?token=guess") == 401
    assert await refused(ws_server.url, origin="http://evil.example") == 403
    assert await refused(ws_server.url, origin="http://127.0.0.1:9") == 403
    log = await ws_server.wait_stderr("(403)")
    lines = [line for line in log.splitlines() if "refused" in line]
    assert len(lines) == 4 and all("Traceback" not in line for line in lines)
    assert ws_server.token not in log
    # A plain GET is not a WebSocket: 426.
    async with aiohttp.ClientSession() as session:
        async with session.get(ws_server.url.replace("ws://", "http://")) as response:
            assert response.status == 426
    # The right token still works, by query or bearer header (no Origin: an editor or script).
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(base, headers={"Authorization": f"Bearer {ws_server.token}"})
        await Client(ws).initialize()
        await ws.close()


async def _end_of(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The first message that is not a JSON-RPC text (what the server said before it closed,
    its log lines for one, is read past)."""
    while (message := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
        pass
    return message


async def test_exit_ends_the_connection_not_the_server_and_a_new_client_takes_over(
    ws_server: Running,
) -> None:
    async with aiohttp.ClientSession() as session:
        first = Client(await connect(session, ws_server.url))
        await first.initialize()
        await first.request("shutdown")
        await first.send({"method": "exit"})
        closed = await asyncio.wait_for(_end_of(first.ws), 10)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws_server.process.returncode is None

        # A page reload: the newer connection wins; the older one is closed with 4000.
        second = Client(await connect(session, ws_server.url))
        await second.initialize()
        third = Client(await connect(session, ws_server.url))
        message = await asyncio.wait_for(_end_of(second.ws), 10)
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 4000
        reply = await third.initialize()  # a fresh server: initialize works again
        assert "result" in reply
        # Not JSON: a JSON-RPC parse error, and the connection stays.
        await third.ws.send_str("{not json")
        error = await third.receive()
        assert error["error"]["code"] == -32700
        assert (await third.request("realtime/status"))["result"]["state"] == "idle"
        await third.ws.close()


async def test_vivavoce_web_serves_the_page_and_admits_its_own_origin(
    web_server: Running,
) -> None:
    origin = f"http://{web_server.address}"
    async with aiohttp.ClientSession() as session:
        async with session.get(web_server.url) as page:
            assert page.status == 200 and page.content_type == "text/html"
            assert web_server.token not in await page.text()  # the page holds no secret
        async with session.get(f"{origin}/vivavoce-chat.js") as script:
            assert script.content_type == "text/javascript"
            assert "customElements.define" in await script.text()
        async with session.get(f"{origin}/secrets.txt") as missing:
            assert missing.status == 404
        # DNS rebinding: a foreign Host name gets nothing.
        async with session.get(f"{origin}/", headers={"Host": "evil.example"}) as rebound:
            assert rebound.status == 421
        ws_url = f"ws://{web_server.address}/lsp?token={web_server.token}"
        client = Client(await connect(session, ws_url, origin=origin))
        await client.initialize()
        await client.ws.close()
    assert await refused(ws_url, origin="http://localhost:1") == 403
    assert await refused(f"ws://{web_server.address}/lsp?token=x", origin=origin) == 401


async def test_vivavoce_web_opens_the_browser_on_its_page(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(
        f"#!{sys.executable}\nimport pathlib, sys\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "BROWSER": str(fake)}
    async with running([*command("web"), "--port", "0"], tmp_path / "web.err", env) as server:
        for _ in range(200):
            if opened.exists() and opened.read_text():
                break
            await asyncio.sleep(0.05)
        assert opened.read_text() == server.url
        assert "peer=" not in server.url  # no --peer: the server's settings decide


async def test_a_non_loopback_address_is_refused_before_listening() -> None:
    process = await asyncio.create_subprocess_exec(
        *command("lsp"), "--ws", "0.0.0.0:0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2 and out == b""
    assert err.decode() == (
        "vivavoce: refusing to listen on 0.0.0.0: only loopback (127.0.0.1) unless --allow-remote\n"
    )


def test_the_gate_wants_the_token_and_an_allowed_origin() -> None:
    gate = Gate("secret")

    def ask(path: str, **headers: str) -> tuple[int, str] | None:
        headers.setdefault("Host", "127.0.0.1:8765")
        return gate.refusal(make_mocked_request("GET", path, headers=headers))

    assert ask("/?token=secret") is None  # no Origin: an editor or a script
    assert ask("/?token=secret", Origin="null") is None  # a page opened from a file
    assert ask("/", Authorization="Bearer secret") is None
    assert ask("/?token=secreT") == (401, "wrong or missing token")
    assert ask("/?token=secret", Origin="https://example.com") == (
        403,
        "origin 'https://example.com' is not allowed",
    )
    gate.allow(["https://Example.com/"])
    assert ask("/?token=secret", Origin="https://example.com") is None
    gate.allow(["*"])
    assert ask("/?token=secret", Origin="http://anything") is None


def test_the_gate_wants_a_host_that_names_the_server() -> None:
    """DNS rebinding: a page on evil.example, now resolving to 127.0.0.1, is same-origin with
    itself and could pass an Origin check; its Host header gives it away (421, before the
    token is even looked at)."""
    gate = Gate("secret")
    refused = (421, "this server answers only requests addressed to it (Host)")

    def ask(host: str | None) -> tuple[int, str] | None:
        headers = {} if host is None else {"Host": host}
        return gate.refusal(make_mocked_request("GET", "/?token=secret", headers=headers))

    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST."):
        assert ask(host) is None, host
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "", None):
        assert ask(host) == refused, host
    assert (
        Gate("x", host="192.168.1.5").refusal(
            make_mocked_request("GET", "/?token=x", headers={"Host": "192.168.1.5:1"})
        )
        is None
    )


def test_module_help_runs() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "vivavoce.web", "web", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "--no-browser" in out.stdout and "--allow-origin" in out.stdout
