"""PortAudio through sounddevice: lazy loading, rescans and turning its errors into ours.

sounddevice is imported only here and only on first use, so that ``vivavoce lsp`` starts fast.
PortAudio reads the device list once at initialisation: :func:`rescan` re-initialises it, but
only while no stream of ours is open (terminating PortAudio closes every stream). All
administrative calls (initialise, terminate, open, close) are serialised by :data:`LOCK`;
they may block, so async code runs them in a worker thread (:func:`run_blocking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import AudioError, DeviceBusy, NoSoundServer, PortAudioMissing

T = TypeVar("T")

#: Serialises PortAudio initialise/terminate/open/close.
LOCK = threading.RLock()
_open_streams = 0


def sounddevice() -> Any:
    """The sounddevice module (imported on first use); PortAudioMissing if PortAudio is absent."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise PortAudioMissing from exc
    return sd


def rescan() -> bool:
    """Re-read the device list (PortAudio reads it once). Skipped while a stream is open."""
    sd = sounddevice()
    with LOCK:
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


def stream_opened() -> None:
    global _open_streams
    with LOCK:
        _open_streams += 1


def stream_closed() -> None:
    global _open_streams
    with LOCK:
        _open_streams = max(0, _open_streams - 1)


def close_streams(*streams: Any) -> None:
    """Abort and close PortAudio streams opened together (what fails is ignored: they are
    going), then count them closed. Under :data:`LOCK`."""
    try:
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.abort()
            with contextlib.suppress(Exception):
                stream.close()
    finally:
        stream_closed()


def translate(exc: BaseException, role: str, name: str, setting: str) -> AudioError:
    """A PortAudio failure while opening ``role`` as one of our one-line errors."""
    if isinstance(exc, AudioError):
        return exc
    text = str(exc)
    lowered = text.lower()
    if "querying device -1" in lowered or "no default" in lowered:
        return NoSoundServer(role)
    if "unavailable" in lowered or "busy" in lowered:
        return DeviceBusy(role, name, setting)
    if "invalid number of channels" in lowered or "sample rate" in lowered:
        return AudioError(
            f"the {role} {name!r} refuses the format ({text.splitlines()[0]}): "
            f"choose another device with {setting}"
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return AudioError(
        f"cannot open the {role} {name!r} ({first}): check it with `vivavoce doctor` or "
        f"choose another with {setting}"
    )


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run a possibly blocking PortAudio call off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
