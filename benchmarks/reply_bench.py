"""Reply latency: end of the user's speech → first audible assistant frame at the client.

Group ``reply`` (issue 21), in this process: the product's :class:`~vivavoce.realtime.Call`
with real aiortc on loopback, the microphone a source that notes when the last frame of
speech leaves for the network, the speaker a sink that notes when each audible frame arrives.
Each turn is a synthesized sentence (flite, voice ``rms``) followed by silence; once the first
reply frame is heard the reply is cancelled and the next turn starts. Turn detection is
``server_vad`` with 500 ms of silence, so every number includes those 500 ms. Each turn is
also split at the moment ``input_audio_buffer.speech_stopped`` arrives: the part before it is
the VAD's decision (500 ms of silence and its own lag), the part after it the reply.

* baseline — the built-in stack: the peer's own VAD, pocketsphinx, responder and flite.
* product — the composed stack: the same peer with its three steps given to upstream servers
  of known latency (:class:`FixedUpstreams`: :data:`UPSTREAM_MS` each, then a fixed answer:
  the words, a streamed one-sentence reply, 24 kHz PCM). Its **overhead** is what the peer
  (and the call) add beyond the upstreams' own time and the VAD's silence:
  ``latency − 500 ms − 3 × UPSTREAM_MS``.

The peer starts a turn's reply ahead by default (``speculate``, :mod:`vivavoce.peer.speculation`):
the chat and speech requests go out 200 ms before the silence ends the turn, so the upstreams'
time overlaps the VAD's and the composed overhead can be below zero. The same composed stack with
``speculate=False`` is measured too (informational): the overhead of the peer's own path.

Targets (issue 21, these 2-core machines): built-in p50 ≤ 750 ms; composed overhead ≤ 30 ms p50.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol

import numpy as np

from benchmarks import conversation_bench
from benchmarks.stats import median, percentile, record, summary

#: What each upstream takes before it answers.
UPSTREAM_MS = 100.0
#: The VAD silence that ends a turn (server_vad ``silence_duration_ms``).
SILENCE_MS = 500
BUILTIN_P50_MAX_MS = 750.0
OVERHEAD_P50_MAX_MS = 30.0
SENTENCES = [
    "the build is broken again",
    "open the main file please",
    "what does this function return",
    "run the tests for the parser",
    "rename the variable to count",
]


class _Cfg(Protocol):
    runs: int


class SpeechSource:
    """The microphone: speech fed on demand, silence otherwise; notes the last audible frame."""

    def __init__(self) -> None:
        from vivavoce.rtc.tracks import PcmSource

        class _Source(PcmSource):
            def take(inner, n: int = 960) -> Any:
                pcm = super().take(n)
                if pcm is not None and int(np.abs(pcm).max(initial=0)) > 300:
                    self.last_speech = time.monotonic()
                return pcm

        self.source = _Source()
        self.last_speech = 0.0


class Audio(conversation_bench.Audio):
    """The call's sound card: speech on demand in, a stamping sink out."""

    def __init__(self) -> None:
        super().__init__()
        self.mic = SpeechSource()
        self.source = self.mic.source


async def _turns(base_url: str, turns: int) -> dict[str, list[float]]:
    """``turns`` spoken turns on one call: per turn the latency, the part until the server
    said the turn ended (``speech_stopped``), and the part after it."""
    from vivavoce.conversation import session_for
    from vivavoce.peer.tts import Synthesizer
    from vivavoce.realtime import Call, CallOptions
    from vivavoce.realtime import events as ev
    from vivavoce.settings import Settings

    speech = [await Synthesizer().synthesize(s, "rms") for s in SENTENCES]
    audio = Audio()
    settings = Settings(
        peer=base_url,
        turn_detection={"type": "server_vad", "silence_duration_ms": SILENCE_MS},
    )
    options = CallOptions.from_settings(settings, base_url)
    out: dict[str, list[float]] = {"latency_ms": [], "vad_ms": [], "after_ms": []}
    stopped: list[float] = []

    async def read(call: Call) -> None:
        async for event in call.events():
            if isinstance(event, ev.SpeechStopped):
                stopped.append(time.monotonic())  # noqa: PERF401 (as each one arrives)

    async with Call(session_for(settings), options, source=audio.source, sink=audio.sink) as call:
        reader = asyncio.create_task(read(call))
        try:
            for n in range(turns):
                await asyncio.sleep(0.5)
                heard, stops = len(audio.sink.audible), len(stopped)
                audio.source.feed(speech[n % len(speech)], 16000)
                async with asyncio.timeout(30):
                    while len(audio.sink.audible) == heard or len(stopped) == stops:
                        await asyncio.sleep(0.005)
                first, end, stop = audio.sink.audible[heard], audio.mic.last_speech, stopped[-1]
                out["latency_ms"].append((first - end) * 1000)
                out["vad_ms"].append((stop - end) * 1000)
                out["after_ms"].append((first - stop) * 1000)
                await call.send(ev.ResponseCancel())  # on to the next turn
                await call.send(ev.OutputAudioClear())
                async with asyncio.timeout(30):  # quiet again
                    while time.monotonic() - audio.sink.audible[-1] < 0.4:
                        await asyncio.sleep(0.05)
        finally:
            reader.cancel()
    return out


class FixedUpstreams:
    """Three OpenAI-compatible routes that each wait :data:`UPSTREAM_MS`, then answer."""

    def __init__(self, reply_pcm: bytes) -> None:
        self.reply_pcm = reply_pcm
        self.base_url = ""
        self._runner: Any = None

    async def start(self) -> FixedUpstreams:
        from aiohttp import web

        async def transcriptions(request: web.Request) -> web.Response:
            await request.post()
            await asyncio.sleep(UPSTREAM_MS / 1000)
            return web.json_response({"text": "the build is broken again"})

        async def chat(request: web.Request) -> web.StreamResponse:
            await request.read()
            await asyncio.sleep(UPSTREAM_MS / 1000)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for word in ["I", " will", " look", " at", " the", " build."]:
                chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            return response

        async def speech(request: web.Request) -> web.StreamResponse:
            await request.read()
            await asyncio.sleep(UPSTREAM_MS / 1000)
            response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
            await response.prepare(request)
            step = 4800  # 100 ms at 24 kHz, 16-bit
            for i in range(0, len(self.reply_pcm), step):
                await response.write(self.reply_pcm[i : i + step])
            return response

        app = web.Application()
        app.router.add_post("/v1/audio/transcriptions", transcriptions)
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/audio/speech", speech)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def close(self) -> None:
        await self._runner.cleanup()


async def bench_reply(cfg: _Cfg) -> tuple[dict[str, Any], dict[str, Any]]:
    from vivavoce.peer import start_peer
    from vivavoce.peer.audio import resample
    from vivavoce.peer.tts import Synthesizer
    from vivavoce.peer.upstreams import Upstream

    turns = max(20, cfg.runs * 2)
    builtin = await start_peer(host="127.0.0.1", port=0)
    try:
        baseline = await _turns(builtin.base_url, turns)
    finally:
        await builtin.close()
    said = await Synthesizer().synthesize("I will look at the build.", "slt")
    upstreams = await FixedUpstreams(resample(said, 16000, 24000).tobytes()).start()
    runs: dict[bool, dict[str, list[float]]] = {}
    try:
        for speculate in (True, False):
            composed = await start_peer(
                host="127.0.0.1",
                port=0,
                transcribe=Upstream(upstreams.base_url, "whisper"),
                speech=Upstream(upstreams.base_url, "kokoro"),
                responder_url=upstreams.base_url,
                speculate=speculate,
            )
            try:
                runs[speculate] = await _turns(composed.base_url, turns)
            finally:
                await composed.close()
    finally:
        await upstreams.close()
    upstreams_ms = 3 * UPSTREAM_MS
    for run in runs.values():
        run["overhead_ms"] = [ms - SILENCE_MS - upstreams_ms for ms in run["latency_ms"]]
        run["overhead_after_turn_ms"] = [ms - upstreams_ms for ms in run["after_ms"]]
    product, plain = runs[True], runs[False]
    product["plain_overhead_ms"] = plain["overhead_ms"]
    product["plain_overhead_after_turn_ms"] = plain["overhead_after_turn_ms"]
    notes = {
        "reply latency ms, built-in": str(summary(baseline["latency_ms"])),
        "built-in: until speech_stopped; after it": (
            f"{summary(baseline['vad_ms'])}; {summary(baseline['after_ms'])}"
        ),
        "reply latency ms, composed": str(summary(product["latency_ms"])),
        "composed: until speech_stopped; after it, less the upstreams' time": (
            f"{summary(product['vad_ms'])}; {summary(product['overhead_after_turn_ms'])}"
        ),
        "composed, speculate off: overhead; after the turn, less the upstreams' time": (
            f"{summary(plain['overhead_ms'])}; {summary(plain['overhead_after_turn_ms'])}"
        ),
    }
    return baseline, {**product, "notes": notes}


def reply_metrics(raw: dict[str, Any], prod: dict[str, Any]) -> dict[str, Any]:
    b50, b95 = median(raw["latency_ms"]), percentile(raw["latency_ms"], 95)
    p50, p95 = median(prod["latency_ms"]), percentile(prod["latency_ms"], 95)
    o50 = median(prod["overhead_ms"])
    builtin = record(b50, b50, "ms", None)
    builtin.update(target=f"<= {BUILTIN_P50_MAX_MS:g} ms", **{"pass": b50 <= BUILTIN_P50_MAX_MS})
    overhead = record(o50, o50, "ms", None)
    overhead.update(target=f"<= {OVERHEAD_P50_MAX_MS:g} ms", **{"pass": o50 <= OVERHEAD_P50_MAX_MS})
    after = median(prod["overhead_after_turn_ms"])
    plain, plain_after = (
        median(prod["plain_overhead_ms"]),
        median(prod["plain_overhead_after_turn_ms"]),
    )
    return {
        "reply_builtin_p50_ms": builtin,
        "reply_builtin_p95_ms": record(b95, b95, "ms", None),
        "reply_composed_p50_ms": record(p50, b50, "ms", None),
        "reply_composed_p95_ms": record(p95, b95, "ms", None),
        "reply_composed_overhead_p50_ms": overhead,
        "reply_composed_overhead_after_turn_p50_ms": record(after, after, "ms", None),
        # The same stack with speculate=False (the baseline column: what speculation saves).
        "reply_composed_overhead_no_speculate_p50_ms": record(o50, plain, "ms", None),
        "reply_composed_overhead_after_turn_no_speculate_p50_ms": record(
            after, plain_after, "ms", None
        ),
        "reply_vad_decision_p50_ms": record(
            median(prod["vad_ms"]), median(raw["vad_ms"]), "ms", None
        ),
    }
