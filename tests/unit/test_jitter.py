"""The adaptive jitter buffer: no delay in order, bounded waiting for reordered packets."""

from dataclasses import dataclass

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


def test_depth_relaxes_after_a_calm_stretch() -> None:
    jb = AdaptiveJitterBuffer(relax_after=20)
    _feed(jb, [1, 3, 2])
    assert jb.depth == 1
    _feed(jb, list(range(4, 40)))
    assert jb.depth == 0


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
