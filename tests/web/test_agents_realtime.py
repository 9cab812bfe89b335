"""The official ``@openai/agents-realtime`` client holds a conversation with ``vivavoce peer``.

OpenAI's own browser SDK (npm, bundled offline by esbuild: ``tests/web/agents_bundle.py``) runs
in headless Chromium exactly as an app uses it: ``RealtimeAgent`` + ``RealtimeSession`` over the
WebRTC transport, the SDK's default model, an ephemeral ``ek_`` key minted by "the app's
backend" (this test) from ``POST /v1/realtime/client_secrets``, and a microphone (Chromium's fake
device playing a WAV: silence, or a flite sentence so the peer hears real words). The page is
served from its own 127.0.0.1 origin, so CORS is exercised as in a real deployment.

What a user would notice is asserted: the session connects, no ``error`` reaches the SDK (nor an
exception inside it, nor a server event its schema silently drops), the assistant answers, the
user's words are in ``session.history``, and closing the session ends the call on the peer.
A screenshot and the page's record (every event both ways, the history, the peer's log) land in
tests/web/output/agents-<test>.png/.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from .agents_bundle import BundleFailed, BundleUnavailable, ensure_bundle
from .cdp import Browser, CdpError, Page, chromium_path, launch
from .conftest import OUTPUT, Running, running

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: The app's backend key: the peer requires it, the page gets only ephemeral keys minted with it.
APP_KEY = "sk-vivavoce-agents-test"
SPOKEN = "please open the main file"
TYPED = "What is the capital of France?"
HTML = (
    "<!doctype html><html><head><meta charset='utf-8'><title>agents-realtime</title></head>"
    "<body><h1>agents-realtime ↔ vivavoce peer</h1>"
    "<pre id='log' style='white-space:pre-wrap'></pre>"
    "<script src='/page.js'></script></body></html>"
)


@pytest.fixture(scope="session")
def agents_bundle() -> Path:
    try:
        return ensure_bundle()
    except BundleUnavailable as exc:
        pytest.skip(str(exc))
    except BundleFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Running]:
    """``vivavoce peer --port 0`` as its own process, logging calls opened and closed, with a key
    (from its environment) that only the app's backend holds."""
    args = [sys.executable, "-m", "vivavoce", "peer", "--port", "0", "--log-level", "INFO"]
    env = {**os.environ, "VIVAVOCE_PEER_API_KEY": APP_KEY}
    async with running(args, tmp_path / "peer.err", env) as server:
        yield server


@pytest.fixture
async def page_url(agents_bundle: Path) -> AsyncIterator[str]:
    """The app's page on its own 127.0.0.1 origin (not the peer's)."""
    app = web.Application()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=HTML, content_type="text/html")

    async def script(_: web.Request) -> web.FileResponse:
        return web.FileResponse(agents_bundle)

    app.router.add_get("/", index)
    app.router.add_get("/page.js", script)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


def microphone_wav(path: Path, text: str | None) -> Path:
    """A 16 kHz WAV: 1.5 s of silence, then flite saying ``text`` (if any), then 6 s of silence.

    Chromium's fake microphone starts with the call (before the data channel is open), so the
    leading silence keeps the words for the connected session.
    """
    rate = 16000
    speech = b""
    if text is not None:
        said = path.with_suffix(".flite.wav")
        subprocess.run(
            ["flite", "-voice", "rms", "-t", text, "-o", str(said)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        with wave.open(str(said)) as w:
            assert w.getframerate() == rate and w.getnchannels() == 1
            speech = w.readframes(w.getnframes())
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(rate * 1.5) + speech + b"\0\0" * rate * 6)
    return path


@contextlib.asynccontextmanager
async def chromium(wav: Path) -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install --no-install-recommends chromium)")
    flags = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    async with launch(executable, flags) as browser:
        yield browser


async def mint_key(base_url: str, model: str) -> tuple[int, dict[str, Any]]:
    """The app's backend: an ephemeral key for ``model`` (status, JSON body)."""
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 600},
        "session": {"type": "realtime", "model": model},
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/realtime/client_secrets",
            json=body,
            headers={"Authorization": f"Bearer {APP_KEY}"},
        ) as resp:
            return resp.status, await resp.json()


@dataclass
class AgentsApp:
    """The page with the SDK loaded, the peer it talks to, and what it recorded."""

    page: Page
    browser: Browser
    peer: Running
    name: str
    call_id: str | None = None

    async def default_model(self) -> str:
        model: str = await self.page.eval("window.vivavoce.defaultModel")
        return model

    async def connect(self, model: str | None = None) -> dict[str, Any]:
        """Mint a key (for ``model``, else the SDK's default) and connect the session.

        ``model`` is also given to ``RealtimeSession``; None leaves the SDK's default.
        """
        wanted = model or await self.default_model()
        status, body = await mint_key(self.peer.url, wanted)
        assert status == 200, f"POST /v1/realtime/client_secrets for {wanted!r}: {status} {body}"
        assert body["value"].startswith("ek_"), body
        options = {"callsUrl": f"{self.peer.url}/realtime/calls", "apiKey": body["value"]}
        if model is not None:
            options["model"] = model
        result: dict[str, Any] = await self.page.eval(
            f"window.vivavoce.connect({json.dumps(options)})"
        )
        assert result["status"] == "connected", result
        assert result["model"] == wanted, result
        self.call_id = result["callId"]
        assert self.call_id and self.call_id.startswith("rtc_"), result
        await self.peer.wait_stderr(f"{self.call_id}: call opened")
        return result

    async def log(self) -> dict[str, Any]:
        log: dict[str, Any] = await self.page.eval("window.vivavoce.log")
        return log

    async def history(self) -> list[dict[str, Any]]:
        history: list[dict[str, Any]] = await self.page.eval("window.vivavoce.history()")
        return history

    async def wait_history(self, js_predicate: str, timeout: float, what: str) -> None:
        """Wait until ``js_predicate`` (over ``h``, the history) holds."""
        try:
            await self.page.wait_for(
                f"(() => {{ const h = window.vivavoce.history(); return {js_predicate}; }})()",
                timeout,
                what,
            )
        except TimeoutError:
            log = await self.log()
            pytest.fail(
                f"no {what} in session.history within {timeout} s: {await self.history()}\n"
                f"SDK errors: {log['errors']}\nthrown inside the SDK: {log['uncaught']}"
            )

    async def assistant_answered(self, timeout: float) -> dict[str, Any]:
        """The assistant's completed item with a transcript, once the user heard it."""
        await self.wait_history(
            "h.some(i => i.role === 'assistant' && i.status === 'completed' && i.text)",
            timeout,
            "completed assistant item with a transcript",
        )
        reply = next(i for i in await self.history() if i["role"] == "assistant")
        audio = await self.page.eval("window.vivavoce.audioReceived()")
        assert audio and audio["packetsReceived"] > 0 and audio["totalAudioEnergy"] > 0, audio
        return reply

    async def no_trouble(self) -> None:
        """No error event, no exception inside the SDK, no server event its schema refused."""
        log = await self.log()
        assert log["errors"] == [], f"the SDK reported errors: {log['errors']}"
        assert log["uncaught"] == [], f"the SDK threw inside its listeners: {log['uncaught']}"
        assert log["rejected"] == [], f"the SDK's schema refused server events: {log['rejected']}"

    async def hang_up(self) -> None:
        """session.close(): the SDK says disconnected and the peer closes the call."""
        status = await self.page.eval("window.vivavoce.status()")
        assert status == "connected"
        assert await self.page.eval("window.vivavoce.close()") == "disconnected"
        log = await self.log()
        assert log["connection"][-1] == "disconnected"
        await self.peer.wait_stderr(f"{self.call_id}: call closed", timeout=20)

    async def save(self) -> None:
        """The page's screenshot and record, for a person to look at."""
        OUTPUT.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            await self.page.screenshot(OUTPUT / f"agents-{self.name}.png")
        record: dict[str, Any] = {"console": self.browser.console, "peer": self.peer.stderr()}
        with contextlib.suppress(Exception):
            record["log"] = await self.log()
            record["history"] = await self.history()
        (OUTPUT / f"agents-{self.name}.json").write_text(json.dumps(record, indent=1))


@contextlib.asynccontextmanager
async def agents_app(
    request: pytest.FixtureRequest, peer: Running, page_url: str, wav: Path
) -> AsyncIterator[AgentsApp]:
    async with chromium(wav) as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        await page.wait_for("window.vivavoce !== undefined", 30, "the bundle to load")
        app = AgentsApp(page, browser, peer, request.node.name)
        try:
            yield app
        finally:
            await app.save()  # pass or fail: a person can look at it
            with contextlib.suppress(CdpError, Exception):
                await page.eval("window.vivavoce.status() !== 'none' && window.vivavoce.close()")


#: An older model name (deprecated, still served), beside the SDK's default.
KNOWN_MODEL = "gpt-realtime"

#: The SDK's own default (gpt-realtime-2.1 in agents-realtime 0.20), and an older name.
MODELS = [pytest.param(None, id="default-model"), pytest.param(KNOWN_MODEL, id=KNOWN_MODEL)]


def heard(expected: str, transcript: str) -> float:
    """Share of the expected words in a transcript (speech recognition is not perfect)."""
    got = set(transcript.lower().replace(".", " ").replace(",", " ").split())
    want = expected.lower().split()
    return sum(w in got for w in want) / len(want)


async def test_the_peer_mints_a_key_for_the_sdks_default_model(
    request: pytest.FixtureRequest, peer: Running, page_url: str, tmp_path: Path
) -> None:
    async with agents_app(
        request, peer, page_url, microphone_wav(tmp_path / "quiet.wav", None)
    ) as app:
        model = await app.default_model()
        assert model.startswith("gpt-realtime"), model
        status, body = await mint_key(peer.url, model)
        assert status == 200, f"client_secrets for the SDK's default model {model!r}: {body}"
        assert body["value"].startswith("ek_")
        assert body["session"]["model"] == model


@pytest.mark.parametrize("model", MODELS)
async def test_a_typed_turn_is_answered_and_kept_in_the_sdks_history(
    request: pytest.FixtureRequest, peer: Running, page_url: str, tmp_path: Path, model: str | None
) -> None:
    """A quiet room; the user types (``session.sendMessage``); the assistant answers aloud."""
    async with agents_app(
        request, peer, page_url, microphone_wav(tmp_path / "quiet.wav", None)
    ) as app:
        await app.connect(model)
        await app.page.eval(f"window.vivavoce.say({json.dumps(TYPED)})")
        reply = await app.assistant_answered(timeout=30)
        history = await app.history()
        users = [i for i in history if i["role"] == "user"]
        assert [u["text"] for u in users] == [TYPED], history
        assert history.index(users[0]) < history.index(reply), "the question after its answer"
        await app.no_trouble()
        await app.hang_up()
        await app.no_trouble()


@pytest.mark.parametrize("model", MODELS)
async def test_a_spoken_turn_is_answered_and_its_words_are_in_the_sdks_history(
    request: pytest.FixtureRequest, peer: Running, page_url: str, tmp_path: Path, model: str | None
) -> None:
    """The microphone says a flite sentence; the peer hears it and answers; the SDK keeps both."""
    wav = microphone_wav(tmp_path / "spoken.wav", SPOKEN)
    async with agents_app(request, peer, page_url, wav) as app:
        await app.connect(model)
        reply = await app.assistant_answered(timeout=40)
        # The user's transcription may complete after the answer (as with the real API).
        await app.wait_history(
            "h.some(i => i.role === 'user' && i.text)", 15, "user item with a transcript"
        )
        history = await app.history()
        user = next(i for i in history if i["role"] == "user")
        log = await app.log()
        transcribed = [
            e["transcript"]
            for e in log["received"]
            if e["type"] == "conversation.item.input_audio_transcription.completed"
            and e["item_id"] == user["itemId"]
        ]
        assert transcribed == [user["text"]], "the history holds what the server transcribed"
        # Offline recognition of flite speech gets most words (FACTS.md: ≈ 17-19 % WER).
        assert heard(SPOKEN, user["text"]) >= 0.4, user
        assert history.index(user) < history.index(reply), "the question after its answer"
        await app.no_trouble()
        await app.hang_up()
        await app.no_trouble()
