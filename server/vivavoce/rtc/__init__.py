"""WebRTC plumbing shared by the client engine and the local peer (no product logic here).

* :mod:`.ice` keeps ICE on loopback for calls whose server is on loopback.
* :mod:`.consent` keeps ICE consent checks from closing calls whose event loop is behind.
* :mod:`.jitter` replaces aiortc's fixed 80 ms audio jitter buffer with an adaptive one.
* :mod:`.liveness` notices in seconds that a live call's server is gone.
* :mod:`.level` computes outgoing frames' RTP audio level with numpy (aiortc loops in Python).
* :mod:`.clock` gives aiortc the time without datetime arithmetic (every RTP packet asks).
* :mod:`.opus` sends and receives Opus silence without the codec, and decodes audio on the loop.
* :mod:`.tracks` holds audio tracks (a paced PCM source) and sinks (WAV, memory, none).

Importing this package is cheap; aiortc and av load when a function needs them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["prepare_aiortc", "rtc_configuration"]


def rtc_configuration(ice_servers: list[str] | None = None) -> Any:
    """An ``RTCConfiguration`` with exactly these ICE servers (default none).

    aiortc's default contacts a public STUN server, which stalls 5 s without internet;
    OpenAI needs no STUN from the client.
    """
    from aiortc import RTCConfiguration, RTCIceServer

    return RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers or []])


def prepare_aiortc() -> None:
    """Install our ICE host-address filter and consent checks, adaptive jitter buffer, audio
    level, clock and Opus silence shortcuts (idempotent)."""
    from . import clock, consent, ice, jitter, level, opus, shortcuts

    consent.install()
    ice.install()
    jitter.install()
    level.install()
    if shortcuts.enabled():  # VIVAVOCE_RTC_SHORTCUTS=0: aiortc's own audio path, for comparison
        clock.install()
        opus.install()
