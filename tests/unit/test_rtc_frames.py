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
