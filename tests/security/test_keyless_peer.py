"""A ``vivavoce peer`` the user started without ``--api-key`` takes any bearer, so no web page
may use it (issue 17): a request from a page on another site gets a 403 with one line, on every
route, preflights included; programs (no ``Origin``) and pages on loopback are served.

The real ``vivavoce peer`` process, real HTTP on 127.0.0.1, and a real browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.web.cdp import chromium_path, launch

from .probes import FOREIGN, GUESSES, ROUTES, SDP, try_every_route
from .test_embedded_peer import ATTACK, _cat_pictures

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def keyless_peer() -> AsyncIterator[str]:
    """``vivavoce peer`` as a user starts it: no key anywhere, fault admin on."""
    env = {k: v for k, v in os.environ.items() if k != "VIVAVOCE_PEER_API_KEY"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vivavoce", "peer", "--port", "0", "--faults",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


async def test_a_page_on_another_site_is_refused_and_programs_are_not(keyless_peer: str) -> None:
    base_url = keyless_peer
    # A page on another site, with any key or none, on every route (fault admin included).
    seen = await try_every_route(base_url, **FOREIGN)
    assert set(seen.values()) == {403}, seen
    async with httpx.AsyncClient(timeout=10) as http:
        refusal = await http.post(
            f"{base_url}/realtime/calls",
            content=SDP,
            headers={**FOREIGN, "Authorization": "Bearer x", "Content-Type": "application/sdp"},
        )
        preflight = await http.options(
            f"{base_url}/realtime/calls",
            headers={**FOREIGN, "Access-Control-Request-Method": "POST"},
        )
        null_origin = await http.get(f"{base_url}/models", headers={"Origin": "null"})
        # Programs send no Origin: served (vivavoce lsp with peer: http://127.0.0.1:PORT/v1).
        program = await http.get(f"{base_url}/models", headers={"Authorization": "Bearer x"})
        # A page on this machine's loopback is the user's own.
        local_page = await http.get(
            f"{base_url}/models",
            headers={"Authorization": "Bearer x", "Origin": "http://localhost:5173"},
        )
    assert refusal.status_code == 403
    assert refusal.json() == {
        "error": {
            "message": "Forbidden: this peer has no API key, so it answers no web page (Origin "
            "https://evil.example); start it with --api-key to let pages use it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "origin_not_allowed",
        }
    }
    assert preflight.status_code == 403 and null_origin.status_code == 403
    assert program.status_code == 200 and program.json()["object"] == "list"
    assert local_page.status_code == 200
    assert local_page.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


async def test_a_page_from_another_site_in_a_browser_gets_nothing_from_a_keyless_peer(
    keyless_peer: str,
) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install --no-install-recommends chromium)")
    app = web.Application()
    app.router.add_get("/", _cat_pictures)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    site_port = runner.addresses[0][1]
    # The attacker's page is on evil.example (which resolves to 127.0.0.1) and calls the peer
    # by its own address, as a page that knows the port would.
    resolver = (
        "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    )
    try:
        async with launch(executable, [resolver]) as browser:
            page = await browser.new_page()
            routes = json.dumps(
                [
                    [m, p, send.get("headers", {}).get("Content-Type", "application/json")]
                    for m, p, send in ROUTES
                ]
            )
            attack = ATTACK % (routes, json.dumps(GUESSES), json.dumps(SDP))
            await page.goto(f"http://evil.example:{site_port}/")
            seen: dict[str, Any] = await page.eval(
                f"const BASE = {json.dumps(keyless_peer)};{attack}"
            )
    finally:
        await runner.cleanup()
    won = {k: v for k, v in seen.items() if isinstance(v, int) and 200 <= v < 300}
    assert won == {}, seen
    # Requests with a preflight never leave the browser (the preflight got the 403); the
    # simple ones (no key, no body type to announce) reached the peer and were refused by it,
    # not merely hidden from the page by CORS.
    readable = {k: v for k, v in seen.items() if v != "blocked"}
    simple = {f"GET {p} simple" for _, p, _ in ROUTES}
    gets = {f"GET {p} null" for m, p, _ in ROUTES if m == "GET"}  # the GET routes, keyless too
    assert readable == dict.fromkeys(simple | gets, 403)
