"""Per-frame helpers on the audio path: the RTP audio level of outgoing frames (ours gives
exactly aiortc's numbers, and aiortc uses it) and the downmix of decoded frames."""

import aiortc.rtp
import av
import numpy as np
import pytest

from vivavoce.rtc import level, prepare_aiortc
from vivavoce.rtc.tracks import to_mono


def _frame(samples: np.ndarray, layout: str, fmt: str = "s16") -> av.AudioFrame:
    rows = 2 if fmt.endswith("p") and layout == "stereo" else 1
    frame = av.AudioFrame.from_ndarray(samples.reshape(rows, -1), format=fmt, layout=layout)
    frame.sample_rate = 48000
    return frame


def _frames() -> list[av.AudioFrame]:
    rng = np.random.default_rng(6465)
    frames = [
        _frame(np.zeros(960, np.int16), "mono"),
        _frame(np.full(960, 32767, np.int16), "mono"),
        _frame(np.full(960, -32768, np.int16), "mono"),
        _frame(np.array([1] + [0] * 959, np.int16), "mono"),
    ]
    for amplitude in np.geomspace(0.5, 40000, 300):
        noise = np.clip(rng.normal(0, amplitude, 960), -32768, 32767).astype(np.int16)
        frames.append(_frame(noise, "mono"))
        frames.append(_frame(np.repeat(noise[:480], 2), "stereo"))
    return frames


@pytest.fixture(scope="module")
def aiortc_level() -> object:
    prepare_aiortc()
    assert level.replaced is not None
    return level.replaced


def test_same_level_as_aiortc_for_every_loudness(aiortc_level: object) -> None:
    frames = _frames()
    ours = [level.audio_level_dbov(f) for f in frames]
    theirs = [aiortc_level(f) for f in frames]  # type: ignore[operator]
    assert ours == theirs
    assert min(ours) == -127 and max(ours) == 0  # silence and full scale both covered
    assert len(set(ours)) > 60  # and most levels between


def test_aiortc_senders_use_it(aiortc_level: object) -> None:
    assert aiortc.rtp.compute_audio_level_dbov is level.audio_level_dbov
    prepare_aiortc()  # idempotent: the original is still the one remembered
    assert level.replaced is aiortc_level


def test_downmix_averages_the_channels_of_every_decoded_format() -> None:
    rng = np.random.default_rng(2)
    left = rng.integers(-32768, 32768, 960).astype(np.int16)
    right = rng.integers(-32768, 32768, 960).astype(np.int16)
    expected = np.floor((left.astype(np.int64) + right) / 2).astype(np.int16)
    packed = np.stack([left, right], axis=1).reshape(-1)  # L R L R …, as Opus decodes
    assert np.array_equal(to_mono(_frame(packed, "stereo")), expected)
    assert np.array_equal(
        to_mono(_frame(np.concatenate([left, right]), "stereo", "s16p")), expected
    )
    assert np.array_equal(to_mono(_frame(left, "mono")), left)
    floats = np.concatenate([left, right]).astype(np.float32) / 32767.0
    assert np.abs(to_mono(_frame(floats, "stereo", "fltp")).astype(int) - expected).max() <= 1
    # The mono copy is the caller's: later writes to the frame's buffer do not change it.
    frame = _frame(left.copy(), "mono")
    mono = to_mono(frame)
    np.frombuffer(frame.planes[0], dtype=np.int16)[:] = 0
    assert np.array_equal(mono, left)


async def test_the_track_sends_what_was_queued_and_marks_only_its_silence() -> None:
    """The outgoing track's frames: queued audio sample for sample, then zeros marked as
    digital silence (which the encoder and the downmix then trust without a scan)."""
    from vivavoce.rtc.tracks import DIGITAL_SILENCE, PcmSource, PcmSourceTrack

    source = PcmSource()
    speech = np.random.default_rng(5).integers(-9000, 9000, 1500).astype(np.int16)
    source.feed(speech)
    track = PcmSourceTrack(source)
    frames = [await track.recv() for _ in range(3)]
    track.stop()
    sent = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    assert np.array_equal(sent[:1500], speech) and not sent[1500:].any()
    assert [f.opaque is DIGITAL_SILENCE for f in frames] == [False, False, True]
    assert [f.pts for f in frames] == [0, 960, 1920]
    assert all(f.samples == 960 and f.sample_rate == 48000 for f in frames)
    assert not to_mono(frames[2]).any() and to_mono(frames[2]).size == 960


def test_aiortcs_clock_reads_the_same_time_faster() -> None:
    import aiortc.clock

    from vivavoce.rtc import clock

    prepare_aiortc()
    assert aiortc.clock.current_ntp_time is clock.current_ntp_time
    ntp = aiortc.clock.datetime_to_ntp(aiortc.clock.current_datetime())
    ms = (
        aiortc.clock.current_datetime() - aiortc.clock.NTP_EPOCH
    ).total_seconds() * 1000  # aiortc's own current_ms, by its formula
    assert abs(clock.current_ntp_time() - ntp) < (1 << 32) // 100  # within 10 ms
    assert abs(clock.current_ms() - ms) < 10
