"""The product side: vivavoce's :class:`~vivavoce.realtime.Call` against a local peer.

    python -m benchmarks.product_client --url http://127.0.0.1:PORT/v1 --task connect|rtt|duplex

Same tasks, signals and meters as ``raw_aiortc offerer``:

* connect: ``--runs`` calls (one warm-up first), each timed around ``await call.start()``
  (returns when LIVE: ephemeral key POST, ICE gathering, SDP POST, DTLS/SCTP, data channel
  open, ``session.created``); ``call.timings`` of each run is reported too.
* rtt: one call whose :class:`~vivavoce.rtc.tracks.PcmSource` is a :class:`GeneratedSource`
  producing the bursts at the moment the product's track takes each frame; the sink is a
  :class:`~benchmarks.audio.ReceiveMeter`, written by the call for every decoded frame.
* duplex: a continuous tone until the runner says stop.

It also reports the adaptive jitter buffer's counters (late / skipped / dropped packets).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any

from benchmarks.audio import (
    FRAME_SAMPLES,
    BurstGenerator,
    ReceiveMeter,
    ToneGenerator,
    match_round_trips,
)
from benchmarks.harness import emit, wait_for_stop
from vivavoce.conversation import session_for
from vivavoce.realtime import Call, CallOptions
from vivavoce.rtc.tracks import Pcm, PcmSource
from vivavoce.settings import Settings


class GeneratedSource(PcmSource):
    """A PcmSource whose every frame comes from a benchmark generator, taken in real time."""

    def __init__(self, generator: BurstGenerator | ToneGenerator) -> None:
        super().__init__()
        self.generator = generator

    def take(self, n: int = FRAME_SAMPLES) -> Pcm | None:
        assert n == FRAME_SAMPLES
        return self.generator.next_frame(time.perf_counter())


def jitter_counters(call: Call) -> dict[str, Any]:
    """late/skipped/dropped/depth of the call's audio jitter buffer (best effort)."""
    pc = getattr(call, "_pc", None)
    out: dict[str, Any] = {}
    for receiver in pc.getReceivers() if pc is not None else []:
        buf = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
        if buf is not None and receiver.track is not None and receiver.track.kind == "audio":
            out = {k: getattr(buf, k, None) for k in ("late", "skipped", "dropped", "depth")}
            out["type"] = type(buf).__name__
    return out


async def run(args: argparse.Namespace) -> None:
    settings = Settings(base_url=args.url, api_key="sk-local", peer="openai")
    session, options = session_for(settings), CallOptions.from_settings(settings)
    if args.task == "connect":
        times: list[float] = []
        timings: list[dict[str, float]] = []
        for i in range(args.runs + 1):  # run 0 warms imports and caches up
            call = Call(
                session, options, source=GeneratedSource(ToneGenerator()), sink=ReceiveMeter()
            )
            t0 = time.perf_counter()
            await call.start()
            ms = (time.perf_counter() - t0) * 1000.0
            if i:
                times.append(ms)
                timings.append(dict(call.timings))
            await call.close()
            await asyncio.sleep(0.3)  # let the previous call finish tearing down
        emit("result", connect_ms=times, timings=timings)
    elif args.task == "rtt":
        gen = BurstGenerator(count=args.bursts, period=args.period)
        meter = ReceiveMeter()
        call = Call(session, options, source=GeneratedSource(gen), sink=meter)
        await call.start()
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
            jitter=jitter_counters(call),
        )
        await call.close()
    else:  # duplex
        meter = ReceiveMeter()
        call = Call(session, options, source=GeneratedSource(ToneGenerator()), sink=meter)
        await call.start()
        emit("live")
        await wait_for_stop()
        emit("result", frames=meter.frames, jitter=jitter_counters(call))
        await call.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the peer's base URL (…/v1)")
    p.add_argument("--task", choices=["connect", "rtt", "duplex"], required=True)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--bursts", type=int, default=20)
    p.add_argument("--period", type=float, default=0.5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(run(args))
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    main()
