"""A stand-in for a user's local speech and language servers (whisper.cpp, Kokoro, Ollama…).

:class:`StubUpstreams` serves the three OpenAI-compatible routes a composed peer uses, on
127.0.0.1. By default it passes each request on to a backing server (a second local peer, which
has real recognition, speech and a tool-calling responder) and streams the answer back as it
comes; per route it can instead wait (``delay``), fail with an HTTP error, answer garbage, or
never answer. It records what it was asked, so tests see what the composed peer sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Route = Literal["transcriptions", "speech", "chat"]
Behaviour = Literal["pass", "fail", "garbage", "hang"]

#: The model the backing server is asked for, whatever the composed peer named.
BACKING_MODELS: dict[Route, str] = {
    "transcriptions": "whisper-1",
    "speech": "tts-1",
    "chat": "gpt-4o-mini",
}

PATHS: dict[str, Route] = {
    "/v1/audio/transcriptions": "transcriptions",
    "/v1/audio/speech": "speech",
    "/v1/chat/completions": "chat",
}


@dataclass
class StubUpstreams:
    backing: str  # base URL of the server answering for real (…/v1)
    backing_key: str = "backing"
    behaviour: dict[Route, Behaviour] = field(default_factory=dict)
    delay: dict[Route, float] = field(default_factory=dict)
    #: What each route was asked: the JSON body, or the form's text fields.
    asked: dict[Route, list[dict[str, Any]]] = field(
        default_factory=lambda: {"transcriptions": [], "speech": [], "chat": []}
    )
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> StubUpstreams:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in PATHS:
            app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def close(self) -> None:
        self._closing.set()  # a hanging answer ends
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        import httpx

        route = PATHS[request.path]
        send: dict[str, Any]
        if request.content_type == "application/json":
            body = await request.json()
            self.asked[route].append(body)
            send = {"json": {**body, "model": BACKING_MODELS[route]}}
        else:
            form = await request.post()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form["file"]
            assert isinstance(upload, web.FileField)
            data = upload.file.read()
            self.asked[route].append({**fields, "file": len(data)})
            fields["model"] = BACKING_MODELS[route]
            send = {"data": fields, "files": {"file": (upload.filename, data, upload.content_type)}}
        await asyncio.sleep(self.delay.get(route, 0.0))
        behaviour = self.behaviour.get(route, "pass")
        if behaviour == "fail":
            return web.json_response({"error": {"message": "model not loaded"}}, status=503)
        if behaviour == "garbage":
            return web.Response(text="<html>It works!</html>", content_type="text/html")
        if behaviour == "hang":
            await self._closing.wait()
            raise web.HTTPServiceUnavailable
        url = self.backing + request.path.removeprefix("/v1")
        auth = {"Authorization": f"Bearer {self.backing_key}"}
        async with (
            httpx.AsyncClient(timeout=60, headers=auth) as client,
            client.stream("POST", url, **send) as answer,
        ):
            response = web.StreamResponse(status=answer.status_code)
            response.content_type = answer.headers.get("content-type", "").split(";")[0]
            await response.prepare(request)
            async for chunk in answer.aiter_raw():
                await response.write(chunk)
            await response.write_eof()
            return response
