"""Whole-buffer audio conversions (in the HTTP routes, run them in a thread: they are CPU work).

* :func:`trim_leading_silence` — a synthesizer's padding off the start of a reply.

* :func:`resample` — int16 mono from one rate to another, tail included (libswresample).
* :func:`decode_audio` — any file av can read (wav, mp3, ogg/opus, webm, flac, m4a …) → 16 kHz
  mono int16, for recognition.
"""

from __future__ import annotations

import fractions
import io
from typing import Any

import numpy as np

from ..rtc.tracks import Pcm


class AudioDecodeError(ValueError):
    """The uploaded file is not audio av can decode."""


#: Quieter than this (−50 dBFS) is silence before speech.
SILENT_PEAK = 100


def trim_leading_silence(pcm: Pcm, rate: int = 16000, keep_ms: int = 20) -> Pcm:
    """``pcm`` from ``keep_ms`` before its first sound (empty when all of it is silent).

    Synthesizers pad the start of an utterance (flite ≈ 170–220 ms); at the start of a reply
    that padding is only delay before the user hears anything.
    """
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > SILENT_PEAK)
    if loud.size == 0:
        return pcm[:0]
    return pcm[max(0, int(loud[0]) - rate * keep_ms // 1000) :]


def resample(pcm: Pcm, src_rate: int, dst_rate: int) -> Pcm:
    """``pcm`` (int16 mono) at ``dst_rate``, flushed so no tail is lost."""
    if src_rate == dst_rate or pcm.size == 0:
        return pcm
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = src_rate
    frame.pts = 0
    frame.time_base = fractions.Fraction(1, src_rate)
    frames = resampler.resample(frame) + resampler.resample(None)
    out = [f.to_ndarray().reshape(-1) for f in frames]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def _samples(frame: Any) -> Pcm:
    return np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)


def decode_audio(data: bytes, rate: int = 16000) -> Pcm:
    """Decode an audio file held in memory to int16 mono at ``rate``."""
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise AudioDecodeError(f"could not read the audio file: {exc}") from exc
    try:
        if not container.streams.audio:
            raise AudioDecodeError("the file has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        out: list[Pcm] = []
        try:
            for frame in container.decode(audio=0):
                out.extend(_samples(f) for f in resampler.resample(frame))
            out.extend(_samples(f) for f in resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(f"could not decode the audio file: {exc}") from exc
    finally:
        container.close()
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)
