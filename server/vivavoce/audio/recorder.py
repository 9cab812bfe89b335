"""Recording a call's both sides: a stereo 16-bit WAV, left = the user, right = the assistant.

Both sides come from the same duplex callback (the microphone block as sent, after echo
cancellation, and the block written to the speaker), so they are aligned sample for sample.
Samples are buffered and written in the loop's executor, one write in flight at a time (order
kept, the loop never waits on the disk).

    rec = Recorder("call.wav", rate=48000)
    rec.write(user_block, assistant_block)
    await rec.aclose()          # or rec.close() outside a loop
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import wave
from pathlib import Path

import numpy as np

from ..rtc.tracks import RATE, Pcm

#: Buffered seconds before a write is handed to the executor.
FLUSH_SECONDS = 0.5


def default_path(folder: Path) -> Path:
    """``folder/recordings/call-YYYYmmdd-HHMMSS.wav`` (not created)."""
    return folder / "recordings" / time.strftime("call-%Y%m%d-%H%M%S.wav")


class Recorder:
    """Writes (user, assistant) block pairs to ``path`` as stereo WAV at ``rate``."""

    def __init__(self, path: str | Path, rate: int = RATE) -> None:
        self.path = Path(path)
        self.rate = rate
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wav: wave.Wave_write | None = wave.open(str(self.path), "wb")  # noqa: SIM115 (closed by close())
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future[None] | None = None
        self._idle = threading.Event()  # no write in flight in the executor
        self._idle.set()
        self.frames_written = 0

    @property
    def seconds(self) -> float:
        return (self.frames_written + self._buffered) / self.rate

    def write(self, user: Pcm, assistant: Pcm | None) -> None:
        """One aligned block of both sides (assistant None = silence). Never blocks."""
        if self._wav is None:
            return
        other = assistant if assistant is not None else np.zeros(user.size, np.int16)
        n = min(user.size, other.size)
        stereo = np.empty((n, 2), np.int16)
        stereo[:, 0], stereo[:, 1] = user[:n], other[:n]
        self._buffer.append(stereo.tobytes())
        self._buffered += n
        if self._buffered >= FLUSH_SECONDS * self.rate:
            self._flush_async()

    def _take(self) -> tuple[bytes, int]:
        data, n = b"".join(self._buffer), self._buffered
        self._buffer, self._buffered = [], 0
        return data, n

    def _write_now(self, data: bytes, n: int) -> None:
        if self._wav is not None and data:
            self._wav.writeframesraw(data)
            self.frames_written += n

    def _flush_async(self) -> None:
        if self._pending is not None and not self._pending.done():
            return  # one write in flight; this data goes with the next
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_now(*self._take())
            return
        data, n = self._take()
        self._idle.clear()
        self._pending = loop.run_in_executor(None, self._write_in_executor, data, n)

    def _write_in_executor(self, data: bytes, n: int) -> None:
        try:
            self._write_now(data, n)
        finally:
            self._idle.set()

    async def aclose(self) -> None:
        """Write what is left and close the file (idempotent)."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
        if self._wav is None:
            return
        data, n = self._take()
        await asyncio.get_running_loop().run_in_executor(None, self._finish, data, n)

    def close(self) -> None:
        """Synchronous close (idempotent); waits for a write in flight to keep the order."""
        if self._wav is None:
            return
        self._idle.wait(10)
        self._finish(*self._take())

    def _finish(self, data: bytes, n: int) -> None:
        self._write_now(data, n)
        if self._wav is not None:
            self._wav.close()  # patches the header's lengths
            self._wav = None
