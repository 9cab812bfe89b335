"""A scripted Realtime server for failure tests: real aiohttp + aiortc on 127.0.0.1.

It does just enough of the protocol to get a client LIVE, then misbehaves as told: sends raw
messages (malformed, unknown, huge), closes the data channel, or never answers the SDP offer.
The local peer covers well-behaved servers; this covers the ways servers go wrong.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from vivavoce.rtc import prepare_aiortc, rtc_configuration
from vivavoce.rtc.ice import host_addresses
from vivavoce.rtc.tracks import PcmSourceTrack


@dataclass
class Script:
    after_open: list[str] = field(default_factory=list)  # raw messages after session.created
    close_channel_after: float | None = None  # seconds after session.created
    hang_sdp: bool = False  # never answer the offer
    send_session_created: bool = True
    session: dict[str, Any] = field(default_factory=lambda: {"type": "realtime", "model": "m"})
    start_after: float = 0.0  # seconds between session.created and the first after_open message


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[dict[str, Any]] = []
        self.hangups = 0
        self._pcs: list[Any] = []
        self._tasks: set[asyncio.Future[None]] = set()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> ScriptedServer:
        prepare_aiortc()
        app = web.Application()
        app.router.add_post("/v1/realtime/client_secrets", self._secret)
        app.router.add_post("/v1/realtime/calls", self._calls)
        app.router.add_post("/v1/realtime/calls/{id}/hangup", self._hangup)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def _keep(self, task: asyncio.Future[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        for pc in self._pcs:
            await pc.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _secret(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"value": "ek_scripted", "expires_at": 2_000_000_000, "session": {}}
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        self.hangups += 1
        return web.Response(status=200)

    async def _calls(self, request: web.Request) -> web.Response:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        if self.script.hang_sdp:
            await self._stopping.wait()
            return web.Response(status=503)
        pc = RTCPeerConnection(rtc_configuration())
        self._pcs.append(pc)
        pc.addTrack(PcmSourceTrack())

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            channel.on("message", lambda m: self.received.append(json.loads(m)))
            self._keep(asyncio.ensure_future(self._play(channel)))

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def drain() -> None:
                while True:
                    try:
                        await track.recv()
                    except Exception:
                        return

            self._keep(asyncio.ensure_future(drain()))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=await request.text(), type="offer"))
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": "/v1/realtime/calls/rtc_scripted"},
        )

    async def _play(self, channel: Any) -> None:
        if channel.readyState != "open":
            opened = asyncio.Event()
            channel.on("open", opened.set)
            await opened.wait()
        if self.script.send_session_created:
            channel.send(
                json.dumps(
                    {
                        "type": "session.created",
                        "event_id": "e0",
                        "session": self.script.session,
                    }
                )
            )
        await asyncio.sleep(self.script.start_after)
        for message in self.script.after_open:
            await asyncio.sleep(0.02)
            channel.send(message)
        if self.script.close_channel_after is not None:
            await asyncio.sleep(self.script.close_channel_after)
            channel.close()
