"""aiortc's wall clock in integer arithmetic.

aiortc 1.16 reads the time for every RTP packet it sends (``current_ntp_time``, twice: the
``abs-send-time`` extension and the sender report's reference) and receives (``current_ms``,
for the bitrate estimate) through ``datetime`` objects: ``now(utc)``, a subtraction from the
NTP epoch, ``total_seconds()``. :func:`current_ntp_time` and :func:`current_ms` give the same
values from ``time.time_ns()`` (the same clock) at a fraction of the cost; :func:`install`
makes aiortc use them. ``current_datetime`` stays aiortc's (its callers want a datetime).
"""

from __future__ import annotations

import time

#: Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET = 2_208_988_800


def current_ntp_time() -> int:
    """Now as a 64-bit NTP timestamp (32.32 fixed point), as ``aiortc.clock.current_ntp_time``:
    whole seconds, and the fraction from whole microseconds."""
    us = time.time_ns() // 1000
    seconds, micros = divmod(us, 1_000_000)
    return ((seconds + NTP_UNIX_OFFSET) << 32) | ((micros << 32) // 1_000_000)


def current_ms() -> int:
    """Milliseconds since the NTP epoch, as ``aiortc.clock.current_ms``."""
    return time.time_ns() // 1_000_000 + NTP_UNIX_OFFSET * 1000


_installed = False


def install() -> None:
    """Make aiortc read the clock with these (idempotent). Its modules call them through the
    ``clock`` module, so replacing the module's attributes reaches every caller."""
    global _installed
    if _installed:
        return
    import aiortc.clock

    setattr(aiortc.clock, "current_ntp_time", current_ntp_time)  # noqa: B010 - no hook
    setattr(aiortc.clock, "current_ms", current_ms)  # noqa: B010
    _installed = True
