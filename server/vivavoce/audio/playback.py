"""Playing audio on the speaker outside a call: recordings (``vivavoce history play``), tones.

Blocking functions for command-line use (they wait for the sound to finish); the language
server plays through :meth:`vivavoce.audio.io.DeviceAudio.play` instead.
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from . import backend
from .devices import SETTING, find_device
from .errors import AudioError


def read_any_wav(path: str | Path) -> tuple[npt.NDArray[np.int16], int]:
    """A 16-bit WAV as (frames × channels) int16 and its rate; AudioError when unreadable."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AudioError(f"{path}: only 16-bit PCM WAV can be played")
            channels, rate = w.getnchannels(), w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    except FileNotFoundError as exc:
        raise AudioError(f"no recording at {path}: check the path or ID") from exc
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path} is not a WAV recording ({exc})") from exc
    return data.reshape(-1, channels), rate


def play_samples(samples: npt.NDArray[np.int16], rate: int, device: str | None = None) -> None:
    """Play (frames × channels) or mono int16 on ``device`` (a setting; empty = default)."""
    sd = backend.sounddevice()
    out = find_device(device, "output")
    frames = samples.reshape(samples.shape[0], -1)
    channels = min(frames.shape[1], out.max_output_channels)
    if frames.shape[1] > channels:  # more channels than the device has: mix down
        frames = frames.astype(np.int32).mean(axis=1, keepdims=True).astype(np.int16)
        channels = 1
    try:
        with backend.LOCK:
            backend.stream_opened()
        try:
            sd.play(frames, samplerate=rate, device=out.index, blocking=True)
        finally:
            backend.stream_closed()
    except AudioError:
        raise
    except Exception as exc:
        raise backend.translate(exc, "speaker", out.name, SETTING["output"]) from exc


def play_file(path: str | Path, device: str | None = None) -> float:
    """Play a WAV recording to the end; returns its length in seconds."""
    samples, rate = read_any_wav(path)
    play_samples(samples, rate, device)
    return float(samples.shape[0]) / rate


def tone(seconds: float = 0.4, freq: float = 440.0, rate: int = 48000) -> npt.NDArray[np.int16]:
    """A sine tone at −12 dBFS with 10 ms fades."""
    t = np.arange(int(seconds * rate)) / rate
    wave_ = 0.25 * np.sin(2 * np.pi * freq * t)
    fade = min(len(t) // 2, rate // 100)
    ramp = np.linspace(0.0, 1.0, fade)
    wave_[:fade] *= ramp
    wave_[len(t) - fade :] *= ramp[::-1]
    return (wave_ * 32767).astype(np.int16)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vivavoce history play PATH [--device D]`` (the lead maps an ID to PATH)."""
    parser.add_argument("path", help="the recording (WAV) to play")
    parser.add_argument("--device", default=None, help="speaker name or index (default: system)")


def main(args: argparse.Namespace) -> int:
    try:
        seconds = play_file(args.path, getattr(args, "device", None))
    except AudioError as exc:
        print(f"vivavoce: {exc}", file=sys.stderr)
        return 1
    print(f"played {args.path} ({seconds:.1f} s)")
    return 0
