"""Which microphones and speakers exist, and which one a setting means.

* :func:`list_devices` — every device (index, name, host API, channels, default marks), rescanned
  each time so that devices plugged in since the last look are seen.
* :func:`find_device` — a setting (case-insensitive name substring, or index; empty = the current
  system default, so a default that changes is followed) → :class:`Device`, or a one-line error
  listing close matches.
* :func:`select_device` / :func:`list_devices_async` — for the language server's
  ``vivavoce.selectDevice`` / ``vivavoce.listDevices`` commands (off the event loop).
* ``vivavoce devices``: :func:`add_arguments` and :func:`main`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal

from . import backend
from .errors import AudioError, NoSoundServer, NoSuchDevice

Kind = Literal["input", "output"]
SETTING = {"input": "inputDevice", "output": "outputDevice"}
ROLE = {"input": "microphone", "output": "speaker"}


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool = False
    default_output: bool = False

    def has(self, kind: Kind) -> bool:
        return (self.max_input_channels if kind == "input" else self.max_output_channels) > 0

    def wire(self) -> dict[str, Any]:
        """camelCase JSON for editors."""
        d = asdict(self)
        return {
            "index": d["index"],
            "name": d["name"],
            "hostApi": d["hostapi"],
            "inputChannels": d["max_input_channels"],
            "outputChannels": d["max_output_channels"],
            "defaultSampleRate": d["default_samplerate"],
            "defaultInput": d["default_input"],
            "defaultOutput": d["default_output"],
        }


def list_devices(*, rescan: bool = True) -> list[Device]:
    """Every PortAudio device (blocking: PortAudio is re-initialised to see changes)."""
    sd = backend.sounddevice()
    with backend.LOCK:
        if rescan:
            backend.rescan()
        apis = [a["name"] for a in sd.query_hostapis()]
        default_in, default_out = _defaults(sd)
        return [
            Device(
                index=d["index"],
                name=d["name"],
                hostapi=apis[d["hostapi"]] if d["hostapi"] < len(apis) else "?",
                max_input_channels=d["max_input_channels"],
                max_output_channels=d["max_output_channels"],
                default_samplerate=float(d["default_samplerate"]),
                default_input=d["index"] == default_in,
                default_output=d["index"] == default_out,
            )
            for d in sd.query_devices()
        ]


def _defaults(sd: Any) -> tuple[int, int]:
    """PortAudio's default input and output indices (-1 when none)."""
    out = []
    for kind in ("input", "output"):
        try:
            out.append(int(sd.query_devices(kind=kind)["index"]))
        except Exception:  # PortAudioError "Error querying device -1": no default
            out.append(-1)
    return out[0], out[1]


def find_device(spec: str | int | None, kind: Kind, *, rescan: bool = True) -> Device:
    """The device a setting names; empty means the system's current default."""
    devices = [d for d in list_devices(rescan=rescan) if d.has(kind)]
    if not devices:
        raise NoSoundServer(ROLE[kind])
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for d in devices:
            if d.default_input if kind == "input" else d.default_output:
                return d
        raise NoSoundServer(f"default {ROLE[kind]}")
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        for d in devices:
            if d.index == int(text):
                return d
    else:
        wanted = text.casefold()
        exact = [d for d in devices if d.name.casefold() == wanted]
        partial = [d for d in devices if wanted in d.name.casefold()]
        if exact or partial:
            return (exact or partial)[0]
    names = [d.name for d in devices]
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.3)
    raise NoSuchDevice(ROLE[kind], text, close or names[:3], SETTING[kind])


async def list_devices_async() -> dict[str, list[dict[str, Any]]]:
    """``{"inputs": [...], "outputs": [...]}`` for ``vivavoce.listDevices``."""
    devices = await backend.run_blocking(list_devices)
    return {
        "inputs": [d.wire() for d in devices if d.has("input")],
        "outputs": [d.wire() for d in devices if d.has("output")],
    }


async def select_device(kind: Kind, spec: str | int | None) -> dict[str, Any]:
    """Check a choice for ``vivavoce.selectDevice``: the device it names, or NoSuchDevice.

    The caller stores ``spec`` in settings (inputDevice/outputDevice) when this succeeds.
    """
    if kind not in ("input", "output"):
        raise AudioError(f'unknown device kind {kind!r}: use "input" or "output"')
    device = await backend.run_blocking(find_device, spec, kind)
    return device.wire()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def format_table(devices: list[Device]) -> str:
    lines = [f"{'':2} {'#':>3}  {'in':>3} {'out':>3}  {'host API':<12} name"]
    for d in devices:
        mark = ("<" if d.default_input else " ") + (">" if d.default_output else " ")
        lines.append(
            f"{mark} {d.index:>3}  {d.max_input_channels:>3} {d.max_output_channels:>3}  "
            f"{d.hostapi:<12} {d.name}"
        )
    lines.append("< default input, > default output; choose with inputDevice/outputDevice")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``vivavoce devices``: list inputs and outputs; exit 1 with one line on failure."""
    try:
        devices = list_devices()
    except AudioError as exc:
        print(f"vivavoce: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps([d.wire() for d in devices], indent=2))
    elif not devices:
        print(f"vivavoce: {NoSoundServer()}", file=sys.stderr)
        return 1
    else:
        print(format_table(devices))
    return 0
