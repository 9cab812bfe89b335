"""An adaptive audio jitter buffer for aiortc.

aiortc 1.16 builds every audio receiver with ``JitterBuffer(capacity=16, prefetch=4)``: it
holds four 20 ms packets before releasing one, ≈ 80 ms per hop whatever the network does.
There is no setting, so :func:`install` substitutes the class aiortc's receiver module uses.

:class:`AdaptiveJitterBuffer` releases each packet the moment it is next in sequence. It
waits only when a packet is missing, and then for at most ``depth`` later packets before it
gives the missing one up. Timing jitter (bursts) needs no holding here: the playout side
(speaker queue) absorbs it, and holding packets would only add delay on a network that
reorders nothing. So ``depth`` (its target delay: ``depth`` × 20 ms at most, and only when a
packet is missing) is about reordering alone.

How ``depth`` is chosen: WebRTC NetEq's reorder optimizer (``neteq/reorder_optimizer.cc``,
on by default in its ``DelayManager``), in packets rather than milliseconds. Each arriving
packet adds its reorder distance *k* (how many later packets came before it; 0 in order) to
an exponentially forgetting histogram, and ``depth`` is the *d* that minimises

    cost(d) = d × 20 ms  +  ms_per_loss_percent × 100 × P(k > d)

i.e. waiting costs its delay, and each percent of packets that would come too late (a 20 ms
hole) costs ``ms_per_loss_percent`` ms (NetEq's default: 20). Lost packets never arrive and
so never raise it. Unlike a counter bumped on each late packet and lowered after a fixed calm
stretch (this module's first version: +1 per late packet, −1 per 500 in-order packets, ≈ 50 s
from 5 back to 0), the estimate tracks the network in both directions by itself.

Speed of forgetting: NetEq forgets with 0.9993 per packet (a time constant of ≈ 28 s at 50
packets/s), and its delay histogram with 0.983 per 500 ms sample (≈ 30 s): tuned for long
calls where a rebuffer is worse than latency. A voice assistant's turns are seconds long, so
here ``memory`` is 100 packets (forget factor 0.99, ≈ 2 s): after ``jitter ± 30 ms`` stops,
P(k > 0) falls from ≈ 30 % to the ≈ 1 % at which waiting stops paying for itself in
ln(30)/0.01 ≈ 340 packets, ≈ 7 s (baresip's adaptive buffer, for comparison, lowers its
jitter estimate with a time constant of 512 packets, ≈ 10 s). Such a short memory is noisy,
so two guards keep ``depth`` from hopping between neighbours under steady jitter: it moves
only when the optimum's cost is ``margin_ms`` (10 ms, half a packet of waiting) below the
current depth's, and a *lower* optimum is taken only after it held for ``hold`` packets in a
row (1 s), a higher one at once (a late packet is an audible hole, a packet of extra wait is
not). Simulated 5 % loss, 40 ± 30 ms, 2 % held back 50 ms (``tests/unit/test_jitter.py``):
``depth`` stays in 2–4 (0 → 2 within 1.3 s), changes 4–8 times a minute, and is back
at 0 6–8 s after the network is clean. Like NetEq's histogram
(``start_forget_weight``), the first ``memory`` packets are weighed as a plain running mean,
so the buffer learns the network within the first packets of a call.

The receiver takes at most one frame per packet it hands in, so frames that became ready
together (a gap filled) would otherwise queue up for good; frames beyond ``depth`` are dropped
to keep the delay bounded.
"""

from __future__ import annotations

from collections import deque
from typing import Any

_SEQ_MOD = 1 << 16
_RESET_DISTANCE = 100  # a jump larger than this is a new stream, not reordering
_PACKET_MS = 20  # aiortc's audio packets


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
        memory: int = 100,
        hold: int = 50,
        ms_per_loss_percent: float = 20.0,
        margin_ms: float = 10.0,
    ) -> None:
        self._capacity = capacity
        self._max_depth = max(0, min(max_depth, capacity - 1))
        #: Time constant of the reorder histogram, in packets (forget factor 1 − 1/memory).
        self._forget = 1.0 - 1.0 / max(1, memory)
        self._hold = hold
        self._margin = margin_ms
        self._loss_cost = ms_per_loss_percent * 100.0
        #: P(reorder distance = k), k = 0 … max_depth + 1 (the last: "beyond reach").
        self._histogram = [0.0] * (self._max_depth + 2)
        self._samples = 0
        self._packets: dict[int, Any] = {}
        self._expected: int | None = None
        self._highest: int | None = None
        self._given_up: deque[int] = deque(maxlen=64)
        self.depth = 0
        self._lower_for = 0  # packets in a row whose optimum was below ``depth``
        #: Counters for benchmarks and tests.
        self.late = 0
        self.skipped = 0
        self.dropped = 0
        self.duplicates = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def add(self, packet: Any) -> tuple[bool, Any]:
        seq: int = packet.sequence_number
        if self._expected is None:
            self._expected = self._highest = seq
        ahead = _diff(seq, self._expected)
        if ahead < 0:
            if -ahead > _RESET_DISTANCE:
                self._reset(seq)
            else:
                self._on_old(seq)
                return False, None
        elif ahead > _RESET_DISTANCE:
            self._reset(seq)
        elif seq in self._packets:
            self.duplicates += 1
            return False, None
        self._observe(seq)
        self._packets[seq] = packet
        return False, self._release()

    # ------------------------------------------------------------------ target delay

    def _observe(self, seq: int) -> None:
        """Add one arrived packet's reorder distance to the histogram; update ``depth``."""
        assert self._highest is not None
        behind = _diff(self._highest, seq)
        if behind < 0:
            self._highest = seq
        k = min(max(behind, 0), len(self._histogram) - 1)
        self._samples += 1
        # A running mean until there are ``memory`` samples, then exponential forgetting.
        forget = min(self._forget, 1.0 - 1.0 / self._samples)
        for i in range(len(self._histogram)):
            self._histogram[i] *= forget
        self._histogram[k] += 1.0 - forget
        self._retarget()

    def _retarget(self) -> None:
        best, best_cost, current_cost = 0, float("inf"), 0.0
        beyond = sum(self._histogram)  # P(k > d) for d = −1
        for d in range(self._max_depth + 1):
            beyond -= self._histogram[d]
            cost = d * _PACKET_MS + self._loss_cost * max(beyond, 0.0)
            if cost < best_cost:
                best, best_cost = d, cost
            if d == self.depth:
                current_cost = cost
        if best == self.depth or current_cost - best_cost < self._margin:
            self._lower_for = 0
            return
        if best > self.depth:
            self.depth, self._lower_for = best, 0
            return
        self._lower_for += 1
        if self._lower_for >= self._hold:
            self.depth, self._lower_for = best, 0

    def target_delay_ms(self) -> int:
        """The longest this buffer now waits for a missing packet."""
        return self.depth * _PACKET_MS

    # ------------------------------------------------------------------ release

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
        gap = _diff(oldest, expected)
        self.skipped += gap
        self._given_up.extend((expected + i) % _SEQ_MOD for i in range(min(gap, 64)))
        self._expected = oldest

    def _on_old(self, seq: int) -> None:
        """A packet behind the playout point: one given up (late), or a duplicate."""
        if seq not in self._given_up:
            self.duplicates += 1
            return
        self._given_up.remove(seq)
        self.late += 1
        self._observe(seq)

    def _reset(self, seq: int) -> None:
        self._packets.clear()
        self._given_up.clear()
        self._expected = self._highest = seq


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
