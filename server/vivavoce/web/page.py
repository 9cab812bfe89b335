"""``vivavoce web``: a standalone voice chat in the browser.

One aiohttp app on one loopback port serves

    GET /                   the demo page (clients/web/index.html)
    GET /vivavoce-chat.js   the ``<vivavoce-chat>`` element
    GET /lsp                the language server over WebSocket (:mod:`.ws`)

and the browser is opened on ``http://127.0.0.1:PORT/?token=…&peer=…``. The page reads the
token (and the peer to ask for) from its own address; the HTML itself holds no secret. The page's
own origin is what the WebSocket admits (besides ``null``/``file://`` and ``--allow-origin``), and
the static files, like the WebSocket, answer only to a ``Host`` header that names this server
(:meth:`Gate.addressed <.access.Gate.addressed>`), so a DNS-rebinding page learns nothing.
"""

from __future__ import annotations

import asyncio
import logging
import webbrowser
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from ..errors import RefusedError
from ..netguard import check_bind, is_loopback
from .access import FILE_ORIGINS, Gate, normalize_origin
from .ws import Endpoint, ServerFactory, start_site, url_host

log = logging.getLogger(__name__)

#: The files served, and their content types.
FILES = {"index.html": "text/html", "vivavoce-chat.js": "text/javascript"}
#: The answer to a request whose Host does not name this server (DNS rebinding).
MISDIRECTED = "vivavoce: this page answers only requests addressed to it\n"


def find_assets(explicit: Path | None = None) -> Path:
    """The folder holding index.html and vivavoce-chat.js.

    ``explicit`` if given; else package data ``vivavoce/web/static`` (a wheel); else the
    repository's ``clients/web`` (an editable install).
    """
    here = Path(__file__).resolve().parent
    candidates = [explicit] if explicit else [here / "static", here.parents[2] / "clients" / "web"]
    for folder in candidates:
        if folder is not None and all((folder / name).is_file() for name in FILES):
            return folder
    where = ", ".join(str(c) for c in candidates if c is not None)
    raise RefusedError(f"the web page's files are missing (looked in {where})")


def _static(assets: Path, gate: Gate) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not gate.addressed(request):
            return web.Response(status=421, text=MISDIRECTED)
        name = request.match_info.get("name") or "index.html"
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(
            assets / name, headers={"Content-Type": FILES[name], "Cache-Control": "no-store"}
        )

    return handler


def page_url(host: str, port: int, token: str, peer: str | None) -> str:
    query = {"token": token} | ({"peer": peer} if peer else {})
    return f"http://{url_host(host)}:{port}/?{urlencode(query)}"


async def serve_web(
    new_server: ServerFactory,
    host: str,
    port: int,
    *,
    token: str,
    peer: str | None = None,
    allowed_origins: Iterable[str] = (),
    allow_remote: bool = False,
    assets: Path | None = None,
    open_browser: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the page and the WebSocket until cancelled; ``on_ready`` gets the page's URL."""
    check_bind(host, allow_remote=allow_remote)
    folder = find_assets(assets)
    gate = Gate(token, set(FILE_ORIGINS), host)
    gate.allow(allowed_origins)
    endpoint = Endpoint(new_server, gate)
    app = web.Application()
    static = _static(folder, gate)
    app.router.add_get("/lsp", endpoint.handle)
    app.router.add_get("/", static)
    app.router.add_get("/{name}", static)
    app.on_shutdown.append(endpoint.on_shutdown)
    runner, bound = await start_site(app, host, port)
    try:
        own = {f"http://{url_host(host)}:{bound}"}
        if is_loopback(host):
            own |= {f"http://{h}:{bound}" for h in ("127.0.0.1", "localhost", "[::1]")}
        gate.allow(normalize_origin(o) for o in own)
        url = page_url(host, bound, token, peer)
        if on_ready is not None:
            on_ready(url)
        if open_browser and not await asyncio.get_running_loop().run_in_executor(
            None, webbrowser.open, url
        ):
            log.warning("no browser could be started: open the address above in one")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
