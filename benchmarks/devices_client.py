"""Processes of the device benchmarks: the two clients under test and the acoustic probe.

    python -m benchmarks.devices_client raw     --url URL   # aiortc + sounddevice, plainly
    python -m benchmarks.devices_client product --url URL   # vivavoce: Call + open_audio
    python -m benchmarks.devices_client probe --bursts N --period P | --tone SECONDS

The clients use the default PulseAudio devices their environment names (``PULSE_SOURCE`` the
virtual microphone, ``PULSE_SINK`` the virtual speaker), call the echo server, print
``{"event": "live"}`` once their devices run and ``{"event": "result", ...}`` when told to stop.

* raw — what a plain integration looks like: aiortc's offerer from ``raw_aiortc`` (its default
  jitter buffer), a sounddevice ``InputStream`` whose callback appends to a deque that the
  outgoing track reads every 20 ms, and an ``OutputStream`` whose callback plays 20 ms frames
  from a ``queue.Queue`` filled with the decoded remote frames; sounddevice's default latencies.
* product — ``vivavoce.audio.open_audio`` (default settings: echo cancellation "auto", i.e. on;
  ``--echo off`` for the like-for-like CPU run) and a ``vivavoce.realtime.Call`` against
  ``vivavoce peer --mode echo``.
* probe — one duplex stream on the other ends of the virtual devices (``PULSE_SINK`` = the
  microphone's sink, ``PULSE_SOURCE`` = the speaker's monitor): plays 60 ms 1 kHz bursts and
  finds them in what it records, counting in the stream's own sample clock. Mouth-to-ear =
  onset sample − burst sample, minus the probe's own loop (measured on a sink looped to its own
  monitor by the runner). ``--tone`` plays a continuous tone instead (the CPU run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import queue
import sys
import time
from collections import deque
from typing import Any

import numpy as np

from benchmarks.audio import FRAME_SAMPLES, RATE, Pcm, to_mono
from benchmarks.harness import emit, wait_for_stop

BURST_S = 0.06
THRESHOLD = 4000


# --------------------------------------------------------------------------- raw client


class RawMic:
    """BurstGenerator-shaped: ``next_frame`` hands the outgoing track the oldest 20 ms."""

    def __init__(self) -> None:
        self.pending: deque[Pcm] = deque()
        self.buffer = np.zeros(0, np.int16)

    def callback(self, indata: Any, frames: int, _t: Any, _status: Any) -> None:
        self.pending.append(indata[:, 0].copy())

    def next_frame(self, now: float | None = None) -> Pcm:
        while self.pending:
            self.buffer = np.concatenate([self.buffer, self.pending.popleft()])
        if self.buffer.size < FRAME_SAMPLES:
            return np.zeros(FRAME_SAMPLES, np.int16)
        out, self.buffer = self.buffer[:FRAME_SAMPLES], self.buffer[FRAME_SAMPLES:]
        return out


class RawSpeaker:
    """ReceiveMeter-shaped: ``write`` queues each decoded frame for the output callback."""

    def __init__(self) -> None:
        self.q: queue.Queue[Pcm] = queue.Queue()
        self.frames = 0

    def write(self, frame: Any) -> None:
        self.frames += 1
        self.q.put(to_mono(frame))

    def callback(self, outdata: Any, frames: int, _t: Any, _status: Any) -> None:
        try:
            outdata[:, 0] = self.q.get_nowait()
        except queue.Empty:
            outdata.fill(0)


async def run_raw(args: argparse.Namespace) -> None:
    import httpx
    import sounddevice as sd

    from benchmarks import raw_aiortc

    raw_aiortc.loopback_only()
    mic, speaker = RawMic(), RawSpeaker()
    conn = raw_aiortc.Connection(mic, speaker)  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=10.0) as http:
        await conn.connect(http, args.url)
    common = {"samplerate": RATE, "channels": 1, "dtype": "int16", "blocksize": FRAME_SAMPLES}
    instream = sd.InputStream(callback=mic.callback, **common)
    outstream = sd.OutputStream(callback=speaker.callback, **common)
    instream.start()
    outstream.start()
    await asyncio.sleep(args.settle)
    emit("live", latency=[instream.latency, outstream.latency])
    await wait_for_stop()
    emit("result", frames=speaker.frames)
    instream.close()
    outstream.close()
    await conn.close()


# --------------------------------------------------------------------------- product client


async def run_product(args: argparse.Namespace) -> None:
    from vivavoce.audio import open_audio
    from vivavoce.conversation import session_for
    from vivavoce.realtime import Call, CallOptions
    from vivavoce.settings import Settings

    settings = Settings(
        base_url=args.url, api_key="sk-local", peer="openai", echo_cancellation=args.echo
    )
    audio = await open_audio(settings, lambda _: None)
    call = Call(
        session_for(settings),
        CallOptions.from_settings(settings),
        source=audio.source,
        sink=audio.sink,
    )
    await call.start()
    await asyncio.sleep(args.settle)
    emit("live", latency=audio.stats()["streamLatency"])
    await wait_for_stop()
    emit("result", frames=audio.speaker.frames, audio=audio.stats())
    await call.close()
    await audio.close()


# --------------------------------------------------------------------------- probe


def run_probe(args: argparse.Namespace) -> None:
    import sounddevice as sd

    total = int((args.lead_in + args.bursts * args.period + 1.0) * RATE)
    if args.tone:
        total = int(args.tone * RATE)
    t = np.arange(int(BURST_S * RATE)) / RATE
    burst = (12000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    starts = [int((args.lead_in + k * args.period) * RATE) for k in range(args.bursts)]
    recorded = np.zeros(total + FRAME_SAMPLES, np.int16)
    pos = {"out": 0, "in": 0, "flags": 0}

    def callback(indata: Any, outdata: Any, frames: int, _t: Any, status: Any) -> None:
        if status:
            pos["flags"] += 1
        o, i = pos["out"], pos["in"]
        outdata.fill(0)
        if args.tone:
            tt = (np.arange(o, o + frames) / RATE) * 2 * np.pi * 440
            outdata[:, 0] = (6000 * np.sin(tt)).astype(np.int16)
        else:
            for s in starts:
                lo, hi = max(s, o), min(s + burst.size, o + frames)
                if lo < hi:
                    outdata[lo - o : hi - o, 0] = burst[lo - s : hi - s]
        n = min(frames, recorded.size - i)
        recorded[i : i + n] = indata[:n, 0]
        pos["out"], pos["in"] = o + frames, i + frames

    with sd.Stream(
        samplerate=RATE, blocksize=FRAME_SAMPLES, channels=1, dtype="int16",
        latency=0.1, callback=callback,
    ):  # fmt: skip
        while pos["in"] < total:
            time.sleep(0.05)
    if args.tone:
        emit("result", flags=pos["flags"])
        return
    loud = np.flatnonzero(np.abs(recorded.astype(np.int32)) > THRESHOLD)
    delays = []
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else recorded.size
        hits = loud[(loud >= s) & (loud < end)]
        if hits.size:
            delays.append(round((int(hits[0]) - s) / RATE * 1000.0, 2))
    emit("result", delays_ms=delays, sent=len(starts), flags=pos["flags"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=["raw", "product", "probe"])
    p.add_argument("--url")
    p.add_argument("--settle", type=float, default=3.0, help="s for streams to start")
    p.add_argument("--bursts", type=int, default=20)
    p.add_argument("--period", type=float, default=0.6)
    p.add_argument("--lead-in", type=float, default=0.5)
    p.add_argument("--echo", default="auto", choices=["auto", "on", "off"],
                   help="product: the echoCancellation setting")  # fmt: skip
    p.add_argument("--tone", type=float, default=0.0, help="play a tone this long instead")
    p.add_argument("--task", default="m2e")  # accepted for the runner's Side; unused
    p.add_argument("--runs", type=int, default=0)
    args, _ = p.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        if args.role == "probe":
            run_probe(args)
        else:
            asyncio.run(run_raw(args) if args.role == "raw" else run_product(args))
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    main()
