"""Audio tracks and sinks for calls.

* :class:`PcmSourceTrack`: an outgoing aiortc audio track fed with PCM (a WAV file, speech
  synthesis, a microphone, echoed audio). It is paced in real time and sends silence when
  nothing is queued, so the far end always hears a continuous stream (a source fed on
  another clock, the microphone, has its late frames waited for first: ``late_grace``).
* Sinks receive every remote frame as it is decoded: :class:`NullSink`, :class:`MemorySink`
  (tests, meters), :class:`WavSink` (a file).
* :func:`to_mono` / :class:`Resampler` downmix and resample decoded frames (aiortc decodes
  Opus to 48 kHz stereo) for meters, VAD and recognition.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import io
import math
import time
import wave
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import av

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz, aiortc's audio packet size
Pcm = npt.NDArray[np.int16]
TIME_BASE = fractions.Fraction(1, RATE)


class _DigitalSilence:
    """The ``opaque`` of a frame made as digital silence (all samples zero): the encoder,
    the downmix and the resampler then need not look at its samples. Content checks remain the
    rule; this mark only saves them for frames known to be silent where they were made."""

    def __repr__(self) -> str:
        return "DIGITAL_SILENCE"


DIGITAL_SILENCE = _DigitalSilence()


def silent_frame(samples: int, layout: str, sample_rate: int = RATE) -> av.AudioFrame:
    """A packed s16 frame of ``samples`` zeros per channel, marked :data:`DIGITAL_SILENCE`."""
    import av

    frame = av.AudioFrame(format="s16", layout=layout, samples=samples)
    plane = frame.planes[0]
    plane.update(bytes(plane.buffer_size))
    frame.sample_rate = sample_rate
    frame.opaque = DIGITAL_SILENCE
    return frame


def _media_stream_track_base() -> type[Any]:
    from aiortc.mediastreams import MediaStreamTrack

    base: type[Any] = MediaStreamTrack
    return base


def to_mono(frame: av.AudioFrame) -> Pcm:
    """Samples of a decoded frame as int16 mono (channels averaged, rounding down).

    aiortc's Opus decoder gives packed s16 stereo: that case reads the plane in place and
    averages in integers, 13 µs per 20 ms frame instead of 75 µs through float (it runs for
    every frame the speaker plays and the peer hears).
    """
    if frame.opaque is DIGITAL_SILENCE:
        return np.zeros(frame.samples, np.int16)
    channels = frame.layout.nb_channels
    if frame.format.name == "s16":
        pcm: Pcm = np.frombuffer(memoryview(frame.planes[0]), dtype=np.int16)
        pcm = pcm[: frame.samples * channels]
        if channels == 1:
            return pcm.copy()
        if channels == 2:
            total = pcm[0::2].astype(np.int32) + pcm[1::2]
            stereo: Pcm = (total >> 1).astype(np.int16)
            return stereo
    data = frame.to_ndarray()
    if frame.format.is_planar:
        samples = data.reshape(channels, -1).astype(np.float64).mean(axis=0)
    else:
        samples = data.reshape(-1, channels).astype(np.float64).mean(axis=1)
    if data.dtype != np.int16:  # float formats
        samples = samples * 32767.0
    out: Pcm = np.floor(np.clip(samples, -32768, 32767)).astype(np.int16)
    return out


def rms_dbfs(samples: Pcm) -> float:
    """Loudness of int16 samples in dB full scale (−120 for silence)."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return max(-120.0, 20 * math.log10(max(rms, 1e-9) / 32768.0))


class Resampler:
    """Streaming int16 mono resampler (libswresample through av); keeps state between chunks.

    Digital silence is answered without libswresample once it is settled: after
    ``SETTLED_CHUNKS`` all-zero chunks in a row each gave exactly their share of all-zero
    output, the filter holds only zeros and its phase repeats, so further zero chunks would give
    zeros of that same length (bit-exact, ``tests/unit/test_opus_silence.py``). A call is
    mostly silence: the peer resamples each 20 ms frame it hears.
    """

    SETTLED_CHUNKS = 2

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        import av

        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
        self._pts = 0
        self._silent_run = 0  # zero chunks in a row that resampled to exact-length zeros
        self._silent_size = 0  # their input size
        self.skipped = 0
        from .shortcuts import enabled

        self._shortcut = enabled()

    def __call__(self, samples: Pcm) -> Pcm:
        if self.src_rate == self.dst_rate:
            return samples
        zero = self._shortcut and not samples.any()
        if zero and self._silent_run >= self.SETTLED_CHUNKS and samples.size == self._silent_size:
            self.skipped += 1
            return np.zeros(samples.size * self.dst_rate // self.src_rate, np.int16)
        out = self._resample(samples)
        share = samples.size * self.dst_rate
        if (
            zero
            and share % self.src_rate == 0
            and out.size * self.src_rate == share
            and not out.any()
        ):
            if samples.size == self._silent_size:
                self._silent_run += 1
            else:
                self._silent_size, self._silent_run = samples.size, 1
        else:
            self._silent_run = 0
        return out

    def _resample(self, samples: Pcm) -> Pcm:
        import av

        pcm = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.src_rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.src_rate)
        self._pts += samples.size
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def read_wav(path: str | Path) -> tuple[Pcm, int]:
    """A WAV file's samples as int16 mono and its sample rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        data = data.reshape(-1, channels).astype(np.int32).mean(axis=1).astype(np.int16)
    return data, rate


def wav_bytes(samples: Pcm, rate: int) -> bytes:
    """A 16-bit mono WAV file holding ``samples``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
    return buf.getvalue()


def write_wav(path: str | Path, samples: Pcm, rate: int) -> None:
    Path(path).write_bytes(wav_bytes(samples, rate))


class PcmSource:
    """The queue behind :class:`PcmSourceTrack`: 48 kHz mono int16 cut into 20 ms frames."""

    #: Seconds the track waits for a frame that is late before it sends silence instead
    #: (0: it never waits). A source fed in real time by another clock sets it (a microphone).
    late_grace = 0.0

    def __init__(self) -> None:
        self._chunks: deque[Pcm] = deque()
        self._queued = 0
        self._resamplers: dict[int, Resampler] = {}
        self.drained = asyncio.Event()
        self.drained.set()
        self._fed = asyncio.Event()

    async def fed(self) -> None:
        """Return once more audio is fed."""
        self._fed.clear()
        await self._fed.wait()

    @property
    def queued_seconds(self) -> float:
        return self._queued / RATE

    def feed(self, samples: Pcm | bytes, rate: int = RATE) -> None:
        """Queue audio (int16 mono); it is resampled to 48 kHz when needed."""
        pcm = np.frombuffer(samples, dtype=np.int16) if isinstance(samples, bytes) else samples
        if rate != RATE:
            pcm = self._resamplers.setdefault(rate, Resampler(rate, RATE))(pcm)
        if pcm.size:
            self._chunks.append(pcm)
            self._queued += pcm.size
            self.drained.clear()
            self._fed.set()

    def clear(self) -> float:
        """Drop everything queued (barge-in); returns the seconds dropped."""
        dropped = self._queued / RATE
        self._chunks.clear()
        self._queued = 0
        self.drained.set()
        return dropped

    def take_all(self) -> Pcm | None:
        """Everything queued, or None when nothing is."""
        return self.take(self._queued) if self._queued else None

    def take(self, n: int = FRAME_SAMPLES) -> Pcm | None:
        """The next ``n`` samples (zero-padded), or None when nothing is queued."""
        if not self._chunks:
            return None
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and self._chunks:
            chunk = self._chunks[0]
            k = min(n - filled, chunk.size)
            out[filled : filled + k] = chunk[:k]
            filled += k
            if k == chunk.size:
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[k:]
        self._queued -= filled
        if not self._chunks:
            self.drained.set()
        return out


def PcmSourceTrack(source: PcmSource | None = None) -> Any:
    """An aiortc audio track playing ``source`` in real time (silence when it is empty).

    Built lazily so that importing this module does not import aiortc.
    """
    return _track_class()(source or PcmSource())


_TRACK_CLASS: type[Any] | None = None


def _track_class() -> type[Any]:
    global _TRACK_CLASS
    if _TRACK_CLASS is not None:
        return _TRACK_CLASS
    import av

    base = _media_stream_track_base()

    class _PcmSourceTrack(base):  # type: ignore[misc,valid-type]
        kind = "audio"

        def __init__(self, source: PcmSource) -> None:
            super().__init__()
            self.source = source
            self._start: float | None = None
            self._pts = 0
            self.frames_sent = 0
            self.audible_frames_sent = 0

        async def recv(self) -> av.AudioFrame:
            if self.readyState != "live":
                from aiortc.mediastreams import MediaStreamError

                raise MediaStreamError
            if self._start is None:
                self._start = time.monotonic()
            else:
                self._pts += FRAME_SAMPLES
                wait = self._start + self._pts / RATE - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            samples = self.source.take()
            # A late frame (the microphone's blocks come in bursts on a loaded machine) is
            # waited for: sent late, it is jitter the far end absorbs; silence in its place was
            # a gap in a word (measured: 60–80 ms gaps, "new line" heard as "new ally and").
            due = self._start + self._pts / RATE + self.source.late_grace
            while samples is None and (left := due - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.source.fed(), left)
                samples = self.source.take()
            if samples is None:
                frame = silent_frame(FRAME_SAMPLES, "mono")
            else:
                self.audible_frames_sent += 1
                frame = av.AudioFrame(format="s16", layout="mono", samples=samples.size)
                frame.planes[0].update(samples.tobytes())
                frame.sample_rate = RATE
            frame.pts = self._pts
            frame.time_base = TIME_BASE
            self.frames_sent += 1
            return frame

    _TRACK_CLASS = _PcmSourceTrack
    return _TRACK_CLASS


class AudioSink(Protocol):
    """Receives every decoded remote frame, in order, on the event loop. Must not block."""

    def write(self, frame: av.AudioFrame) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """Drains and forgets (the remote track must be read continuously, or delay grows)."""

    def write(self, frame: av.AudioFrame) -> None:
        pass

    def close(self) -> None:
        pass


class MemorySink:
    """Keeps mono 48 kHz samples and notes when audible audio first arrived."""

    def __init__(self, audible_dbfs: float = -50.0) -> None:
        self.chunks: list[Pcm] = []
        self.frames = 0
        self.audible_frames = 0
        self.first_audible_at: float | None = None
        self._audible_dbfs = audible_dbfs

    def write(self, frame: av.AudioFrame) -> None:
        mono = to_mono(frame)
        self.chunks.append(mono)
        self.frames += 1
        if rms_dbfs(mono) > self._audible_dbfs:
            self.audible_frames += 1
            if self.first_audible_at is None:
                self.first_audible_at = time.monotonic()

    def samples(self) -> Pcm:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)

    def close(self) -> None:
        pass


class WavSink(MemorySink):
    """Writes what it received (48 kHz mono WAV) when closed; optionally only audible parts."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(self.path, self.samples(), RATE)
