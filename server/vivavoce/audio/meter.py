"""The input level meter: dBFS of the microphone, reported at most ``rate_hz`` times a second."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from ..rtc.tracks import Pcm


class LevelMeter:
    """Accumulates energy of blocks and calls ``on_level(dbfs)`` every ``1/rate_hz`` s."""

    def __init__(self, on_level: Callable[[float], None], rate_hz: float = 10.0) -> None:
        self._on_level = on_level
        self._period = 1.0 / rate_hz
        self._energy = 0.0
        self._count = 0
        self._next = time.monotonic() + self._period
        self.last = -120.0

    def add(self, samples: Pcm) -> None:
        if samples.size:
            x = samples.astype(np.float64)
            self._energy += float(np.dot(x, x))
            self._count += samples.size
        now = time.monotonic()
        if now >= self._next and self._count:
            rms = math.sqrt(self._energy / self._count)
            self.last = max(-120.0, 20 * math.log10(max(rms, 1e-9) / 32768.0))
            self._energy, self._count = 0.0, 0
            self._next = now + self._period
            self._on_level(self.last)
