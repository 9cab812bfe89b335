"""The microphone alone, while the wake word is listened for: :class:`Microphone` and
:func:`open_microphone`, the :data:`vivavoce.conversation.MicrophoneFactory`.

Waiting for the wake word may last all day, so it costs as little as a microphone can: one
input stream (no speaker, no echo canceller) at 16 kHz mono, the spotter's rate (the device's
own rate, resampled on the loop, only when it refuses 16 kHz), in 100 ms blocks with PortAudio's
"high" latency. The callback (a PortAudio thread) only copies the block into a bounded deque with
its capture time; nothing wakes the loop: the wake word takes what was captured every 100 ms
(:meth:`Microphone.take`), and the level meter runs there. Measured through PulseAudio (see
``make bench`` group ``wakeword``): the stream costs ≈ 0.4 % of a core against ≈ 2–3 % for the
call's two 48 kHz streams in 20 ms blocks, before their echo canceller and per-block hand-over.

When the call opens, its devices open while this microphone still captures; the wake word
then finds where the call's microphone began in what this one heard (see
:func:`vivavoce.conversation.wake.hand_over`), so the words said meanwhile are sent once.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..rtc.tracks import Pcm, Resampler
from ..settings import Settings
from . import backend
from .devices import SETTING, Device, find_device
from .errors import AudioError, DeviceLost
from .io import STALL_SECONDS, START_SECONDS, _channels, _downmix, _name_for
from .meter import LevelMeter

log = logging.getLogger(__name__)

#: The rate the wake word's spotter listens at (pocketsphinx's English model).
RATE = 16000
#: Seconds per block: ten callbacks a second.
BLOCK_SECONDS = 0.1
#: What a lost microphone means while waiting.
UNHEARD = "the wake word is not listened for: reconnect the device and start again"
#: Blocks kept for the loop to take (s × 10): the loop may stall this long without a loss.
MAX_BLOCKS = 100


class Microphone:
    """The input stream while listening for the wake word (see module doc)."""

    def __init__(
        self, device: Device, rate: int, channels: int, on_level: Callable[[float], None]
    ) -> None:
        self.device, self.device_rate, self.channels = device, rate, channels
        self._error: AudioError | None = None  # the stream stopped on its own
        self._blocks: deque[Pcm] = deque(maxlen=MAX_BLOCKS)
        self._meter = LevelMeter(on_level, rate_hz=1.0)
        self._to_16k = Resampler(rate, RATE)
        self._stream: Any = None
        self._closed = False
        self._opened_at = self._last_callback = 0.0
        #: Blocks captured (all since open).
        self.callbacks = 0

    @property
    def error(self) -> AudioError | None:
        """Set when the stream stopped on its own, never started or stalled (as the call's
        devices judge theirs: :data:`~.io.START_SECONDS`, :data:`~.io.STALL_SECONDS`)."""
        if self._error is None and self._stream is not None and not self._closed:
            now = time.monotonic()
            if self.callbacks == 0 and now - self._opened_at > START_SECONDS:
                self._error = DeviceLost("microphone stream (it never started)", UNHEARD)
            elif self.callbacks and now - self._last_callback > STALL_SECONDS:
                self._error = DeviceLost("microphone stream", UNHEARD)
        return self._error

    @property
    def rate(self) -> int:
        """The rate :meth:`take` delivers (16 kHz, whatever the device's)."""
        return RATE

    def take(self) -> Pcm | None:
        """What was captured since the last call (16 kHz), or None. On the loop; also after
        :meth:`close` (the last blocks)."""
        blocks = []
        while self._blocks:
            blocks.append(self._blocks.popleft())
        if not blocks:
            return None
        pcm = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        self._meter.add(pcm)
        out: Pcm = self._to_16k(pcm)
        return out

    async def close(self) -> None:
        """Stop the stream (idempotent); what it captured can still be taken."""
        if self._closed:
            return
        self._closed = True
        await backend.run_blocking(self._close_stream)

    # ------------------------------------------------------------------ PortAudio thread

    def _callback(self, indata: Any, frames: int, _time: Any, status: Any) -> None:
        self.callbacks += 1
        self._last_callback = time.monotonic()
        self._blocks.append(indata[:, 0].copy() if self.channels == 1 else _downmix(indata))

    def _on_finished(self) -> None:
        if not self._closed and self._error is None:
            self._error = DeviceLost("microphone stream", UNHEARD)

    # ------------------------------------------------------------------ blocking (executor)

    def _open_stream(self) -> None:
        sd = backend.sounddevice()
        with backend.LOCK:
            backend.stream_opened()
            try:
                self._stream = sd.InputStream(
                    device=self.device.index,
                    samplerate=self.device_rate,
                    blocksize=int(self.device_rate * BLOCK_SECONDS),
                    channels=self.channels,
                    dtype="int16",
                    latency="high",
                    callback=self._callback,
                    finished_callback=self._on_finished,
                )
                self._opened_at = time.monotonic()
                self._stream.start()
            except BaseException:
                self._close_stream()
                raise

    def _close_stream(self) -> None:
        with backend.LOCK:
            stream, self._stream = self._stream, None
            if stream is not None:
                backend.close_streams(stream)

    @staticmethod
    def _configure(settings: Settings) -> tuple[Device, int, int]:
        """The input device, and the rate and channels it takes (blocking: rescans)."""
        sd = backend.sounddevice()
        with backend.LOCK:
            backend.rescan()
            device = find_device(settings.input_device, "input", rescan=False)
            for rate in (RATE, int(device.default_samplerate)):
                try:
                    return device, rate, _channels(sd.check_input_settings, device.index, rate)
                except Exception as exc:
                    log.debug("audio: the microphone refuses %d Hz (%s)", rate, exc)
            raise AudioError(
                f"the microphone {device.name!r} opens at neither {RATE} Hz nor its own rate: "
                f"choose another device with {SETTING['input']}"
            )


async def open_microphone(settings: Settings, on_level: Callable[[float], None]) -> Microphone:
    """The :data:`vivavoce.conversation.MicrophoneFactory`: the configured microphone alone, for
    the wake word. Raises an :class:`~.errors.AudioError` (one line) when it cannot be used."""
    name = _name_for(settings, "input")
    try:
        device, rate, channels = await backend.run_blocking(Microphone._configure, settings)
        mic = Microphone(device, rate, channels, on_level)
        await backend.run_blocking(mic._open_stream)
    except AudioError:
        raise
    except Exception as exc:
        raise backend.translate(exc, "microphone", name, SETTING["input"]) from exc
    log.info("audio: %s at %d Hz, alone (listening for the wake word)", device.name, rate)
    return mic


__all__ = ["RATE", "Microphone", "open_microphone"]
