"""The user's microphone and speaker for one call: :class:`DeviceAudio` and :func:`open_audio`.

Two PortAudio streams (microphone, speaker) at the device rate (48 kHz when the device takes
it) with 20 ms blocks: aiortc's frame, two whole 10 ms blocks for the echo canceller. (Measured
on PortAudio 19.6 through PulseAudio: 10 ms blocks underran every few seconds on 2 loaded cores;
a single full-duplex ALSA stream busy-spins after an underrun, 50–80 % of a core, while two
streams stay at ≈ 11 %.) The callbacks (PortAudio threads) only copy: the speaker's pulls the
next block from the :class:`~.buffers.PlayoutBuffer` and notes what it wrote; the
microphone's hands its block to the loop through a :class:`~.buffers.Handover`. There each
microphone block is paired with the speaker block written at the same time (the echo
canceller's reference: what was actually played), then goes through the canceller, the
recorder, the level meter and, unless muted, into :class:`~.buffers.MicSource` (48 kHz mono,
what the call sends). The call writes the assistant's decoded frames to
:attr:`DeviceAudio.sink`, which downmixes, resamples and queues them for playout.

A stream that stops on its own (device unplugged, sound server gone) is noticed by the
finished callback or a watchdog: :attr:`DeviceAudio.error` is set to a
:class:`~.errors.DeviceLost`, ``on_problem`` listeners are told once, and the call goes on
without devices (the track sends silence, the sink discards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..rtc.tracks import RATE, AudioSink, Pcm, PcmSource, Resampler, to_mono
from ..settings import Settings
from . import backend
from .aec import EchoCanceller, make_canceller
from .buffers import Handover, MicSource, PlayoutBuffer
from .devices import ROLE, SETTING, Device, Kind, find_device
from .errors import AudioError, DeviceLost
from .meter import LevelMeter
from .recorder import Recorder

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

#: Seconds without a callback (once running) before the device counts as gone. An ALSA xrun
#: through PulseAudio's plugin stalls a stream for ≈ 2 s before it recovers by itself.
STALL_SECONDS = 5.0
#: Suggested PortAudio latencies (s). Measured through PulseAudio on 2 cores under load 7:
#: "low" or 30 ms output underran every few seconds, and each xrun stalls the stream ≈ 2 s;
#: 50 ms (PortAudio reports 80 ms with 20 ms blocks) did not in 12 s runs.
INPUT_LATENCY, OUTPUT_LATENCY = 0.02, 0.05
#: Seconds a freshly started stream may take to deliver its first block.
START_SECONDS = 8.0

#: Speaker blocks waiting to be paired with microphone blocks beyond which the pairing is reset.
MAX_REFERENCE_BACKLOG = 4


class SpeakerSink:
    """The call's :class:`~vivavoce.rtc.tracks.AudioSink`: remote frames → playout buffer."""

    def __init__(self, audio: DeviceAudio) -> None:
        self._audio = audio
        self.frames = 0

    def write(self, frame: av.AudioFrame) -> None:
        self.frames += 1
        self._audio._queue_playout(to_mono(frame), frame.sample_rate or RATE, bounded=True)

    def close(self) -> None:
        """The call is done with it; the devices stay open until :meth:`DeviceAudio.close`."""


class DeviceAudio:
    """Implements :class:`vivavoce.conversation.AudioIO` with real devices (see module doc)."""

    def __init__(
        self,
        *,
        input_device: Device,
        output_device: Device,
        rate: int,
        in_channels: int,
        out_channels: int,
        canceller: EchoCanceller | None,
        on_level: Callable[[float], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.input_device, self.output_device = input_device, output_device
        self.rate, self.block = rate, rate // 50
        self.in_channels, self.out_channels = in_channels, out_channels
        self.canceller = canceller
        self.mic = MicSource()
        self.speaker = SpeakerSink(self)
        # Typed as the AudioIO protocol's (mutable protocol attributes are invariant).
        self.source: PcmSource = self.mic
        self.sink: AudioSink = self.speaker
        self.muted = False
        # In 20 ms blocks: target 20–100 ms, hard cap 300 ms, excess checked every 0.5 s.
        self.playout = PlayoutBuffer(
            self.block, max_target=5, cap=15, shrink_after=25, relax_after=500
        )
        self.recorder: Recorder | None = None
        #: Set when the devices failed during the call (the call goes on without them).
        self.error: AudioError | None = None
        #: Called once on the loop with the error when the devices fail mid-call.
        self.on_problem: list[Callable[[Exception], None]] = []
        #: Told the total of microphone blocks dropped so far (the loop fell behind), on the loop.
        self.on_dropped: list[Callable[[int], None]] = []
        self._loop = loop
        self._meter = LevelMeter(on_level)
        self._handover: Handover[Pcm] = Handover(
            loop, self._on_block, maxlen=50, on_drop=self._on_dropped
        )
        # What the output callback actually wrote (None = silence), oldest first: the echo
        # canceller's reference, paired on the loop with the microphone block of the same time.
        self._references: deque[Pcm | None] = deque()
        self.reference_resyncs = 0
        self._to_48k = Resampler(rate, RATE)
        self._from: dict[int, Resampler] = {}
        self._streams: list[Any] = []
        self._out_callbacks = 0
        self._started_at = 0.0
        self._last_callback = 0.0
        self._callbacks = 0
        self._status_flags = 0
        self._overflows = 0
        self._underflows = 0
        self._finished = threading.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._failure_task: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------------ AudioIO

    def play(self, samples: Any, rate: int) -> None:
        """Queue speech (int16 mono, or float in [-1, 1]) on the speaker, unbounded."""
        pcm = np.asarray(samples)
        if pcm.dtype != np.int16:
            pcm = np.clip(pcm.astype(np.float64) * 32767.0, -32768, 32767).astype(np.int16)
        if pcm.ndim > 1:
            pcm = pcm.reshape(pcm.shape[0], -1).mean(axis=1).astype(np.int16)
        self._queue_playout(pcm, rate, bounded=False)

    def flush(self) -> float:
        """Drop queued playback now (interruption); the seconds dropped."""
        return self.playout.flush() / self.rate

    async def close(self) -> None:
        """Stop and close the stream, finish the recording (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._failure_task is not None:
            with contextlib.suppress(Exception):
                await self._failure_task
        await backend.run_blocking(self._close_stream)
        await self.stop_recording()
        self.playout.flush()

    # ------------------------------------------------------------------ extras

    @property
    def lost(self) -> bool:
        return isinstance(self.error, DeviceLost)

    def stats(self) -> dict[str, Any]:
        """Counters for logs, benchmarks and status (all since open)."""
        p = self.playout
        return {
            "rate": self.rate,
            "callbacks": self._callbacks,
            "outputCallbacks": self._out_callbacks,
            "referenceResyncs": self.reference_resyncs,
            "handoverDropped": self._handover.dropped,
            "playoutUnderruns": p.underruns,
            "playoutTrimmed": p.trimmed,
            "playoutTarget": p.target,
            "playoutMeanDepthMs": round(20.0 * p.depth_sum / p.played, 1) if p.played else 0.0,
            "micTrimmedMs": round(1000 * self.mic.trimmed_samples / RATE, 1),
            "echoCancellation": self.canceller is not None,
            "statusFlags": self._status_flags,
            "inputOverflows": self._overflows,
            "outputUnderflows": self._underflows,
            "streamLatency": [getattr(st, "latency", None) for st in self._streams],
            "error": str(self.error) if self.error else None,
        }

    def start_recording(self, path: str | Path) -> Recorder:
        """Record both sides from now on (stereo WAV: left user, right assistant)."""
        if self.recorder is None:
            self.recorder = Recorder(path, self.rate)
        return self.recorder

    async def stop_recording(self) -> Path | None:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        await rec.aclose()
        return rec.path

    # ------------------------------------------------------------------ loop side

    def _queue_playout(self, mono: Pcm, rate: int, *, bounded: bool) -> None:
        if self.error is not None or self._closed:
            return
        if rate != self.rate:
            mono = self._from.setdefault(rate, Resampler(rate, self.rate))(mono)
        self.playout.push(mono, bounded=bounded)

    def _reference(self) -> Pcm | None:
        """The speaker block written at the time of the microphone block being processed."""
        refs = self._references
        # Microphone blocks captured after this one and still waiting (the loop was stalled):
        # their references are in the queue too, and must stay for them.
        waiting = self._handover.pending
        if len(refs) > waiting + MAX_REFERENCE_BACKLOG:
            # The streams drifted apart (a start, microphone blocks dropped): keep the newest
            # ones, so that the reference never lags behind the echo it explains.
            self.reference_resyncs += 1
            while len(refs) > waiting + 1:
                refs.popleft()
        try:
            return refs.popleft()
        except IndexError:
            return None

    def _on_block(self, mic: Pcm) -> None:
        played = self._reference()
        if played is not None and played.size != mic.size:
            played = None
        if self.canceller is not None:
            mic = self.canceller.process(
                mic, played if played is not None else np.zeros(mic.size, np.int16)
            )
        if self.recorder is not None:
            self.recorder.write(mic, played)
        self._meter.add(mic)
        if not self.muted:
            self.source.feed(self._to_48k(mic))

    def _on_dropped(self, total: int) -> None:
        for listener in self.on_dropped:
            listener(total)

    def _fail(self, error: AudioError) -> None:
        if self.error is not None or self._closed:
            return
        self.error = error
        log.warning("vivavoce: %s", error)
        self.source.clear()
        self.playout.flush()
        for listener in self.on_problem:
            listener(error)
        self._failure_task = self._loop.create_task(
            self._close_after_failure(), name="vivavoce audio close"
        )

    async def _close_after_failure(self) -> None:
        await backend.run_blocking(self._close_stream)

    async def _watch(self) -> None:
        while not self._closed and self.error is None:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if self._finished.is_set():
                self._fail(DeviceLost("microphone/speaker streams"))
            elif self._callbacks == 0 and now - self._started_at > START_SECONDS:
                self._fail(DeviceLost("microphone/speaker streams (they never started)"))
            elif self._callbacks and now - self._last_callback > STALL_SECONDS:
                self._fail(DeviceLost("microphone/speaker streams"))

    # ------------------------------------------------------------------ PortAudio thread

    def _input_callback(self, indata: Any, frames: int, _time: Any, status: Any) -> None:
        self._last_callback = time.monotonic()
        self._callbacks += 1
        if status:
            self._status_flags += 1
            if status.input_overflow:
                self._overflows += 1
        mic = indata[:, 0].copy() if self.in_channels == 1 else _downmix(indata)
        self._handover.put(mic)

    def _output_callback(self, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        self._out_callbacks += 1
        if status:
            self._status_flags += 1
            if status.output_underflow:
                self._underflows += 1
        played = self.playout.pull()
        if played is None or played.size != frames:
            outdata.fill(0)
            played = None
        else:
            outdata[:] = played[:, None]
        self._references.append(played)

    def _on_finished(self) -> None:
        self._finished.set()

    # ------------------------------------------------------------------ blocking (executor)

    def _open_stream(self) -> None:
        sd = backend.sounddevice()
        with backend.LOCK:
            backend.stream_opened()
            try:
                common = {"samplerate": self.rate, "blocksize": self.block, "dtype": "int16"}
                self._streams.append(
                    sd.OutputStream(
                        device=self.output_device.index,
                        channels=self.out_channels,
                        latency=OUTPUT_LATENCY,
                        callback=self._output_callback,
                        finished_callback=self._on_finished,
                        **common,
                    )
                )
                self._streams.append(
                    sd.InputStream(
                        device=self.input_device.index,
                        channels=self.in_channels,
                        latency=INPUT_LATENCY,
                        callback=self._input_callback,
                        finished_callback=self._on_finished,
                        **common,
                    )
                )
                self._started_at = time.monotonic()
                for stream in self._streams:
                    stream.start()
            except BaseException:
                self._close_stream()
                raise

    def _close_stream(self) -> None:
        with backend.LOCK:
            streams, self._streams = self._streams, []
            if streams:
                backend.close_streams(*streams)

    @classmethod
    def _configure(cls, settings: Settings) -> dict[str, Any]:
        """Pick devices, rate and channels (blocking: rescans PortAudio)."""
        sd = backend.sounddevice()
        with backend.LOCK:
            backend.rescan()
            inp = find_device(settings.input_device, "input", rescan=False)
            out = find_device(settings.output_device, "output", rescan=False)
            rate, in_ch, out_ch = RATE, 1, 1
            for candidate in (RATE, int(out.default_samplerate), int(inp.default_samplerate)):
                try:
                    in_ch = _channels(sd.check_input_settings, inp.index, candidate)
                    out_ch = _channels(sd.check_output_settings, out.index, candidate)
                except Exception as exc:
                    log.debug("audio: %d Hz refused (%s)", candidate, exc)
                    continue
                rate = candidate
                break
            return {
                "input_device": inp,
                "output_device": out,
                "rate": rate,
                "in_channels": in_ch,
                "out_channels": out_ch,
            }


def _channels(check: Callable[..., None], device: int, rate: int) -> int:
    """Mono when the device takes it (half the data through PortAudio and the sound server),
    else stereo (some hardware only opens in pairs); raises when neither works at ``rate``."""
    try:
        check(device, channels=1, samplerate=rate)
        return 1
    except Exception:
        check(device, channels=2, samplerate=rate)
        return 2


def _downmix(block: Any) -> Pcm:
    out: Pcm = block.mean(axis=1).astype(np.int16)
    return out


def _name_for(settings: Settings, kind: Kind) -> str:
    value = settings.input_device if kind == "input" else settings.output_device
    return value or f"default {ROLE[kind]}"


async def open_audio(settings: Settings, on_level: Callable[[float], None]) -> DeviceAudio:
    """The :data:`vivavoce.conversation.AudioFactory`: open the configured devices for a call.

    Raises an :class:`~.errors.AudioError` (one line with the fix) when they cannot be used.
    Records nothing until :meth:`DeviceAudio.start_recording` (the conversation names the file).
    """
    loop = asyncio.get_running_loop()
    try:
        config = await backend.run_blocking(DeviceAudio._configure, settings)
    except AudioError:
        raise
    except Exception as exc:
        raise backend.translate(
            exc, "microphone", _name_for(settings, "input"), SETTING["input"]
        ) from exc
    canceller = make_canceller(settings.echo_cancellation, config["rate"])
    audio = DeviceAudio(canceller=canceller, on_level=on_level, loop=loop, **config)
    try:
        await backend.run_blocking(audio._open_stream)
    except AudioError:
        raise
    except Exception as exc:
        name = f"{config['input_device'].name} / {config['output_device'].name}"
        raise backend.translate(
            exc, "microphone/speaker", name, "inputDevice/outputDevice"
        ) from exc
    audio._watchdog = loop.create_task(audio._watch(), name="vivavoce audio watchdog")
    log.info(
        "audio: %s → call → %s at %d Hz, echo cancellation %s",
        config["input_device"].name,
        config["output_device"].name,
        config["rate"],
        "on" if canceller else "off",
    )
    return audio
