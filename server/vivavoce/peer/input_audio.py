"""The caller's audio in one peer session: turns, user items, and their transcripts.

:class:`InputAudio` takes every decoded 16 kHz frame of the caller. With turn detection on
(``server_vad``/``semantic_vad``) a :class:`~vivavoce.peer.vad.TurnDetector` cuts it into
turns; with it off (push-to-talk) the audio is buffered until ``input_audio_buffer.commit``.
Each turn becomes a committed user item and is transcribed by :mod:`.stt`, one at a time.

* Transcription events are sent for every committed turn, whether or not the session
  configured ``audio.input.transcription`` (the transcript is all the peer understands).
* A detected turn asks for a response (``create_response``) only once its transcript is in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from ..realtime import events as ev
from ..rtc.tracks import Pcm
from .stt import RATE as STT_RATE
from .stt import Recognizer
from .vad import SpeechStarted, SpeechStopped, TurnDetector
from .wire import ClientEventError, SessionLink

log = logging.getLogger(__name__)

#: Push-to-talk buffer limit (older audio is dropped): 5 minutes at 16 kHz.
MAX_COMMIT_SAMPLES = 5 * 60 * STT_RATE
#: A commit needs at least this much audio (the API's own minimum is 100 ms).
MIN_COMMIT_SAMPLES = STT_RATE // 10


class InputAudio:
    """Turn detection or the push-to-talk buffer, commits and transcription, for one session."""

    def __init__(
        self,
        link: SessionLink,
        recognizer: Recognizer,
        *,
        on_speech_started: Callable[[], None],
        on_turn_transcribed: Callable[[], None],
    ) -> None:
        self.recognizer = recognizer
        self.link = link
        self._on_speech_started = on_speech_started
        self._on_turn_transcribed = on_turn_transcribed
        self._detector: TurnDetector | None = None
        self._commit_buffer: list[Pcm] = []
        self._commit_samples = 0
        self._position = 0  # input samples (16 kHz) received so far
        self._turn_item_id: str | None = None
        self._transcriptions: set[asyncio.Task[Any]] = set()
        self._stt_lock = asyncio.Lock()
        self.turn_detection_changed()

    def turn_detection_changed(self) -> None:
        """Follow the session's turn detection (a new detector continues the position)."""
        td = self.link.settings().audio.input.turn_detection
        old = self._detector
        self._detector = TurnDetector.from_settings(td) if td is not None else None
        if self._detector is not None:
            self._detector.position = old.position if old is not None else self._position
        self._turn_item_id = None

    async def transcribed(self) -> None:
        """Return once every committed turn so far has its transcript (or failed)."""
        if self._transcriptions:
            await asyncio.wait(list(self._transcriptions))

    # ------------------------------------------------------------------ the caller's audio

    def feed(self, pcm: Pcm) -> None:
        """16 kHz mono int16 audio from the caller."""
        self._position += pcm.size
        if self._detector is None:
            self._commit_buffer.append(pcm)
            self._commit_samples += pcm.size
            while self._commit_samples > MAX_COMMIT_SAMPLES and self._commit_buffer:
                self._commit_samples -= self._commit_buffer.pop(0).size
            return
        for turn in self._detector.feed(pcm):
            if isinstance(turn, SpeechStarted):
                self._speech_started(turn.audio_start_ms)
            else:
                self._speech_stopped(turn)

    def _speech_started(self, audio_start_ms: int) -> None:
        self._turn_item_id = ev.new_id("item")
        self.link.send(ev.SpeechStarted(audio_start_ms=audio_start_ms, item_id=self._turn_item_id))
        self._on_speech_started()

    def _speech_stopped(self, turn: SpeechStopped) -> None:
        item_id = self._turn_item_id or ev.new_id("item")
        self._turn_item_id = None
        self.link.send(ev.SpeechStopped(audio_end_ms=turn.audio_end_ms, item_id=item_id))
        td = self.link.settings().audio.input.turn_detection
        self._commit(item_id, turn.audio, respond=td is not None and td.create_response)

    # ------------------------------------------------------------------ client events

    def commit(self) -> None:
        """``input_audio_buffer.commit``: the turn so far (or the buffer) becomes a user item."""
        if self._detector is not None:
            turn = self._detector.stop()
            if turn is None:
                raise ClientEventError(
                    "input_audio_buffer_commit_empty",
                    "Error committing input audio buffer: the buffer is empty.",
                )
            item_id = self._turn_item_id or ev.new_id("item")
            self._turn_item_id = None
            self.link.send(ev.SpeechStopped(audio_end_ms=turn.audio_end_ms, item_id=item_id))
            self._commit(item_id, turn.audio, respond=False)
            return
        if self._commit_samples < MIN_COMMIT_SAMPLES:
            ms = self._commit_samples * 1000 // STT_RATE
            raise ClientEventError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms}ms of audio.",
            )
        audio = np.concatenate(self._commit_buffer)
        self._commit_buffer.clear()
        self._commit_samples = 0
        self._commit(ev.new_id("item"), audio, respond=False)

    def clear(self) -> None:
        """``input_audio_buffer.clear``: forget the turn in progress and the buffer."""
        if self._detector is not None:
            self._detector.reset()
        self._turn_item_id = None
        self._commit_buffer.clear()
        self._commit_samples = 0
        self.link.send(ev.InputCleared())

    # ------------------------------------------------------------------ transcription

    def _commit(self, item_id: str, audio: Pcm, *, respond: bool) -> None:
        prev = self.link.items.last_id
        item = ev.Item(
            id=item_id,
            object="realtime.item",
            type="message",
            status="completed",
            role="user",
            content=[ev.ContentPart(type="input_audio", transcript=None)],
        )
        self.link.items.add(item)
        self.link.send(ev.InputCommitted(item_id=item_id, previous_item_id=prev))
        self.link.send(ev.ItemAdded(previous_item_id=prev, item=item))
        self.link.send(ev.ItemDone(previous_item_id=prev, item=item))
        task = self.link.spawn(self._transcribe(item, audio, respond), f"transcribe:{item_id}")
        self._transcriptions.add(task)
        task.add_done_callback(self._transcriptions.discard)

    async def _transcribe(self, item: ev.Item, audio: Pcm, respond: bool) -> None:
        assert item.id is not None
        async with self._stt_lock:
            try:
                text = await self.recognizer.transcribe(audio)
            except Exception as exc:
                log.warning("%s: recognition failed: %s", self.link.name, exc)
                self.link.send(
                    ev.InputTranscriptionFailed(
                        item_id=item.id,
                        error=ev.ErrorDetail(
                            type="transcription_error",
                            code="transcription_failed",
                            message=f"Speech recognition failed: {exc}",
                        ),
                    )
                )
                text = None
        if text is not None:
            if item.content:
                item.content[0].transcript = text
            if text:
                self.link.send(ev.InputTranscriptionDelta(item_id=item.id, delta=text))
            self.link.send(
                ev.InputTranscriptionCompleted(
                    item_id=item.id,
                    transcript=text,
                    usage={"type": "duration", "seconds": round(audio.size / STT_RATE, 3)},
                )
            )
        if respond:
            self._on_turn_transcribed()
