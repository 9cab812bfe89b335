"""The client side of the ``load`` group: N simultaneous calls on one ``vivavoce peer``.

    python -m benchmarks.load_client --url URL --calls N [--period 10] [--limit L]

Every call is a raw aiortc client (an ``oai-events`` channel, an outgoing track paced in real
time that sends silence between utterances, the incoming track drained and metered), so the
peer carries N calls with audio both ways the whole time. Protocol (JSON lines on stdout, see
:mod:`benchmarks.harness`); the runner writes one line on stdin per step:

1. the first call opens and answers one typed warm-up turn (the peer's recognizer and speech
   synthesis are loaded then, once for all calls) → ``{"event": "first"}``; wait for a line.
2. the other N - 1 calls open → ``{"event": "live", "connect_ms": [...]}``; with ``--limit``,
   one more offer is posted and must be refused (``over_limit``: status and body).
3. turns run until the runner's next line: each call plays a flite sentence every
   ``--period`` s (calls staggered across the period) and server VAD makes it a turn; every
   second each call sends ``conversation.item.retrieve`` for an item it created and times
   ``conversation.item.retrieved`` (the data-channel round trip through the loaded peer).
4. no new turns; up to 20 s for the answers still due → ``{"event": "result", ...}``.

A turn counts as answered when a ``response.created`` arrives after its sentence started and
before the call's next sentence, and that response ends ``completed``. Its latency is from the
end of the sentence leaving the client (the track drained) to that ``response.created``: the
peer's VAD silence (500 ms), commit and response start, under load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.harness import emit

log = logging.getLogger("load_client")

SENTENCES = (
    "please open the main file",
    "what time is it now",
    "read me the first line",
    "how is the weather today",
)
PROBE_EVERY_S = 1.0
#: The events of each call's turn-taking, kept with their arrival times (the result shows the
#: first call's, next to when its sentences were fed and finished).
TIMELINE = frozenset({
    "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "response.created", "response.done", "output_audio_buffer.started",
    "output_audio_buffer.stopped", "output_audio_buffer.cleared",
})  # fmt: skip
ANSWER_GRACE_S = 20.0


def flite(text: str) -> np.ndarray[Any, np.dtype[np.int16]]:
    """16 kHz mono int16 speech (the tests' synthetic user) with 0.25 s of silence before."""
    import io
    import wave

    out = subprocess.run(
        ["flite", "-voice", "rms", "-t", text, "-o", "/dev/stdout"], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return np.concatenate([np.zeros(4000, np.int16), pcm])


@dataclass
class Turn:
    fed_at: float
    spoken_until: float = 0.0
    response_id: str | None = None
    created_at: float | None = None
    status: str | None = None


@dataclass
class LoadCall:
    """One raw aiortc call of the load, with its turns, probes and received audio."""

    index: int
    base_url: str
    turns: list[Turn] = field(default_factory=list)
    probe_rtt_ms: list[float] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)  # response id → status
    created: dict[str, float] = field(default_factory=dict)  # response id → receipt time
    frames: int = 0
    audible_frames: int = 0
    call_id: str | None = None
    lost_at: float | None = None  # time.monotonic() when the call was lost
    lost_why: str = ""
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (time, event) of TIMELINE

    def __post_init__(self) -> None:
        from vivavoce.rtc.tracks import PcmSource

        self.source = PcmSource()
        self._pc: Any = None
        self._channel: Any = None
        self._open = asyncio.Event()
        self._created = asyncio.Event()
        self._warm = asyncio.Event()
        self._probe_sent: float | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False

    async def connect(self, http: Any) -> float:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from vivavoce.rtc import prepare_aiortc, rtc_configuration
        from vivavoce.rtc.ice import host_addresses
        from vivavoce.rtc.tracks import PcmSourceTrack

        t0 = time.perf_counter()
        prepare_aiortc()
        pc = RTCPeerConnection(rtc_configuration([]))
        self._pc = pc
        self._channel = pc.createDataChannel("oai-events")
        self._channel.on("open", self._open.set)
        self._channel.on("message", self._on_message)
        self._channel.on("close", lambda: self._lost("data channel closed"))
        pc.on("connectionstatechange", lambda: self._state(pc.connectionState))
        pc.addTransceiver(PcmSourceTrack(self.source), direction="sendrecv")
        pc.on("track", lambda track: self._tasks.append(asyncio.create_task(self._drain(track))))
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        status, location, body = await post_offer(http, self.base_url, pc.localDescription.sdp)
        if status != 201:
            raise RuntimeError(f"call {self.index} refused: {status} {body}")
        self.call_id = location.rsplit("/", 1)[-1]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        async with asyncio.timeout(30):
            await self._open.wait()
            await self._created.wait()
        # The item every probe retrieves (a typed user message; no response is asked for).
        self.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "id": f"item_probe{self.index:03d}",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello"}],
                },
            }
        )
        return (time.perf_counter() - t0) * 1000

    def _state(self, state: str) -> None:
        log.info("call %d: connection %s", self.index, state)
        if state in ("failed", "closed"):
            self._lost(f"connection {state}")

    def _lost(self, why: str) -> None:
        if self.lost_at is None and not self._closing:
            self.lost_at, self.lost_why = time.monotonic(), why
            log.warning("call %d lost: %s", self.index, why)

    def send(self, event: dict[str, Any]) -> None:
        if self._channel.readyState == "open":  # a call the peer ended counts as lost
            self._channel.send(json.dumps(event))

    @property
    def lost(self) -> bool:
        return self._channel is None or self._channel.readyState != "open"

    def _on_message(self, message: str | bytes) -> None:
        now = time.monotonic()
        event = json.loads(message)
        kind = event.get("type")
        if kind in TIMELINE:
            self.timeline.append((now, str(kind).rsplit(".", 1)[-1]))
        if kind == "session.created":
            self._created.set()
        elif kind == "conversation.item.retrieved" and self._probe_sent is not None:
            self.probe_rtt_ms.append((now - self._probe_sent) * 1000)
            self._probe_sent = None
        elif kind == "response.created":
            self.created[event["response"]["id"]] = now
        elif kind == "response.done":
            self.statuses[event["response"]["id"]] = event["response"]["status"]
            self._warm.set()
        elif kind == "error":
            self.errors.append(event.get("error", {}))

    async def _drain(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        from vivavoce.rtc.tracks import rms_dbfs, to_mono

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frames += 1
            if rms_dbfs(to_mono(frame)) > -45.0:
                self.audible_frames += 1

    async def warm_up(self) -> None:
        """One typed turn answered in speech: loads the peer's shared speech services."""
        self.send(
            {"type": "response.create", "response": {"output_modalities": ["audio"]}}
        )  # answers the probe item
        async with asyncio.timeout(60):
            await self._warm.wait()
        self.statuses.clear()
        self.created.clear()

    async def speak(self, pcm: np.ndarray[Any, np.dtype[np.int16]]) -> None:
        turn = Turn(fed_at=time.monotonic())
        self.turns.append(turn)
        self.source.feed(pcm, 16000)
        # A call the peer dropped no longer pulls its track: do not wait for it forever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.source.drained.wait(), pcm.size / 16000 + 5.0)
        turn.spoken_until = time.monotonic()

    async def probe(self) -> None:
        if self._probe_sent is None:  # one probe in flight per call
            self._probe_sent = time.monotonic()
            self.send(
                {"type": "conversation.item.retrieve", "item_id": f"item_probe{self.index:03d}"}
            )

    def settle(self) -> None:
        """Match each turn with the first response created after it (and before the next)."""
        responses = sorted(self.created.items(), key=lambda kv: kv[1])
        for i, turn in enumerate(self.turns):
            until = self.turns[i + 1].fed_at if i + 1 < len(self.turns) else float("inf")
            for rid, at in responses:
                if turn.fed_at <= at < until:
                    turn.response_id, turn.created_at = rid, at
                    turn.status = self.statuses.get(rid)
                    break

    def due(self) -> bool:
        """A turn whose answer has not finished yet."""
        self.settle()
        return any(t.status is None for t in self.turns)

    async def close(self, http: Any) -> None:
        self._closing = True
        if self.call_id is not None:
            with contextlib.suppress(Exception):
                await http.post(f"{self.base_url}/realtime/calls/{self.call_id}/hangup")
        for task in self._tasks:
            task.cancel()
        if self._pc is not None:
            await self._pc.close()


async def post_offer(http: Any, base_url: str, sdp: str) -> tuple[int, str, str]:
    response = await http.post(
        f"{base_url}/realtime/calls",
        content=sdp.encode(),
        headers={"Content-Type": "application/sdp"},
    )
    return response.status_code, response.headers.get("location", ""), response.text


async def over_limit(http: Any, base_url: str) -> dict[str, Any]:
    """Post one more offer: what the peer answers a call beyond its limit."""
    from aiortc import RTCPeerConnection

    from vivavoce.rtc import rtc_configuration
    from vivavoce.rtc.ice import host_addresses

    pc = RTCPeerConnection(rtc_configuration([]))
    try:
        pc.createDataChannel("oai-events")
        pc.addTransceiver("audio", direction="sendrecv")
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        status, _, body = await post_offer(http, base_url, pc.localDescription.sdp)
    finally:
        await pc.close()
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body[:200]
    return {"status": status, "body": parsed}


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run(args: argparse.Namespace) -> None:
    import httpx

    speech = [flite(text) for text in SENTENCES]
    async with httpx.AsyncClient(headers={"Authorization": "Bearer sk-load"}, timeout=30) as http:
        calls = [LoadCall(i, args.url) for i in range(args.calls)]
        connect_ms = [await calls[0].connect(http)]
        await calls[0].warm_up()
        await asyncio.sleep(1.0)
        emit("first")
        await read_line()
        connect_ms += [await call.connect(http) for call in calls[1:]]
        refused = await over_limit(http, args.url) if args.limit else None
        started = time.monotonic()
        emit("live", connect_ms=[round(x, 1) for x in connect_ms], calls=len(calls))

        stop = asyncio.Event()
        stopper = asyncio.create_task(read_line())
        stopper.add_done_callback(lambda _: stop.set())

        async def talk(call: LoadCall) -> None:
            offset = args.period * call.index / len(calls)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), offset)
            n = 0
            while not stop.is_set():
                started = time.monotonic()
                await call.speak(speech[(call.index + n) % len(speech)])
                n += 1
                left = args.period - (time.monotonic() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, left))

        async def probe(call: LoadCall) -> None:
            await asyncio.sleep(PROBE_EVERY_S * call.index / len(calls))
            while not stop.is_set():
                await call.probe()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROBE_EVERY_S)

        await asyncio.gather(*(talk(c) for c in calls), *(probe(c) for c in calls))
        deadline = time.monotonic() + ANSWER_GRACE_S
        while any(c.due() for c in calls) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for call in calls:
            call.settle()
        result = summarize(calls, refused, started)
        for call in calls:
            await call.close(http)
    emit("result", connect_ms=[round(x, 1) for x in connect_ms], **result)


def summarize(
    calls: list[LoadCall], refused: dict[str, Any] | None, started: float
) -> dict[str, Any]:
    turns = [t for c in calls for t in c.turns]
    answered = [t for t in turns if t.status == "completed"]
    statuses: dict[str, int] = {}
    for t in turns:
        statuses[str(t.status)] = statuses.get(str(t.status), 0) + 1
    return {
        "calls": len(calls),
        "turns_asked": len(turns),
        "turns_answered": len(answered),
        "turn_statuses": statuses,
        "turns_per_call": [len(c.turns) for c in calls],
        "turn_latency_ms": [
            round((t.created_at - t.spoken_until) * 1000, 1)
            for t in answered
            if t.created_at is not None and t.spoken_until
        ],
        "event_rtt_ms": [round(x, 2) for c in calls for x in c.probe_rtt_ms],
        "audible_s": round(sum(c.audible_frames for c in calls) * 0.02, 1),
        "frames_received": sum(c.frames for c in calls),
        "errors": [e for c in calls for e in c.errors][:10],
        "calls_lost": sum(c.lost for c in calls),
        # When each lost call went (s after all calls were open) and how it was noticed.
        "losses": [
            [c.index, round(c.lost_at - started, 1), c.lost_why]
            for c in calls
            if c.lost_at is not None
        ],
        "over_limit": refused,
        "timeline_call0": _timeline(calls[0], started) if calls else [],
    }


def _timeline(call: LoadCall, started: float) -> list[str]:
    """The first call's turns: sentences fed/finished and the peer's events (s into the load)."""
    marks = [(t.fed_at, "FED") for t in call.turns] + [
        (t.spoken_until, "SPOKEN") for t in call.turns if t.spoken_until
    ]
    return [f"{at - started:.1f} {what}" for at, what in sorted(marks + call.timeline)][:80]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--calls", type=int, default=16)
    p.add_argument("--period", type=float, default=10.0, help="seconds between a call's turns")
    p.add_argument("--limit", type=int, default=0, help="the peer's --max-calls (0: no probe)")
    args = p.parse_args()
    logging.basicConfig(level=os.environ.get("LOAD_CLIENT_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    try:
        asyncio.run(run(args))
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    main()
