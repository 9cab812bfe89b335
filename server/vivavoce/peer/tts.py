"""Speech synthesis for the local peer: flite, run as a subprocess (never on the event loop).

``Synthesizer.synthesize(text, voice, speed)`` returns 16 kHz mono int16 samples.

Voices: OpenAI voice names map to flite's built-in voices so a session's ``voice`` changes
how the peer sounds, deterministically:

    alloy, coral, sage, shimmer, marin  →  slt   (US female)
    ash, echo, verse, cedar             →  rms   (US male; pocketsphinx hears it best)
    ballad                              →  awb   (Scottish male)

flite's own names (``rms``, ``slt``, ``awb``, ``kal16``) are accepted as they are. Anything
else (or no voice) is :data:`DEFAULT_VOICE`. ``speed`` (0.25–4, 1 = normal) becomes flite's
``duration_stretch``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import wave
from collections.abc import AsyncGenerator

import numpy as np

from ..rtc.tracks import Pcm

log = logging.getLogger(__name__)


#: Rate of flite's 16 kHz voices; every voice offered here uses it.
RATE = 16000
DEFAULT_VOICE = "rms"
FLITE_VOICES = frozenset({"rms", "slt", "awb", "kal16"})
VOICE_MAP: dict[str, str] = {
    "alloy": "slt",
    "coral": "slt",
    "sage": "slt",
    "shimmer": "slt",
    "marin": "slt",
    "ash": "rms",
    "echo": "rms",
    "verse": "rms",
    "cedar": "rms",
    "ballad": "awb",
}
#: Longest text handed to flite in one run (one sentence is far less).
MAX_TEXT_CHARS = 4096


class SynthesisError(RuntimeError):
    """flite is missing or failed."""


def flite_voice(voice: str | None) -> str:
    """The flite voice used for a session's (OpenAI or flite) voice name."""
    if not voice:
        return DEFAULT_VOICE
    name = voice.strip().lower()
    if name in FLITE_VOICES:
        return name
    return VOICE_MAP.get(name, DEFAULT_VOICE)


def parse_wav(data: bytes) -> tuple[Pcm, int]:
    """Samples (int16 mono) and rate of a 16-bit PCM WAV held in memory."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2:
            raise SynthesisError("flite produced a non 16-bit WAV")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).astype(np.int32).mean(axis=1).astype(np.int16)
    return pcm, rate


class Synthesizer:
    """Runs ``flite`` once per text; several may run at once (one per call/sentence)."""

    def __init__(self, binary: str = "flite") -> None:
        self.binary = binary

    async def aclose(self) -> None:
        return None  # a flite process lives only as long as its text

    async def stream(
        self, text: str, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[Pcm, None]:
        """The speech for ``text`` in one piece (flite writes a whole WAV at once)."""
        pcm = await self.synthesize(text, voice, speed)
        if pcm.size:
            yield pcm

    async def synthesize(self, text: str, voice: str | None = None, speed: float = 1.0) -> Pcm:
        """16 kHz mono int16 speech for ``text`` (empty for blank text)."""
        # A NUL cannot be a process argument (exec refuses it); nothing speaks it anyway.
        text = " ".join(text.replace("\0", " ").split())[:MAX_TEXT_CHARS]
        if not text:
            return np.zeros(0, dtype=np.int16)
        exe = shutil.which(self.binary)
        if exe is None:
            raise SynthesisError(f"speech synthesis needs '{self.binary}' (apt-get install flite)")
        stretch = 1.0 / min(4.0, max(0.25, speed or 1.0))
        args = [exe, "-voice", flite_voice(voice), "--setf", f"duration_stretch={stretch:.3f}"]
        # "-t" takes the next argument as text even when it starts with "-".
        args += ["-t", text, "-o", "/dev/stdout"]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0 or not out:
            raise SynthesisError(
                f"flite failed (exit {proc.returncode}): {err.decode(errors='replace')[:200]}"
            )
        pcm, rate = parse_wav(out)
        if rate != RATE:
            from ..rtc.tracks import Resampler

            pcm = Resampler(rate, RATE)(pcm)
        return pcm
