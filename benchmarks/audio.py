"""Test signals and onset detection, identical for the baseline and the product.

Round trip: a :class:`BurstGenerator` produces 20 ms frames of silence with a sharp 1 kHz
burst every ``period`` seconds; the sending track calls :meth:`~BurstGenerator.next_frame` at
the moment it hands a frame to the encoder, which is the burst's send time. On the receiving
side :class:`ReceiveMeter` is written every decoded remote frame (as it is handed to the
application); :class:`OnsetDetector` finds the first sample above a threshold after at least
``min_quiet`` seconds below it, and its time is the frame's arrival time plus the sample's
offset in the frame. :func:`match_round_trips` pairs each onset with the latest burst sent
before it: round trip = onset time − send time.

Nothing here imports aiortc or vivavoce; frames are duck-typed ``av.AudioFrame``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms: aiortc's audio packet size
Pcm = npt.NDArray[np.int16]


def to_mono(frame: Any) -> Pcm:
    """A decoded frame's samples as int16 mono (channels averaged)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if channels == 1:
        return np.asarray(data, dtype=np.int16).reshape(-1)
    if frame.format.is_planar:
        mono = data.reshape(channels, -1).astype(np.int32).mean(axis=0)
    else:
        mono = data.reshape(-1, channels).astype(np.int32).mean(axis=1)
    out: Pcm = mono.astype(np.int16)
    return out


def _burst(freq: float = 1000.0, amplitude: int = 16000) -> Pcm:
    """20 ms of a cosine starting at its peak: a sharp, easy-to-locate onset."""
    t = np.arange(FRAME_SAMPLES) / RATE
    return (amplitude * np.cos(2 * np.pi * freq * t)).astype(np.int16)


@dataclass
class BurstGenerator:
    """Silence with ``count`` bursts, the first after ``lead_in`` s, then every ``period`` s."""

    count: int = 20
    period: float = 0.5
    lead_in: float = 1.0
    sent_at: list[float] = field(default_factory=list)
    _index: int = 0

    def __post_init__(self) -> None:
        self._lead_frames = round(self.lead_in * RATE / FRAME_SAMPLES)
        self._period_frames = round(self.period * RATE / FRAME_SAMPLES)
        self._burst = _burst()
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.finished = asyncio.Event()  # set when the last burst has been sent

    @property
    def duration(self) -> float:
        """Seconds from the first frame until the last burst is sent."""
        return self.lead_in + (self.count - 1) * self.period

    @property
    def done(self) -> bool:
        return len(self.sent_at) >= self.count

    def next_frame(self, now: float | None = None) -> Pcm:
        """The next 20 ms; call it when the frame is handed to the encoder."""
        i = self._index
        self._index += 1
        k = i - self._lead_frames
        if k >= 0 and k % self._period_frames == 0 and not self.done:
            self.sent_at.append(time.perf_counter() if now is None else now)
            if self.done:
                self.finished.set()
            return self._burst.copy()
        return self._silence.copy()


@dataclass
class ToneGenerator:
    """A continuous tone (default 440 Hz, −12 dBFS) for the duplex CPU/RSS benchmark."""

    freq: float = 440.0
    amplitude: int = 8000
    _n: int = 0

    def next_frame(self, now: float | None = None) -> Pcm:
        t = (np.arange(FRAME_SAMPLES) + self._n) / RATE
        self._n += FRAME_SAMPLES
        return (self.amplitude * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)


@dataclass
class OnsetDetector:
    """First sample with ``|x| >= threshold`` after ``min_quiet`` s of samples below it."""

    threshold: int = 3000
    min_quiet: float = 0.1
    onsets: list[float] = field(default_factory=list)
    _quiet: int = 0

    def feed(self, mono: Pcm, arrived_at: float) -> None:
        loud = np.flatnonzero(np.abs(mono.astype(np.int32)) >= self.threshold)
        if loud.size == 0:
            self._quiet += mono.size
            return
        if self._quiet + int(loud[0]) >= self.min_quiet * RATE:
            self.onsets.append(arrived_at + int(loud[0]) / RATE)
        self._quiet = mono.size - 1 - int(loud[-1])


@dataclass
class ReceiveMeter:
    """An audio sink (``write``/``close``) that timestamps onsets of every received frame.

    It also counts the holes in what it was given: a frame whose RTP time (``pts``) is later
    than the previous frame's end is a gap, audio that never reached the application (a packet
    lost or given up by the jitter buffer; neither aiortc nor vivavoce conceals it, so a player
    plays silence or nothing there).
    """

    detector: OnsetDetector = field(default_factory=OnsetDetector)
    frames: int = 0
    first_frame_at: float | None = None
    gaps: int = 0
    missing_s: float = 0.0
    audio_s: float = 0.0
    _next_pts: int | None = None

    def write(self, frame: Any) -> None:
        now = time.perf_counter()
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.frames += 1
        self._count_gap(frame)
        self.detector.feed(to_mono(frame), now)

    def _count_gap(self, frame: Any) -> None:
        rate = frame.sample_rate or RATE
        self.audio_s += frame.samples / rate
        if frame.pts is None:
            return
        if self._next_pts is not None and frame.pts > self._next_pts:
            self.gaps += 1
            self.missing_s += (frame.pts - self._next_pts) / rate
        self._next_pts = frame.pts + frame.samples

    def gap_stats(self) -> dict[str, float]:
        """Gaps and missing audio, and how much audio arrived (for the JSON result)."""
        return {
            "gaps": self.gaps,
            "missing_ms": round(self.missing_s * 1000.0, 1),
            "audio_s": round(self.audio_s, 3),
        }

    def close(self) -> None:
        pass


def match_round_trips(sent: list[float], onsets: list[float], period: float) -> list[float]:
    """Round trips in ms: each onset against the latest burst sent before it (first onset only).

    Onsets more than one ``period`` after their burst are ignored (no echo is that late).
    """
    out: list[float] = []
    used: set[int] = set()
    for t in onsets:
        idx = max((i for i, s in enumerate(sent) if s <= t), default=None)
        if idx is None or idx in used or t - sent[idx] >= period:
            continue
        used.add(idx)
        out.append((t - sent[idx]) * 1000.0)
    return out
