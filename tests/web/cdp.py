"""Headless Chromium driven over the Chrome DevTools Protocol: just what the web tests need.

No npm and no extra Python package: Debian's ``chromium`` and aiohttp's WebSocket client.
Chromium gets a fresh profile, every background service off, and a host resolver that
resolves every name to nothing and leaves only 127.0.0.1 reachable.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=900,760",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class CdpError(Exception):
    pass


class Page:
    """One tab: navigate, evaluate JavaScript, click, screenshot."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, session=self.session)

    async def goto(self, url: str) -> None:
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {result['errorText']}")
        await self.wait_for("document.readyState === 'complete'")

    async def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited)."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"{expression[:80]!r} threw: {text}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30, what: str = "") -> Any:
        """Poll until the expression is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"waited {timeout} s for {what or expression}")
            await asyncio.sleep(0.05)

    async def mouse(self, kind: str, x: float, y: float) -> None:
        """A real pointer event (mousePressed, mouseReleased, mouseMoved) at page coordinates."""
        await self.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1},
        )

    async def screenshot(self, path: Path) -> Path:
        data = await self.send("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


class Browser:
    """A Chromium process and its DevTools WebSocket."""

    def __init__(self, process: subprocess.Popen[bytes], ws: aiohttp.ClientWebSocketResponse):
        self.process = process
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="cdp reader")

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            waiter = self._waiting.pop(data.get("id", -1), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(data["params"]["exceptionDetails"].get("text")))
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(CdpError("Chromium went away"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        msg_id = next(self._ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = waiter
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(waiter, 60)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error'].get('message')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page


@contextlib.asynccontextmanager
async def launch(executable: str, extra_flags: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """Start headless Chromium with a fresh profile; stop it and remove the profile after.

    ``extra_flags`` are added to :data:`FLAGS` (e.g. a fake microphone).
    """
    profile = Path(tempfile.mkdtemp(prefix="vivavoce-chromium-"))
    process = subprocess.Popen(
        [executable, *FLAGS, *extra_flags, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(600):  # Chromium writes its port here once DevTools listens
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if process.poll() is not None:
                raise CdpError(f"Chromium exited at start ({process.returncode})")
            await asyncio.sleep(0.05)
        else:
            raise CdpError("Chromium did not open DevTools within 30 s")
        port, path = port_file.read_text().splitlines()[:2]
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws:
                browser = Browser(process, ws)
                try:
                    yield browser
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(browser.send("Browser.close"), 5)
                    browser._reader.cancel()
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
