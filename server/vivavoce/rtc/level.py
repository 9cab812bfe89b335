"""The RFC 6465 audio level of outgoing frames, computed with numpy instead of a Python loop.

aiortc's ``RTCRtpSender`` computes every outgoing audio frame's level (the RTP header
extension ``ssrc-audio-level``) with ``aiortc.rtp.compute_audio_level_dbov``, which unpacks and
squares the samples one by one in Python: 178 µs per 20 ms frame here, 0.9 % of a core for one
call's microphone, more than any code of ours on the audio path. :func:`audio_level_dbov`
gives the same integer (the same bytes, the same formula; the sum of squares is exact in both)
in about 9 µs; :func:`install` makes aiortc use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_SAMPLE_VALUE = 32767
MIN_AUDIO_LEVEL = -127


def audio_level_dbov(frame: Any) -> int:
    """The level of an s16 ``av.AudioFrame`` in −dBov as RFC 6465 Appendix A (0 … −127)."""
    samples = np.frombuffer(frame.planes[0], dtype=np.int16).astype(np.int64)
    energy = int(np.dot(samples, samples))
    rms = math.sqrt(energy / (frame.samples * MAX_SAMPLE_VALUE * MAX_SAMPLE_VALUE))
    if rms <= 0:
        return MIN_AUDIO_LEVEL
    return round(min(max(20 * math.log10(rms), MIN_AUDIO_LEVEL), 0))


#: aiortc's own function, once :func:`install` replaced it (the tests compare the two).
replaced: Callable[[Any], int] | None = None


def install() -> None:
    """Make aiortc's senders use :func:`audio_level_dbov` (idempotent)."""
    global replaced
    if replaced is not None:
        return
    import aiortc.rtp

    replaced = aiortc.rtp.compute_audio_level_dbov
    setattr(aiortc.rtp, "compute_audio_level_dbov", audio_level_dbov)  # noqa: B010 - no hook
