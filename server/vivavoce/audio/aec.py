"""Echo cancellation: WebRTC AEC3 from the ``pywebrtc-audio`` wheel, chosen by a setting.

The canceller is fed whole 10 ms blocks at the device rate: the microphone block and the block
written to the speaker in the same duplex callback (the reference). It runs on the event loop
(the canceller is not thread-safe, and the callback only copies). ``auto`` uses it when the
package is installed; ``on`` requires it; ``off`` never uses it.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from ..rtc.tracks import Pcm
from .errors import EchoCancellerMissing

log = logging.getLogger(__name__)

EchoSetting = Literal["auto", "on", "off"]


class EchoCanceller:
    """AEC3 for mono int16 at ``rate``; ``process`` takes blocks that are multiples of 10 ms."""

    def __init__(self, rate: int, impl: Any) -> None:
        self.rate = rate
        self._impl = impl
        self.blocks = 0

    def process(self, mic: Pcm, reference: Pcm) -> Pcm:
        self.blocks += 1
        out: Pcm = self._impl.process(mic, reference)
        return out


def available() -> bool:
    try:
        import pywebrtc_audio  # noqa: F401
    except ImportError:
        return False
    return True


def make_canceller(mode: EchoSetting, rate: int) -> EchoCanceller | None:
    """The canceller a setting asks for, or None; EchoCancellerMissing when ``on`` can't be."""
    if mode == "off":
        return None
    try:
        import pywebrtc_audio
    except ImportError as exc:
        if mode == "on":
            raise EchoCancellerMissing from exc
        log.info("echo cancellation unavailable (pip install pywebrtc-audio); running without")
        return None
    return EchoCanceller(rate, pywebrtc_audio.EchoCanceller(sample_rate=rate, num_channels=1))
