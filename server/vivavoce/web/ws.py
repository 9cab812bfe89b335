"""The language server over WebSocket: ``vivavoce lsp --ws HOST:PORT``.

Framing: one JSON-RPC message per WebSocket frame, with no ``Content-Length`` header (what a
browser's ``WebSocket.send(JSON.stringify(msg))`` produces). Replies and notifications go out as
*text* frames, in the order the server wrote them. pygls' own ``start_ws`` was not used: it sends
binary frames (a browser receives Blobs), needs the ``websockets`` package, and admits anyone.
This module runs on aiohttp, which vivavoce already depends on.

Who may connect is checked at the HTTP upgrade, before any JSON-RPC (:mod:`.access`): the
``Host`` (421 unless it names this server), the per-start token (401 without it), the
``Origin`` allow-list (403), loopback unless allowed.

One connection at a time: a newer one (the page was reloaded, say) takes over; the older one is
closed with code 4000 and its call ended first. Each connection gets a fresh server from the
factory (:func:`vivavoce.lsp.server.make_server`) and, when it ends, that server's call stops
and the microphone is freed. ``exit`` ends the connection, not the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import WSMsgType, web
from pygls.lsp.server import LanguageServer

from ..errors import RefusedError
from ..netguard import check_bind
from ..tasks import CloseOnce, TaskSet
from .access import FILE_ORIGINS, Gate, normalize_origin

log = logging.getLogger(__name__)

ServerFactory = Callable[[], LanguageServer]
#: WebSocket close code for a connection replaced by a newer one.
CLOSE_REPLACED = 4000
#: Largest accepted message (a JSON-RPC request from a chat page is small).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: How long closing waits for queued messages to be sent before dropping them.
DRAIN_TIMEOUT = 2.0


class _TextFrameWriter:
    """pygls' writer interface over one WebSocket: text frames, in order, from any thread."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._tasks = TaskSet("vivavoce ws")
        self._tasks.spawn(self._send(), "writer")
        self._closing = CloseOnce()

    def write(self, data: bytes) -> None:
        self._put(data.decode("utf-8"))

    def close(self) -> None:
        self._put(None)

    def _put(self, item: str | None) -> None:
        if threading.get_ident() == self._thread:
            self._queue.put_nowait(item)
        else:  # e.g. a log record forwarded from an audio thread
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def _send(self) -> None:
        while (text := await self._queue.get()) is not None:
            if self._ws.closed:
                continue
            try:
                await self._ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.info("could not send to the WebSocket client: %s", exc)

    async def aclose(self) -> None:
        """Send what is queued, then stop (idempotent; a second caller waits for the first)."""
        await self._closing.run(self._drain)

    async def _drain(self) -> None:
        self.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await self._tasks.wait()
        await self._tasks.cancel_all()  # the client stopped reading: drop the rest


class Endpoint:
    """The aiohttp handler: checks the gate, then serves one JSON-RPC session per connection."""

    def __init__(self, new_server: ServerFactory, gate: Gate) -> None:
        self.new_server = new_server
        self.gate = gate
        self._current: web.WebSocketResponse | None = None
        self._current_done: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self.gate.refusal(request)
        if refusal is not None:
            status, reason = refusal
            log.warning(
                "refused a WebSocket connection from %s: %s (%d)", request.remote, reason, status
            )
            return web.Response(status=status, text=f"vivavoce: {reason}\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30.0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text="vivavoce: this address speaks WebSocket only\n")
        await self._take_over()
        done = asyncio.Event()
        self._current, self._current_done = ws, done
        try:
            await ws.prepare(request)
            log.info("WebSocket client connected from %s", request.remote)
            await self._session(ws)
        finally:
            done.set()
            if self._current is ws:
                self._current = self._current_done = None
        return ws

    async def on_shutdown(self, _app: web.Application) -> None:
        """The server stops: close the connection (its call ends in :meth:`_session`)."""
        if self._current is not None:
            await self._current.close(code=1001, message=b"vivavoce is stopping")

    async def _take_over(self) -> None:
        """Close the current connection (if any) and wait until its call has ended."""
        old, done = self._current, self._current_done
        if old is None or done is None:
            return
        log.info("a newer WebSocket client takes over")
        await old.close(code=CLOSE_REPLACED, message=b"another client took over")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 5.0)

    async def _session(self, ws: web.WebSocketResponse) -> None:
        server = self.new_server()
        protocol = server.protocol
        writer = _TextFrameWriter(ws)
        protocol.set_writer(writer, include_headers=False)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if not _handle(protocol, msg.data, writer):
                        break  # `exit`
                elif msg.type is WSMsgType.ERROR:
                    log.info("WebSocket error: %s", ws.exception())
        finally:
            await _close_server(server)
            await writer.aclose()
            if not ws.closed:
                await ws.close()
            log.info("WebSocket client gone")


def _handle(protocol: Any, data: str | bytes, writer: _TextFrameWriter) -> bool:
    """Hand one frame to pygls; False once the client sent ``exit`` (pygls would exit the
    process; here only this connection ends)."""
    from ..lsp.framing import handle

    def reply(message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode())

    return handle(protocol, data, reply, keep_exit=True) != "exit"


async def _close_server(server: LanguageServer) -> None:
    """End the server's call, detach its log forwarding, stop its threads."""
    close: Callable[[], Awaitable[None]] | None = getattr(server, "close", None)
    if close is not None:
        try:
            await close()
        except Exception:
            log.exception("closing the language server failed")
    root = logging.getLogger("vivavoce")
    for handler in list(root.handlers):
        if getattr(handler, "server", None) is server:
            root.removeHandler(handler)
    server.protocol.set_writer(_NullWriter())
    server.thread_pool.shutdown(wait=False, cancel_futures=True)


class _NullWriter:
    def write(self, data: bytes) -> None:
        """Drop: the connection is gone."""

    def close(self) -> None:
        """Nothing to close."""


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0 = any free port); return the runner and the port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise RefusedError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound = runner.addresses[0][1]
    return runner, int(bound)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve_ws(
    new_server: ServerFactory,
    host: str,
    port: int,
    *,
    token: str,
    allowed_origins: Iterable[str] = FILE_ORIGINS,
    allow_remote: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the language server over WebSocket at ``/`` until cancelled.

    ``on_ready`` gets the URL to connect to, token included, once the socket listens.
    """
    check_bind(host, allow_remote=allow_remote)
    gate = Gate(token, {normalize_origin(o) for o in allowed_origins}, host)
    endpoint = Endpoint(new_server, gate)
    app = web.Application()
    app.router.add_get("/", endpoint.handle)
    app.on_shutdown.append(endpoint.on_shutdown)
    runner, bound = await start_site(app, host, port)
    try:
        if on_ready is not None:
            on_ready(f"ws://{url_host(host)}:{bound}/?token={token}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
