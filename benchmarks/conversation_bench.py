"""Conversation benchmarks: interruption and mode switching, against the local peer.

Groups (registered in :data:`benchmarks.run.BENCHES`), both in this process with the peer
in-process, real aiortc on loopback, the speaker replaced by a sink that timestamps every
audible 20 ms frame:

* ``interrupt`` — **interrupt → silence at the output**: a long reply is playing (≥ 0.5 s
  heard); ``Conversation.interrupt()`` is called at t0; the result is the arrival time of the
  last audible frame after t0 (silence confirmed for 0.6 s). Target ≤ 150 ms (absolute).
  Baseline: the same reply stopped with ``response.cancel`` alone (no ``output_audio_buffer
  .clear``, no local flush, no truncation), what a client that only cancels gets.
* ``toggle`` — **realtime → text → realtime**: from a live call, ``toggle_mode()`` twice until
  the new call is LIVE again (its context replayed). Baseline: a plain ``Call`` start → LIVE.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from benchmarks.stats import median, record, summary

SILENCE_CONFIRM_S = 0.6
INTERRUPT_MAX_MS = 150.0
LONG = " ".join(f"This is sentence number {n} of a long answer." for n in range(12))


class _Cfg(Protocol):
    runs: int


class StampSink:
    """A speaker that remembers when each audible frame arrived."""

    def __init__(self) -> None:
        self.audible: list[float] = []

    def write(self, frame: Any) -> None:
        from vivavoce.rtc.tracks import rms_dbfs, to_mono

        if rms_dbfs(to_mono(frame)) > -50:
            self.audible.append(time.monotonic())

    def close(self) -> None:
        pass


class Audio:
    """The AudioIO of these runs: silence in, a stamping sink out."""

    def __init__(self) -> None:
        from vivavoce.rtc.tracks import PcmSource

        self.source = PcmSource()
        self.sink = StampSink()
        self.muted = False
        self.on_problem: list[Any] = []
        self.on_dropped: list[Any] = []

    def play(self, samples: Any, rate: int) -> None:
        pass

    def start_recording(self, path: Any) -> None:
        pass

    def flush(self) -> float:
        return 0.0

    async def close(self) -> None:
        pass


async def _until(predicate: Any) -> None:
    async with asyncio.timeout(30):
        while not predicate():
            await asyncio.sleep(0.01)


async def _one_interrupt(base_url: str, *, full: bool) -> float:
    from vivavoce.conversation import Conversation
    from vivavoce.realtime import events as ev
    from vivavoce.settings import Settings

    audio = Audio()

    async def open_audio(*_: Any) -> Audio:
        return audio

    conv = Conversation(Settings(peer=base_url), audio=open_audio)  # type: ignore[arg-type]
    try:
        await conv.start()
        await conv.send_text(LONG)
        await _until(lambda: len(audio.sink.audible) > 25)
        t0 = time.monotonic()
        if full:
            await conv.interrupt()
        else:
            call = conv.realtime.live_call("cancel")
            await call.send(ev.ResponseCancel())
        while True:
            await asyncio.sleep(0.05)
            last = audio.sink.audible[-1]
            if time.monotonic() - last > SILENCE_CONFIRM_S:
                return max(0.0, (last - t0) * 1000)
    finally:
        await conv.close()


async def bench_interrupt(cfg: _Cfg) -> tuple[dict[str, Any], dict[str, Any]]:
    from vivavoce.peer import start_peer

    runs = max(3, cfg.runs // 2)
    peer = await start_peer(host="127.0.0.1", port=0)
    try:
        product, baseline = [], []
        for _ in range(runs):  # alternate, so drift hits both alike
            product.append(await _one_interrupt(peer.base_url, full=True))
            baseline.append(await _one_interrupt(peer.base_url, full=False))
    finally:
        await peer.close()
    notes = {
        "interrupt → silence ms (cancel only, product)": f"{summary(baseline)}, {summary(product)}"
    }
    return {"silence_ms": baseline}, {"silence_ms": product, "notes": notes}


def interrupt_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    p, r = median(prod["silence_ms"]), median(raw["silence_ms"])
    out = record(p, r, "ms", None)
    out.update(target=f"<= {INTERRUPT_MAX_MS:g} ms", **{"pass": p <= INTERRUPT_MAX_MS})
    return {"interrupt_to_silence_ms": out}


async def bench_toggle(cfg: _Cfg) -> tuple[dict[str, Any], dict[str, Any]]:
    from vivavoce.conversation import Conversation, session_for
    from vivavoce.peer import start_peer
    from vivavoce.realtime import Call, CallOptions
    from vivavoce.settings import Settings

    runs = max(3, cfg.runs // 2)
    peer = await start_peer(host="127.0.0.1", port=0)
    settings = Settings(peer=peer.base_url)
    toggles, connects = [], []
    try:
        for _ in range(runs):
            options = CallOptions.from_settings(settings, peer.base_url)
            async with Call(session_for(settings), options) as call:
                connects.append(call.timings["live"])
            conv = Conversation(settings)
            try:
                await conv.start()
                await conv.send_text("remember this")
                t0 = time.perf_counter()
                await conv.toggle_mode()
                status = await conv.toggle_mode()
                toggles.append((time.perf_counter() - t0) * 1000)
                assert status.state == "live" and status.mode == "realtime"
            finally:
                await conv.close()
    finally:
        await peer.close()
    notes = {"toggle ms (connect, toggle twice)": f"{summary(connects)}, {summary(toggles)}"}
    return {"connect_ms": connects}, {"toggle_ms": toggles, "notes": notes}


def toggle_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    return {
        "toggle_realtime_text_realtime_ms": record(
            median(prod["toggle_ms"]), median(raw["connect_ms"]), "ms", None
        )
    }
