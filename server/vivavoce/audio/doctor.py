"""``vivavoce doctor``: one screen of pass/fail lines, each failure with its fix.

Checks, in order: PortAudio present; a sound server / devices reachable; the configured (or
default) input and output devices; one second of microphone level; a short test tone; an API
key present (its value is never printed); the configured server answering. Exit status 1 when
any check fails. :func:`run_checks` returns the results for other front ends.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import backend
from .devices import find_device, list_devices
from .errors import AudioError

if TYPE_CHECKING:  # numpy, settings and playback load when the checks run
    from ..settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "PASS" if self.ok else "FAIL"
        fix = f" — fix: {self.fix}" if not self.ok and self.fix else ""
        return f"{mark}  {self.name:<16} {self.detail}{fix}"


def _portaudio() -> Check:
    try:
        sd = backend.sounddevice()
    except AudioError as exc:
        return Check("PortAudio", False, "not found", str(exc).split(": ", 1)[-1])
    return Check("PortAudio", True, str(sd.get_portaudio_version()[1]))


def _sound_server() -> Check:
    try:
        found = list_devices()
    except AudioError as exc:
        return Check("sound server", False, "unreachable", str(exc))
    if not found:
        return Check(
            "sound server", False, "no devices", "start PulseAudio/PipeWire or plug a device in"
        )
    return Check("sound server", True, f"{len(found)} device(s)")


def _device(settings: Settings, kind: str) -> Check:
    spec = settings.input_device if kind == "input" else settings.output_device
    name = f"{kind} device"
    try:
        dev = find_device(spec, "input" if kind == "input" else "output", rescan=False)
    except AudioError as exc:
        return Check(name, False, "unusable", str(exc))
    how = "configured" if spec else "default"
    return Check(name, True, f"{dev.name} (#{dev.index}, {dev.hostapi}, {how})")


def _microphone(settings: Settings) -> Check:
    sd = backend.sounddevice()
    try:
        dev = find_device(settings.input_device, "input", rescan=False)
        rate = 48000
        with backend.LOCK:
            backend.stream_opened()
        try:
            data = sd.rec(rate, samplerate=rate, channels=1, dtype="int16", device=dev.index)
            sd.wait()
        finally:
            backend.stream_closed()
    except AudioError as exc:
        return Check("microphone 1 s", False, "no input", str(exc))
    except Exception as exc:
        err = backend.translate(exc, "microphone", "input", "inputDevice")
        return Check("microphone 1 s", False, "cannot record", str(err))
    import numpy as np

    x = np.asarray(data, np.float64).reshape(-1)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    dbfs = max(-120.0, 20 * np.log10(max(rms, 1e-9) / 32768.0))
    if dbfs <= -100:
        return Check(
            "microphone 1 s",
            False,
            f"{dbfs:.0f} dBFS (digital silence)",
            "unmute the microphone or raise its input volume in the system mixer",
        )
    return Check("microphone 1 s", True, f"{dbfs:.0f} dBFS")


def _tone(settings: Settings) -> Check:
    from .playback import play_samples, tone

    try:
        t0 = time.monotonic()
        play_samples(tone(0.4), 48000, settings.output_device)
    except AudioError as exc:
        return Check("test tone", False, "not played", str(exc))
    return Check("test tone", True, f"0.4 s at 440 Hz played in {time.monotonic() - t0:.1f} s")


def _uses_local_peer(settings: Settings) -> bool:
    return settings.peer == "embedded" or (settings.peer == "auto" and not settings.api_key)


def _api_key(settings: Settings) -> Check:
    if settings.api_key is not None and settings.resolved_api_key():
        return Check("API key", True, "set (value hidden)")
    if _uses_local_peer(settings):
        return Check("API key", True, "none: the offline local peer is used")
    return Check("API key", False, "missing", "set OPENAI_API_KEY or the vivavoce apiKey setting")


def _server(settings: Settings, timeout: float) -> Check:
    if _uses_local_peer(settings):
        return Check("server", True, "offline local peer (started on demand)")
    import httpx

    url = settings.base_url if settings.peer in ("openai", "auto") else settings.peer
    try:
        response = httpx.get(url.rstrip("/") + "/models", timeout=timeout)
    except httpx.HTTPError as exc:
        return Check(
            "server",
            False,
            f"{url} not answering ({type(exc).__name__})",
            "check baseUrl and the network, or set peer to embedded",
        )
    return Check("server", True, f"{url} answers (HTTP {response.status_code})")


def run_checks(
    settings: Settings, *, sound: bool = True, network_timeout: float = 5.0
) -> list[Check]:
    """Every check, in order; later device checks are skipped when an earlier one failed."""
    checks = [_portaudio()]
    if checks[0].ok:
        checks.append(_sound_server())
    if all(c.ok for c in checks):
        inp, out = _device(settings, "input"), _device(settings, "output")
        checks += [inp, out]
        if sound and inp.ok:
            checks.append(_microphone(settings))
        if sound and out.ok:
            checks.append(_tone(settings))
    checks += [_api_key(settings), _server(settings, network_timeout)]
    return checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-sound", action="store_true", help="skip the microphone level and the test tone"
    )


def main(args: argparse.Namespace, settings_factory: Callable[[], Settings] | None = None) -> int:
    """Print one line per check; exit status 1 when any failed."""
    if settings_factory is None:
        from ..settings import load_settings

        settings_factory = load_settings
    try:
        settings = settings_factory()
    except Exception as exc:
        print(f"FAIL  {'settings':<16} {exc}")
        return 1
    checks = run_checks(settings, sound=not getattr(args, "no_sound", False))
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    sys.stdout.flush()
    return 1 if failed else 0
