"""Audio as Realtime events carry it over a WebSocket: base64 in ``input_audio_buffer.append``
and ``response.output_audio.delta``.

The session's ``audio.input.format`` / ``audio.output.format`` say the encoding: ``audio/pcm``
(16-bit little-endian mono at 24 kHz, the one rate the API takes), ``audio/pcmu`` (G.711
μ-law, 8 kHz) or ``audio/pcma`` (G.711 A-law, 8 kHz). G.711 goes through av's codecs.

* :class:`InputDecoder`: appended audio → the 16 kHz mono int16 the session hears (streaming:
  the resampler keeps its state between appends, and starts over when the format changes).
* :func:`output_deltas`: synthesized speech → base64 chunks of :data:`DELTA_MS` each.
"""

from __future__ import annotations

import base64
import binascii
import sys
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..rtc.tracks import Pcm

if TYPE_CHECKING:
    from av.audio.codeccontext import AudioCodecContext

    from ..rtc.tracks import Resampler

#: Sample rate of each format.
RATES = {"audio/pcm": 24000, "audio/pcmu": 8000, "audio/pcma": 8000}
_G711: dict[str, Literal["pcm_mulaw", "pcm_alaw"]] = {
    "audio/pcmu": "pcm_mulaw",
    "audio/pcma": "pcm_alaw",
}
#: Audio per ``response.output_audio.delta`` event.
DELTA_MS = 100
#: What the session hears (the recognizer's and the VAD's rate).
SESSION_RATE = 16000


class AudioPayloadError(ValueError):
    """Appended audio that cannot be decoded (one line, for an ``error`` event)."""


def _g711(fmt: str, direction: Literal["r", "w"]) -> AudioCodecContext:
    import av

    codec = av.CodecContext.create(_G711[fmt], direction)
    codec.sample_rate = 8000
    codec.layout = "mono"
    if direction == "w":
        codec.format = "s16"
    return codec


def decode_bytes(data: bytes, fmt: str) -> Pcm:
    """Raw audio in ``fmt`` → int16 mono at ``RATES[fmt]``."""
    if fmt == "audio/pcm":
        if len(data) % 2:
            raise AudioPayloadError(
                f"audio/pcm audio is 16-bit samples: {len(data)} bytes is not a whole number "
                "of samples."
            )
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        return pcm
    import av

    codec = _g711(fmt, "r")
    frames = codec.decode(av.Packet(data))
    out = [f.to_ndarray().reshape(-1) for f in frames]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def encode_pcm(pcm: Pcm, fmt: str) -> bytes:
    """int16 mono at ``RATES[fmt]`` → raw audio in ``fmt``."""
    if fmt == "audio/pcm":
        data = np.ascontiguousarray(pcm, dtype=np.int16)
        return (data.byteswap() if sys.byteorder == "big" else data).tobytes()
    import av

    codec = _g711(fmt, "w")
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 8000
    packets = codec.encode(frame) + codec.encode(None)
    return b"".join(bytes(p) for p in packets)


class InputDecoder:
    """Appended base64 audio → 16 kHz mono int16, for one session."""

    def __init__(self) -> None:
        self._fmt: str | None = None
        self._resampler: Resampler | None = None

    def __call__(self, audio: str, fmt: str) -> Pcm:
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise AudioPayloadError("The audio is not valid base64.") from None
        pcm = decode_bytes(data, fmt)
        if pcm.size == 0:
            return pcm
        from ..rtc.tracks import Resampler

        if self._fmt != fmt or self._resampler is None:
            self._fmt, self._resampler = fmt, Resampler(RATES[fmt], SESSION_RATE)
        return self._resampler(pcm)


def output_deltas(pcm: Pcm, rate: int, fmt: str) -> list[str]:
    """Speech (int16 mono at ``rate``) as the base64 deltas of ``fmt``, :data:`DELTA_MS` each."""
    from .audio import resample

    out_rate = RATES[fmt]
    converted = resample(pcm, rate, out_rate)
    step = out_rate * DELTA_MS // 1000
    return [
        base64.b64encode(encode_pcm(converted[i : i + step], fmt)).decode("ascii")
        for i in range(0, converted.size, step)
    ]
