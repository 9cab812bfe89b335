"""The user's microphone and speaker (sounddevice/PortAudio), bridged to calls.

Modules (each owns one thing; sounddevice is imported only when a device is touched):

* :mod:`.io` — :class:`~.io.DeviceAudio` and :func:`~.io.open_audio`, the
  :data:`vivavoce.conversation.AudioFactory`: one duplex stream per call.
* :mod:`.buffers` — thread → loop hand-over, adaptive playout buffer, the microphone's PcmSource.
* :mod:`.devices` — listing and choosing devices; ``vivavoce devices``.
* :mod:`.aec` — WebRTC AEC3 echo cancellation (``echoCancellation`` auto|on|off).
* :mod:`.recorder` — both sides of a call to a stereo WAV.
* :mod:`.playback` — playing a file on the speaker (``vivavoce history play``).
* :mod:`.doctor` — ``vivavoce doctor``.
* :mod:`.backend` — loading PortAudio, rescans, error translation. :mod:`.errors` — the errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import AudioError

if TYPE_CHECKING:
    from ..settings import Settings
    from .io import DeviceAudio

__all__ = ["AudioError", "open_audio"]


async def open_audio(settings: Settings, on_level: Callable[[float], None]) -> DeviceAudio:
    """The audio factory for :class:`~vivavoce.conversation.Conversation` (imports lazily)."""
    from .io import open_audio as _open

    return await _open(settings, on_level)
