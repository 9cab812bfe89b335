"""Fixtures for the local peer's tests: a real peer on 127.0.0.1 and a raw aiortc client.

The client is written here from aiortc primitives (not vivavoce's own client engine) so the
peer is tested against the protocol, not against our other half: ``oai-events`` created before
the offer, an audio track that plays flite speech then silence, loopback-only ICE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from vivavoce.peer import start_peer
from vivavoce.peer.app import RunningPeer
from vivavoce.rtc import prepare_aiortc, rtc_configuration
from vivavoce.rtc.ice import host_addresses
from vivavoce.rtc.tracks import MemorySink, PcmSource, PcmSourceTrack, rms_dbfs

KEY = "sk-test-peer"


def flite_pcm(text: str, voice: str = "rms") -> np.ndarray:
    """16 kHz mono int16 speech for ``text`` (flite, as the tests' "user")."""
    out = subprocess.run(
        ["flite", "-voice", voice, "-t", text, "-o", "/dev/stdout"],
        check=True,
        capture_output=True,
    ).stdout
    import io

    with wave.open(io.BytesIO(out)) as w:
        assert w.getframerate() == 16000
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def word_overlap(expected: str, heard: str) -> float:
    """Share of the expected words that were heard (order-insensitive)."""
    want = expected.lower().replace(".", "").split()
    got = set(heard.lower().replace(".", "").replace(",", "").split())
    return sum(1 for w in want if w in got) / len(want)


class RawCall:
    """A WebRTC client of the peer built directly on aiortc."""

    def __init__(self, base_url: str, key: str = KEY) -> None:
        self.base_url = base_url
        self.key = key
        self.events: list[dict[str, Any]] = []
        self.sink = MemorySink(audible_dbfs=-45.0)
        self.source = PcmSource()
        self.call_id: str | None = None
        self.answer_sdp = ""
        self._new_event = asyncio.Event()
        self._pc: Any = None
        self._channel: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._open = asyncio.Event()

    async def connect(
        self,
        *,
        route: str = "ga",
        trickle: bool = False,
        multipart_session: dict[str, Any] | None = None,
        with_audio: bool = True,
        timeout: float = 10.0,
    ) -> RawCall:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        prepare_aiortc()
        pc = RTCPeerConnection(rtc_configuration([]))
        self._pc = pc
        channel = pc.createDataChannel("oai-events")
        self._channel = channel
        channel.on("open", self._open.set)
        channel.on("message", self._on_message)
        if with_audio:
            pc.addTransceiver(PcmSourceTrack(self.source), direction="sendrecv")

        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._drain(track), name="test-drain"))

        pc.on("track", on_track)
        offer = await pc.createOffer()
        if trickle:
            sdp = offer.sdp  # no candidates yet; the peer must not wait for them
            assert "a=candidate" not in sdp
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(offer)
        if not trickle:
            sdp = pc.localDescription.sdp
        status, headers, body = await self.post_offer(sdp, route, multipart_session)
        assert status == 201, body
        assert headers["Content-Type"].startswith("application/sdp")
        self.call_id = headers["Location"].rsplit("/", 1)[-1]
        self.answer_sdp = body
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        await asyncio.wait_for(self._open.wait(), timeout)
        await self.wait_for("session.created", timeout=timeout)
        return self

    async def post_offer(
        self, sdp: str, route: str, multipart_session: dict[str, Any] | None
    ) -> tuple[int, Any, str]:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.key}"}
        async with aiohttp.ClientSession() as http:
            if route == "beta":
                url = f"{self.base_url}/realtime?model=gpt-4o-realtime-preview"
                data: Any = sdp
                headers["Content-Type"] = "application/sdp"
            elif multipart_session is not None:
                url = f"{self.base_url}/realtime/calls"
                data = aiohttp.FormData(default_to_multipart=True)
                data.add_field("sdp", sdp)
                data.add_field("session", json.dumps(multipart_session))
            else:
                url = f"{self.base_url}/realtime/calls"
                data = sdp
                headers["Content-Type"] = "application/sdp"
            async with http.post(url, data=data, headers=headers) as resp:
                return resp.status, resp.headers, await resp.text()

    async def _drain(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.sink.write(frame)

    def _on_message(self, message: str | bytes) -> None:
        self.events.append(json.loads(message))
        self._new_event.set()

    def send(self, event: dict[str, Any] | str) -> None:
        self._channel.send(event if isinstance(event, str) else json.dumps(event))

    def ask(self, text: str, modalities: tuple[str, ...] = ("text",)) -> None:
        """A typed user turn, then ``response.create`` answering in ``modalities``."""
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        self.send({"type": "conversation.item.create", "item": item})
        self.send({"type": "response.create", "response": {"output_modalities": list(modalities)}})

    def say(self, pcm: np.ndarray) -> None:
        """Play 16 kHz speech into the call (then silence, as the track does when empty)."""
        self.source.feed(pcm, 16000)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]

    async def wait_for(
        self,
        type_: str,
        pred: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 10.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first event of this type (from index ``after``) matching ``pred``."""

        async def scan() -> dict[str, Any]:
            i = after
            while True:
                while i < len(self.events):
                    e = self.events[i]
                    i += 1
                    if e["type"] == type_ and (pred is None or pred(e)):
                        return e
                self._new_event.clear()
                await self._new_event.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {type_} within {timeout} s; got {self.types()}") from None

    def audible_ms(self) -> float:
        return self.sink.audible_frames * 20.0

    def loudness(self) -> float:
        return rms_dbfs(self.sink.samples())

    async def hangup(self) -> int:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base_url}/realtime/calls/{self.call_id}/hangup",
                headers={"Authorization": f"Bearer {self.key}"},
            ) as resp:
                return resp.status

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._pc is not None:
            await self._pc.close()


@pytest.fixture
async def peer() -> AsyncIterator[RunningPeer]:
    running = await start_peer(api_key=KEY)
    yield running
    await running.close()


@pytest.fixture
async def open_peer() -> AsyncIterator[RunningPeer]:
    """A peer with no API key configured (any non-empty bearer)."""
    running = await start_peer()
    yield running
    await running.close()


@pytest.fixture
async def echo_peer() -> AsyncIterator[RunningPeer]:
    running = await start_peer(api_key=KEY, mode="echo")
    yield running
    await running.close()


CallFactory = Callable[..., Awaitable[RawCall]]


@pytest.fixture
async def make_call() -> AsyncIterator[CallFactory]:
    calls: list[RawCall] = []

    async def make(base_url: str, key: str = KEY, **kwargs: Any) -> RawCall:
        call = RawCall(base_url, key)
        calls.append(call)
        return await call.connect(**kwargs)

    yield make
    for call in calls:
        await call.close()


@pytest.fixture(scope="session")
def open_file_speech() -> np.ndarray:
    """The user's sentence, with a little silence before it."""
    return np.concatenate([np.zeros(4000, np.int16), flite_pcm("please open the main file")])
