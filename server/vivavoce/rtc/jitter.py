"""An adaptive audio jitter buffer for aiortc.

aiortc 1.16 builds every audio receiver with ``JitterBuffer(capacity=16, prefetch=4)``: it
holds four 20 ms packets before releasing one, ≈ 80 ms per hop whatever the network does.
There is no setting, so :func:`install` substitutes the class aiortc's receiver module uses.

:class:`AdaptiveJitterBuffer` releases each packet the moment it is next in sequence. It
waits only when a packet is missing, and then for at most ``depth`` later packets before it
gives the missing one up. ``depth`` starts at 0 and adapts to what the network shows: a packet
that arrives after it was given up raises it (up to ``max_depth``); a long in-order stretch
lowers it again. Timing jitter (bursts) needs no holding here: the playout side (speaker queue)
absorbs it, and holding packets would only add delay on a network that reorders nothing.

The receiver takes at most one frame per packet it hands in, so frames that became ready
together (a gap filled) would otherwise queue up for good; frames beyond ``depth`` are dropped
to keep the delay bounded.
"""

from __future__ import annotations

from typing import Any

_SEQ_MOD = 1 << 16
_RESET_DISTANCE = 100  # a jump larger than this is a new stream, not reordering


def _diff(a: int, b: int) -> int:
    """a − b in 16-bit sequence space, in [−32768, 32767]."""
    return ((a - b + 0x8000) % _SEQ_MOD) - 0x8000


class AdaptiveJitterBuffer:
    """Drop-in replacement for ``aiortc.jitterbuffer.JitterBuffer`` for audio."""

    def __init__(
        self,
        capacity: int = 16,
        prefetch: int = 0,
        is_video: bool = False,
        *,
        max_depth: int = 5,
        relax_after: int = 500,
    ) -> None:
        self._capacity = capacity
        self._max_depth = max(0, min(max_depth, capacity - 1))
        self._relax_after = relax_after  # in-order packets (≈ 10 s) before depth shrinks
        self._packets: dict[int, Any] = {}
        self._expected: int | None = None
        self.depth = 0
        self._calm = 0
        #: Counters for benchmarks and tests.
        self.late = 0
        self.skipped = 0
        self.dropped = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def add(self, packet: Any) -> tuple[bool, Any]:
        seq: int = packet.sequence_number
        if self._expected is None:
            self._expected = seq
        ahead = _diff(seq, self._expected)
        if ahead < 0:
            if -ahead > _RESET_DISTANCE:
                self._reset(seq)
            else:
                self._on_late()
                return False, None
        elif ahead > _RESET_DISTANCE:
            self._reset(seq)
        self._packets[seq] = packet
        return False, self._release()

    def _release(self) -> Any:
        assert self._expected is not None
        if self._expected not in self._packets:
            if len(self._packets) <= self.depth:
                return None  # wait a little for the missing packet
            self._skip_to_oldest()
        # Several frames ready at once (a gap just filled): keep at most ``depth`` queued.
        while self._ready_count() > self.depth + 1:
            self._packets.pop(self._expected)
            self._expected = (self._expected + 1) % _SEQ_MOD
            self.dropped += 1
        packet = self._packets.pop(self._expected)
        self._expected = (self._expected + 1) % _SEQ_MOD
        self._on_in_order()
        return _frame(packet)

    def _ready_count(self) -> int:
        assert self._expected is not None
        n = 0
        while (self._expected + n) % _SEQ_MOD in self._packets:
            n += 1
        return n

    def _skip_to_oldest(self) -> None:
        assert self._expected is not None
        expected = self._expected
        oldest = min(self._packets, key=lambda s: _diff(s, expected))
        self.skipped += _diff(oldest, expected)
        self._expected = oldest

    def _on_late(self) -> None:
        self.late += 1
        self._calm = 0
        self.depth = min(self.depth + 1, self._max_depth)

    def _on_in_order(self) -> None:
        self._calm += 1
        if self._calm >= self._relax_after and self.depth > 0:
            self.depth -= 1
            self._calm = 0

    def _reset(self, seq: int) -> None:
        self._packets.clear()
        self._expected = seq


def _frame(packet: Any) -> Any:
    from aiortc.jitterbuffer import JitterFrame

    return JitterFrame(data=packet._data, timestamp=packet.timestamp)


_installed = False


def install() -> None:
    """Make aiortc's audio receivers use :class:`AdaptiveJitterBuffer` (video keeps aiortc's)."""
    global _installed
    if _installed:
        return
    import aiortc.rtcrtpreceiver as receiver
    from aiortc.jitterbuffer import JitterBuffer

    def jitter_buffer(capacity: int, prefetch: int = 0, is_video: bool = False) -> Any:
        if is_video:
            return JitterBuffer(capacity=capacity, prefetch=prefetch, is_video=True)
        return AdaptiveJitterBuffer(capacity=capacity, prefetch=prefetch)

    setattr(receiver, "JitterBuffer", jitter_buffer)  # noqa: B010 - no public setting exists
    _installed = True
