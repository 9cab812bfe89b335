"""Audio errors: each one line that says what is wrong and how to fix it.

VivavoceError
└── AudioError                 any microphone/speaker problem (text mode keeps working)
    ├── PortAudioMissing       the PortAudio library is not installed
    ├── NoSoundServer          no device at all: no sound server running, nothing plugged in
    ├── NoSuchDevice           a configured device name/index matches nothing (lists close ones)
    ├── DeviceBusy             the device is used by another program
    ├── DeviceLost             the device vanished during a call
    └── EchoCancellerMissing   echoCancellation "on" but the AEC package is not installed
"""

from __future__ import annotations

from ..errors import VivavoceError

__all__ = [
    "AudioError",
    "DeviceBusy",
    "DeviceLost",
    "EchoCancellerMissing",
    "NoSoundServer",
    "NoSuchDevice",
    "PortAudioMissing",
]


class AudioError(VivavoceError):
    """The microphone or speaker cannot be used; the message names the fix."""


class PortAudioMissing(AudioError):
    def __init__(self) -> None:
        super().__init__(
            "the PortAudio library is missing: install it (Debian/Ubuntu: apt-get install "
            "libportaudio2; Fedora: dnf install portaudio; macOS: brew install portaudio)"
        )


class NoSoundServer(AudioError):
    def __init__(self, role: str = "audio") -> None:
        super().__init__(
            f"no {role} device found: start the sound server (PulseAudio/PipeWire, e.g. "
            "`pulseaudio --start`) or plug a device in, then check with `vivavoce devices`"
        )


class NoSuchDevice(AudioError):
    def __init__(self, role: str, wanted: str, close: list[str], setting: str) -> None:
        hint = f"close matches: {', '.join(repr(c) for c in close)}" if close else "none is close"
        super().__init__(
            f"no {role} matches {wanted!r} ({hint}): set {setting} to a name or index from "
            "`vivavoce devices`, or leave it empty for the default"
        )
        self.role, self.wanted, self.close = role, wanted, close


class DeviceBusy(AudioError):
    def __init__(self, role: str, name: str, setting: str) -> None:
        super().__init__(
            f"the {role} {name!r} is busy (another program holds it): close that program or "
            f"choose another device with {setting}"
        )


class DeviceLost(AudioError):
    def __init__(
        self,
        what: str,
        then: str = "the call goes on without it: reconnect the device and restart the call",
    ) -> None:
        super().__init__(f"the {what} stopped (unplugged or sound server gone); {then}")


class EchoCancellerMissing(AudioError):
    def __init__(self) -> None:
        super().__init__(
            "echo cancellation is on but its package is missing: pip install pywebrtc-audio, "
            'or set echoCancellation to "auto" or "off"'
        )
