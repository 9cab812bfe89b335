"""The baseline: plain aiortc 1.16, two processes on loopback, nothing from vivavoce.

Only two adjustments, both needed on this machine: ICE gathers on 127.0.0.1 only
(``aioice.ice.get_host_addresses`` patched; aioice never offers loopback by itself) and
``RTCConfiguration(iceServers=[])`` (the default STUN server stalls 5 s offline). aiortc's own
audio jitter buffer (capacity 16, prefetch 4) is left in place.

Roles::

    python -m benchmarks.raw_aiortc echo [--port N]
        HTTP on 127.0.0.1 (prints "listening on http://127.0.0.1:PORT"). ``POST /offer`` with
        an SDP offer answers it; every received audio track is sent straight back on the
        answerer's own outgoing track (aiortc's idiomatic echo: ``pc.addTrack(remote)``).

    python -m benchmarks.raw_aiortc offerer --url URL --task connect|rtt|duplex [...]
        connect: ``--runs`` calls, each timed from ``RTCPeerConnection()`` to the data
                 channel's "open" (offer, SDP POST, answer, ICE, DTLS, SCTP), one warm-up first.
        rtt:     one call sending ``BurstGenerator`` audio; round trips of the echoed bursts.
        duplex:  one call sending a continuous tone until the runner says stop.
    Results are JSON lines on stdout (see :mod:`benchmarks.harness`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import logging
import sys
import time
from typing import Any

import aioice.ice
import httpx
from aiohttp import web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from benchmarks.audio import (
    FRAME_SAMPLES,
    RATE,
    BurstGenerator,
    ReceiveMeter,
    ToneGenerator,
    match_round_trips,
)
from benchmarks.harness import emit, wait_for_stop

log = logging.getLogger("raw_aiortc")


def loopback_only() -> None:
    """ICE gathers on 127.0.0.1 only (aioice never offers loopback by itself)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class GeneratorTrack(MediaStreamTrack):
    """Outgoing audio paced in real time (like aiortc's AudioStreamTrack), from a generator."""

    kind = "audio"

    def __init__(self, generator: BurstGenerator | ToneGenerator) -> None:
        super().__init__()
        self.generator = generator
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        samples = self.generator.next_frame(time.perf_counter())
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


# --------------------------------------------------------------------------- echo role


async def run_echo(port: int) -> None:
    pcs: set[RTCPeerConnection] = set()

    async def offer(request: web.Request) -> web.Response:
        pc = new_pc()
        pcs.add(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                pc.addTrack(track)  # echo: the received track is our outgoing track

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                pcs.discard(pc)
                await pc.close()

        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201, text=pc.localDescription.sdp, content_type="application/sdp"
        )

    app = web.Application()
    app.router.add_post("/offer", offer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    try:
        await wait_for_stop()
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        await runner.cleanup()


# --------------------------------------------------------------------------- offerer role


class Connection:
    """One offerer call: audio track out (+ drained into a meter), a data channel."""

    def __init__(self, generator: BurstGenerator | ToneGenerator, meter: ReceiveMeter) -> None:
        self.t0 = time.perf_counter()
        self.steps: dict[str, float] = {}
        self.pc = new_pc()
        self.meter = meter
        self.pc.addTrack(GeneratorTrack(generator))
        self.channel = self.pc.createDataChannel("oai-events")
        self.opened = asyncio.Event()
        self.channel.on("open", self.opened.set)
        self._drain: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._drain = asyncio.get_running_loop().create_task(self._drain_track(track))

    async def _drain_track(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                self.meter.write(await track.recv())

    async def connect(self, http: httpx.AsyncClient, url: str) -> None:
        """Offer, POST it, apply the answer, wait for the channel; ``steps`` gets ms from t0."""
        mark = self._mark
        await self.pc.setLocalDescription(await self.pc.createOffer())
        mark("gathering ICE candidates")
        r = await http.post(
            f"{url}/offer",
            content=self.pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        )
        r.raise_for_status()
        mark("exchanging SDP")
        await self.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
        mark("applying the SDP answer")
        await asyncio.wait_for(self.opened.wait(), 10.0)
        mark("opening the data channel")

    def _mark(self, step: str) -> None:
        self.steps[step] = (time.perf_counter() - self.t0) * 1000.0

    async def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
        await self.pc.close()


async def run_offerer(args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        if args.task == "connect":
            times: list[float] = []
            timings: list[dict[str, float]] = []
            for i in range(args.runs + 1):  # run 0 warms imports and caches up
                t0 = time.perf_counter()
                conn = Connection(ToneGenerator(), ReceiveMeter())
                await conn.connect(http, args.url)
                ms = (time.perf_counter() - t0) * 1000.0
                if i:
                    times.append(ms)
                    timings.append(conn.steps)
                await conn.close()
                await asyncio.sleep(0.3)  # let the previous call finish tearing down
            emit("result", connect_ms=times, timings=timings)
        elif args.task == "rtt":
            gen = BurstGenerator(count=args.bursts, period=args.period)
            meter = ReceiveMeter()
            conn = Connection(gen, meter)
            await conn.connect(http, args.url)
            emit("live")
            await gen.finished.wait()
            await asyncio.sleep(args.period)  # the last echo
            emit(
                "result",
                rtt_ms=match_round_trips(gen.sent_at, meter.detector.onsets, args.period),
                sent=len(gen.sent_at),
                onsets=len(meter.detector.onsets),
                frames=meter.frames,
                **meter.gap_stats(),
            )
            await conn.close()
        else:  # duplex
            meter = ReceiveMeter()
            conn = Connection(ToneGenerator(), meter)
            await conn.connect(http, args.url)
            emit("live")
            await wait_for_stop()
            emit("result", frames=meter.frames)
            await conn.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="role", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--port", type=int, default=0)
    o = sub.add_parser("offerer")
    o.add_argument("--url", required=True)
    o.add_argument("--task", choices=["connect", "rtt", "duplex"], required=True)
    o.add_argument("--runs", type=int, default=10)
    o.add_argument("--bursts", type=int, default=20)
    o.add_argument("--period", type=float, default=0.5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    loopback_only()
    coro: Any = run_echo(args.port) if args.role == "echo" else run_offerer(args)
    try:
        asyncio.run(coro)
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    main()
