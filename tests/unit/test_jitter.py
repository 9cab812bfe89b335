"""The adaptive jitter buffer: no delay in order, bounded waiting for reordered packets."""

import itertools
import random
from dataclasses import dataclass

import pytest

from vivavoce.rtc.jitter import AdaptiveJitterBuffer, install


@dataclass
class Packet:
    sequence_number: int
    timestamp: int
    _data: bytes


def _p(seq: int) -> Packet:
    return Packet(seq % 65536, seq * 960, bytes([seq % 256]))


def _feed(jb: AdaptiveJitterBuffer, seqs: list[int]) -> list[int | None]:
    out: list[int | None] = []
    for s in seqs:
        _, frame = jb.add(_p(s))
        out.append(None if frame is None else frame.data[0])
    return out


def test_in_order_packets_are_released_at_once() -> None:
    jb = AdaptiveJitterBuffer()
    assert _feed(jb, [10, 11, 12, 13]) == [10, 11, 12, 13]


def test_sequence_wraps_around_without_a_gap() -> None:
    jb = AdaptiveJitterBuffer()
    assert _feed(jb, [65534, 65535, 65536, 65537]) == [254, 255, 0, 1]


def test_late_packet_is_dropped_and_makes_the_buffer_wait_next_time() -> None:
    jb = AdaptiveJitterBuffer()
    # 3 is missing: with no history, the buffer gives it up at once; it arrives too late.
    assert _feed(jb, [1, 2, 4, 3]) == [1, 2, 4, None]
    assert jb.late == 1 and jb.depth == 1
    # Now a swapped pair is waited for and both are played, in order.
    out = _feed(jb, [5, 7, 6, 8, 9])
    assert [x for x in out if x is not None][:2] == [5, 6]
    assert jb.late == 1


def _arrivals(
    rng: random.Random,
    first: int,
    count: int,
    *,
    start: float,
    jitter: float,
    loss: float = 0.0,
    reorder: float = 0.0,
    duplicate: float = 0.0,
) -> list[tuple[float, int]]:
    """(arrival time, seq) of ``count`` 20 ms packets sent from ``start``, through a network
    like tests/netsim.py's: 40 ms ± ``jitter``, some held back 50 ms more, lost, duplicated."""
    out = []
    for i in range(count):
        if rng.random() < loss:
            continue
        for _ in range(2 if rng.random() < duplicate else 1):
            delay = 0.04 + rng.uniform(-jitter, jitter)
            if rng.random() < reorder:
                delay += 0.05
            out.append((start + i * 0.02 + delay, first + i))
    return out


def _depths(jb: AdaptiveJitterBuffer, arrivals: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Feed packets in arrival order; (arrival time, depth after it) for each."""
    trace = []
    for t, seq in sorted(arrivals):
        jb.add(_p(seq))
        trace.append((t, jb.depth))
    return trace


BAD = {"jitter": 0.03, "loss": 0.05, "reorder": 0.02, "duplicate": 0.01}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_depth_grows_under_jitter_holds_while_it_lasts_and_is_back_within_10_s_of_calm(
    seed: int,
) -> None:
    rng = random.Random(seed)
    jittery, clean = 60 * 50, 20 * 50  # packets: 60 s of the bad network, then 20 s clean
    arrivals = _arrivals(rng, 0, jittery, start=0.0, **BAD)
    arrivals += _arrivals(rng, jittery, clean, start=jittery * 0.02, jitter=0.0)
    trace = _depths(AdaptiveJitterBuffer(), arrivals)
    calm_from = jittery * 0.02 + 0.1  # the last jittery packet has arrived

    # Grows to 2 (what ± 30 ms needs) within 2 s of jitter, and never falls back while it lasts.
    grown = next(t for t, d in trace if d >= 2)
    assert grown <= 2.0
    under_jitter = [d for t, d in trace if grown <= t < calm_from]
    assert min(under_jitter) >= 2, "the buffer shrank while the network was still jittery"
    changes = sum(a != b for a, b in itertools.pairwise(under_jitter))
    assert changes <= 12, f"depth hopped {changes} times in a minute of steady jitter"

    # Back to the floor (no waiting at all) within 10 s of clean arrivals, and it stays there.
    after = [(t, d) for t, d in trace if t >= calm_from]
    back = next((t for t, d in after if all(d2 == 0 for t2, d2 in after if t2 >= t)), None)
    assert back is not None, "depth not back to 0 after 20 s of clean network"
    assert back - calm_from <= 10.0, f"depth back to 0 only {back - calm_from:.1f} s after"
    assert next(d for t, d in after if t < calm_from + 2.0) >= 2, "it relaxed at once"


def test_steady_jitter_without_holdbacks_keeps_one_depth() -> None:
    """± 30 ms reorders 20 ms packets by up to 2 places: the buffer settles on 2 and stays."""
    trace = _depths(
        AdaptiveJitterBuffer(), _arrivals(random.Random(5), 0, 3000, start=0, jitter=0.03)
    )
    assert {d for t, d in trace if t > 2.0} == {2}


def test_duplicates_are_not_late_packets() -> None:
    jb = AdaptiveJitterBuffer()
    assert _feed(jb, [1, 2, 2, 3, 1, 4, 4, 5]) == [1, 2, None, 3, None, 4, None, 5]
    assert jb.late == 0 and jb.depth == 0 and jb.duplicates == 3


def test_a_new_stream_resets_instead_of_waiting() -> None:
    jb = AdaptiveJitterBuffer()
    _feed(jb, [100, 101])
    assert _feed(jb, [30000, 30001]) == [30000 % 256, 30001 % 256]


def test_install_replaces_aiortcs_audio_buffer_only() -> None:
    install()
    import aiortc.rtcrtpreceiver as receiver
    from aiortc.jitterbuffer import JitterBuffer

    assert isinstance(receiver.JitterBuffer(capacity=16, prefetch=4), AdaptiveJitterBuffer)
    assert isinstance(receiver.JitterBuffer(capacity=512, is_video=True), JitterBuffer)
