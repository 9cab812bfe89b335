"""Nobody else on this machine uses the user's assistant (issue 17).

The embedded local peer listens on a 127.0.0.1 port that every local process and every web page
the user opens can reach. It takes only the per-start key the conversation holds, answers only
requests that name it in ``Host`` (DNS rebinding), and has no fault-injection route unless
started with ``--faults``. Real processes, real HTTP on 127.0.0.1, a real browser.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_lsp
from aiohttp import web
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.editor import SERVER, Editor, end_server, init_params
from tests.web.cdp import chromium_path, launch

from .probes import FOREIGN, GUESSES, ROUTES, SDP, listening_ports, try_every_route

pytestmark = pytest.mark.timeout(240)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def bare(lsp_client: LanguageClient) -> AsyncIterator[None]:
    yield
    await end_server(lsp_client)


async def embedded_peer_of(editor: Editor) -> str:
    """The base URL of the peer the real ``vivavoce lsp`` started, found by its socket."""
    process = editor.client._server
    assert process is not None
    ports = listening_ports(process.pid)
    assert len(ports) == 1, f"expected the embedded peer's port alone, found {ports}"
    return f"http://127.0.0.1:{ports[0]}/v1"


async def test_other_local_clients_cannot_use_the_editors_embedded_peer(
    bare: LanguageClient,
) -> None:
    editor = Editor(bare)
    await bare.initialize_session(init_params({"peer": "embedded"}))
    await editor.request("realtime/start")
    await editor.request("realtime/sendText", {"text": "hello there"})
    await editor.until(lambda: len(editor.finals("assistant")) == 1)
    base_url = await embedded_peer_of(editor)

    # A guessed key with a web page's Origin: refused on every route, fault admin absent.
    seen = await try_every_route(base_url, **FOREIGN)
    expected = {
        f"{method} {path} {guess}": 404 if "_admin" in path else 401
        for method, path, _ in ROUTES
        for guess in [None, *GUESSES]
    }
    assert seen == expected
    # DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its own Host.
    rebound = await try_every_route(base_url, Host="evil.example", **FOREIGN)
    assert set(rebound.values()) == {421}
    async with httpx.AsyncClient() as http:
        refusal = await http.get(f"{base_url}/models", headers={"Host": "evil.example:80"})
    assert refusal.status_code == 421
    error = refusal.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "misdirected_request" and "\n" not in error["message"]

    # The editor's own conversation goes on, in both modes, on the same peer.
    await editor.request("realtime/sendText", {"text": "and the tests"})
    await editor.until(lambda: len(editor.finals("assistant")) == 2)
    await editor.request("realtime/toggleMode")
    await editor.request("realtime/sendText", {"text": "now in text"})
    await editor.until(lambda: len(editor.finals("assistant")) == 3)
    assert await embedded_peer_of(editor) == base_url
    assert editor.client.messages == []
    await editor.request("realtime/stop")
    await bare.shutdown_session()


async def test_the_peer_process_gets_its_key_where_no_other_user_can_read_it() -> None:
    """``PeerProcess`` (the embedded peer beside real sound devices): not in ``ps``, not in its
    environment; the key works, a guess does not."""
    import psutil

    from vivavoce.peer.process import PeerProcess

    peer = await PeerProcess.start()
    try:
        assert len(peer.api_key) >= 40 and peer.api_key not in repr(peer)
        child = psutil.Process(peer._proc.pid)
        assert not any(peer.api_key in arg for arg in child.cmdline())
        assert not any(peer.api_key in value for value in child.environ().values())
        seen = await try_every_route(peer.base_url, **FOREIGN)
        assert not [where for where, status in seen.items() if 200 <= status < 300]
        async with httpx.AsyncClient(timeout=10) as http:
            mine = await http.get(
                f"{peer.base_url}/models", headers={"Authorization": f"Bearer {peer.api_key}"}
            )
        assert mine.status_code == 200
        again = await PeerProcess.start()  # a new start, a new key
        try:
            assert again.api_key != peer.api_key
        finally:
            await again.close()
    finally:
        await peer.close()


#: A page on another site: it fetches every route of the peer with every key it might guess.
ATTACK = """
(async () => {
  const routes = %s, guesses = [null, ...%s], sdp = %s;
  const seen = {};
  for (const [method, path, type] of routes) {
    for (const guess of guesses) {
      const headers = guess === null ? {} : {Authorization: `Bearer ${guess}`};
      let body;
      if (method === "POST") {
        headers["Content-Type"] = type;
        body = type === "application/sdp" ? sdp : "{}";
      }
      try {
        const r = await fetch(BASE + path, {method, headers, body, cache: "no-store"});
        seen[`${method} ${path} ${guess}`] = r.status;
      } catch (e) {
        seen[`${method} ${path} ${guess}`] = "blocked";
      }
    }
    // Even a "simple" request (no preflight) and a bare OPTIONS.
    for (const m of ["GET", "OPTIONS"]) {
      try { seen[`${m} ${path} simple`] = (await fetch(BASE + path, {method: m})).status; }
      catch (e) { seen[`${m} ${path} simple`] = "blocked"; }
    }
  }
  return seen;
})()
"""


#: The page opens the peer's WebSocket route as browser clients do: the key as a subprotocol.
SOCKETS = """
(async () => {
  const url = %s, out = {};
  for (const guess of [null, ...%s]) {
    const protocols = guess === null ? ["realtime"] : ["realtime", "openai-insecure-api-key." + guess];
    out[String(guess)] = await new Promise((resolve) => {
      const ws = new WebSocket(url, protocols);
      ws.onopen = () => { ws.close(); resolve("open"); };
      ws.onerror = () => resolve("refused");
      setTimeout(() => resolve("no answer"), 5000);
    });
  }
  return out;
})()
"""


async def _cat_pictures(_: web.Request) -> web.Response:
    return web.Response(text="<p>cat pictures</p>", content_type="text/html")


async def test_a_page_from_another_origin_gets_no_2xx_from_the_embedded_peer() -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install --no-install-recommends chromium)")
    from vivavoce.peer.process import start_local_peer

    # The attacker's site, on another port of 127.0.0.1 and, by name, on evil.example.
    app = web.Application()
    app.router.add_get("/", _cat_pictures)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    site_port = runner.addresses[0][1]
    peer = await start_local_peer(separate_process=False)
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
            port = peer.base_url.split(":")[-1].split("/")[0]
            # A page on another origin calling 127.0.0.1; then one whose name rebinds to it.
            for origin, base in [
                (f"http://127.0.0.1:{site_port}", peer.base_url),
                (f"http://evil.example:{site_port}", f"http://evil.example:{port}/v1"),
            ]:
                await page.goto(f"{origin}/")
                seen: dict[str, Any] = await page.eval(f"const BASE = {json.dumps(base)};{attack}")
                paths = {path for _, path, _ in ROUTES}
                assert len(seen) == len(ROUTES) * (len(GUESSES) + 1) + 2 * len(paths)
                won = {k: v for k, v in seen.items() if isinstance(v, int) and 200 <= v < 300}
                assert won == {}, origin
                readable = {v for v in seen.values() if v != "blocked"}
                if "evil" in base:  # the Host check answered, before any key was looked at
                    assert readable == {421}, seen
                else:  # the page did reach the peer: refused for want of the key
                    assert readable == {401, 404, 405}, seen
                # A WebSocket (no CORS there): a guessed key never opens a call.
                ws_url = base.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
                keys = [*GUESSES, peer.api_key] if "evil" not in base else GUESSES
                opened = await page.eval(SOCKETS % (json.dumps(ws_url), json.dumps(keys)))
                want = {guess: "refused" for guess in ["null", *GUESSES]}
                if "evil" not in base:  # control: the key itself does (as over HTTP)
                    want[peer.api_key] = "open"
                assert opened == want, origin
    finally:
        await peer.close()
        await runner.cleanup()


def test_the_peer_refuses_an_empty_key_on_stdin() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "vivavoce", "peer", "--api-key-stdin"],
        input="\n", capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "VIVAVOCE_PEER_API_KEY": ""},
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "vivavoce peer: --api-key-stdin: no key on stdin\n"
