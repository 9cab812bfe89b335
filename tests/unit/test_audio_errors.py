"""PortAudio's own failures become our one-line errors with the fix.

"Device busy" cannot be produced on a machine whose devices all go through a sound server
(PulseAudio/PipeWire share them; only raw ALSA hardware is exclusive), so these use PortAudio's
real exception class with the exact messages PortAudio gives. The other conditions are produced
for real in tests/audio (no sound server, unknown names, PortAudio missing, device vanishing).
"""

from __future__ import annotations

import pytest

from vivavoce.audio import backend
from vivavoce.audio.errors import AudioError, DeviceBusy, NoSoundServer

sd = pytest.importorskip("sounddevice")


@pytest.mark.parametrize(
    "error",
    [
        # PortAudio maps ALSA's EBUSY to paDeviceUnavailable; Windows/macOS say the same.
        sd.PortAudioError("Error opening InputStream: Device unavailable", -9985),
        # Some host APIs report it as a host error carrying the OS text.
        sd.PortAudioError(
            "Error opening OutputStream: Unanticipated host error", -9999, (-1, -16, "busy")
        ),
    ],
)
def test_busy_device_names_the_device_and_the_fix(error: Exception) -> None:
    translated = backend.translate(error, "microphone", "USB Headset", "inputDevice")
    assert isinstance(translated, DeviceBusy)
    message = str(translated)
    assert "'USB Headset' is busy" in message and "inputDevice" in message
    assert "\n" not in message


def test_no_default_device_means_no_sound_server() -> None:
    error = sd.PortAudioError("Error querying device -1")
    assert isinstance(backend.translate(error, "speaker", "default", "outputDevice"), NoSoundServer)


def test_anything_else_is_one_line_with_the_device_and_doctor() -> None:
    error = sd.PortAudioError("Error starting stream: Internal PortAudio error\nmore", -9986)
    translated = backend.translate(error, "speaker", "HDMI", "outputDevice")
    assert type(translated) is AudioError
    message = str(translated)
    assert "'HDMI'" in message and "vivavoce doctor" in message and "\n" not in message
