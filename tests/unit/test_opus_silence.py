"""Opus silence without the codec (``vivavoce.rtc.opus``) and the resampler's silence shortcut:
what a listener hears must not change. Silence is sent as the packet the encoder itself settles
on, and decodes to exact zeros; decoding with the shortcut gives the same samples, bit for bit,
as aiortc's decoder; speech after skipped silence is as faithful as without the shortcut; a
near-silent remote (not digital silence) is never skipped."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest
from aiortc.codecs.opus import OpusDecoder, OpusEncoder
from aiortc.jitterbuffer import JitterFrame

from vivavoce.rtc import opus
from vivavoce.rtc.tracks import Resampler

Pcm = np.ndarray


def _frame(samples: Pcm, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 48000
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, 48000)
    return frame


def _tone(frames: int, hz: float = 440.0) -> list[Pcm]:
    t = np.arange(960 * frames) / 48000
    pcm = (9000 * np.sin(2 * np.pi * hz * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(
        np.int16
    )
    return list(pcm.reshape(frames, 960))


def _call() -> list[Pcm]:
    """Sound, a second of digital silence, sound: a turn of a call."""
    silence = [np.zeros(960, np.int16)] * 50
    return _tone(25) + silence + _tone(25, 330.0)


def _encode(encoder: object, frames: list[Pcm]) -> list[tuple[bytes, int]]:
    out = []
    for i, pcm in enumerate(frames):
        payloads, timestamp = encoder.encode(_frame(pcm, 4800 + i * 960))  # type: ignore[attr-defined]
        assert len(payloads) == 1
        out.append((payloads[0], timestamp))
    return out


def _decode(decoder: object, packets: list[tuple[bytes, int]]) -> tuple[Pcm, list[int]]:
    samples, pts = [], []
    for data, timestamp in packets:
        frames = decoder.decode(JitterFrame(data=data, timestamp=timestamp))  # type: ignore[attr-defined]
        for f in frames:
            assert f.format.name == "s16" and f.layout.name == "stereo" and f.sample_rate == 48000
            samples.append(np.frombuffer(memoryview(f.planes[0]), np.int16)[: f.samples * 2].copy())
            pts.append(f.pts)
    return np.concatenate(samples), pts


def test_silence_is_sent_as_the_encoders_own_silent_packet_with_aiortcs_timestamps() -> None:
    frames = _call()
    theirs = _encode(OpusEncoder(), frames)
    encoder = opus.encoder_class()()
    ours = _encode(encoder, frames)
    # Most of the second of silence was never encoded.
    assert encoder.skipped >= 40
    assert [t for _, t in ours] == [t for _, t in theirs]
    silent = {data for data, _ in ours[30:75]}
    assert silent == {encoder.silent_packet}
    # The very packet aiortc's encoder sends in silence, once settled.
    assert encoder.silent_packet == theirs[60][0]
    # Sound before the silence is untouched.
    assert ours[:25] == theirs[:25]


def test_the_silent_packet_decodes_to_silence_and_speech_after_it_is_as_faithful() -> None:
    frames = _call()
    theirs, _ = _decode(OpusDecoder(), _encode(OpusEncoder(), frames))
    ours, _ = _decode(OpusDecoder(), _encode(opus.encoder_class()(), frames))
    left = ours[0::2].astype(np.float64)
    reference = theirs[0::2].astype(np.float64)
    # The silence is heard as exact zeros (after the codec's 6.5 ms tail of the tone).
    assert not ours[(27 * 960) * 2 : (75 * 960) * 2].any()
    # The sound after it: the encoder did not see the skipped frames, so its first packets
    # differ in bits, not in what is heard: the same waveform within the codec's own noise.
    after = slice(75 * 960, 100 * 960)
    error = left[after] - reference[after]
    snr = 10 * np.log10(np.sum(reference[after] ** 2) / np.sum(error**2))
    assert snr > 20, snr
    level = 10 * np.log10(np.mean(left[after] ** 2) / np.mean(reference[after] ** 2))
    assert abs(level) < 0.5, level


def test_decoding_with_the_shortcut_is_bit_exact() -> None:
    packets = _encode(OpusEncoder(), _call())
    theirs, their_pts = _decode(OpusDecoder(), packets)
    decoder = opus.decoder_class()()
    ours, our_pts = _decode(decoder, packets)
    assert decoder.skipped >= 40
    assert our_pts == their_pts
    assert np.array_equal(ours, theirs)


def test_a_near_silent_remote_is_always_decoded() -> None:
    """Comfort noise or a real room is not digital silence: nothing is assumed about it."""
    rng = np.random.default_rng(17)
    hiss = [rng.integers(-2, 3, 960).astype(np.int16) for _ in range(60)]
    packets = _encode(OpusEncoder(), hiss)
    decoder = opus.decoder_class()()
    ours, _ = _decode(decoder, packets)
    theirs, _ = _decode(OpusDecoder(), packets)
    assert decoder.skipped == 0
    assert np.array_equal(ours, theirs)


def test_frames_that_are_not_whole_packets_are_always_encoded() -> None:
    encoder = opus.encoder_class()()
    for i in range(40):
        encoder.encode(_frame(np.zeros(480, np.int16), i * 480))
    assert encoder.skipped == 0


@pytest.mark.parametrize(("src", "dst"), [(48000, 16000), (24000, 48000), (16000, 48000)])
def test_resampling_silence_with_the_shortcut_is_bit_exact(src: int, dst: int) -> None:
    rng = np.random.default_rng(src + dst)
    chunk = src // 50
    sound = [rng.normal(0, 3000, chunk).astype(np.int16) for _ in range(10)]
    stream = sound + [np.zeros(chunk, np.int16)] * 30 + sound
    shortcut = Resampler(src, dst)
    ours = [shortcut(x) for x in stream]
    plain = Resampler(src, dst)
    theirs = [plain._resample(x) for x in stream]  # libswresample for every chunk
    assert shortcut.skipped >= 25
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


async def test_a_frame_that_fails_to_decode_is_reported_and_the_next_one_plays() -> None:
    """Decoding on the loop: an error must not escape into aiortc's DTLS reader (it would
    end the call's transport); it is reported as aiortc's thread reports it, and decoding
    goes on."""
    import asyncio
    import threading
    from types import SimpleNamespace

    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    queue: asyncio.Queue[object] = asyncio.Queue()
    error = threading.Event()
    receiver = SimpleNamespace(_track=SimpleNamespace(_queue=queue))
    receiver._RTCRtpReceiver__decoder_error = error  # type: ignore[attr-defined]
    inline = opus.InlineDecoding(receiver)
    codec = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    (good, _), *_ = _encode(OpusEncoder(), _tone(1))
    inline.put((codec, JitterFrame(data=object(), timestamp=0)))  # not even bytes
    assert error.is_set() and queue.empty()
    inline.put((codec, JitterFrame(data=good, timestamp=960)))
    frame = queue.get_nowait()
    assert isinstance(frame, av.AudioFrame) and frame.samples == 960
    inline.put(None)  # the receiver stops: the track ends
    assert queue.get_nowait() is None
