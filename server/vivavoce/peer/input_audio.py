"""The caller's audio in one peer session: turns, user items, and their transcripts.

:class:`InputAudio` takes every decoded 16 kHz frame of the caller. With turn detection on
(``server_vad``/``semantic_vad``) a :class:`~vivavoce.peer.vad.TurnDetector` cuts it into
turns; with it off (push-to-talk) the audio is buffered until ``input_audio_buffer.commit``.
Each turn becomes a committed user item and is transcribed by :mod:`.stt`, one at a time,
expecting the words the session's transcription names (``keywords`` or ``prompt``).

* A detected turn is recognized **while it is spoken**: at ``speech_started`` its
  :class:`~vivavoce.peer.turn_words.TurnWords` starts (the recognizer's
  :meth:`~vivavoce.peer.services.SpeechToText.stream`) and is fed the prefix padding and then
  the turn as it comes (with ``server_vad`` its words are asked for just before the silence
  ends the turn); at the commit its words are the turn's transcript, and
  ``input_audio_buffer.clear`` (or a new turn detection) drops it. A push-to-talk
  buffer is transcribed whole at its commit: no turn start is known before it (the client sends
  silence while the key is up), and decoding all of it as it came would cost a decoder's CPU
  for every second of the call.

* ``audio.input.noise_reduction`` (``near_field``/``far_field``) runs the caller's audio through
  a :class:`~vivavoce.peer.noise.NoiseGate` before the VAD, which decides the turns on the
  filtered audio; the turns (and so the recognizer) keep the caller's own audio, in step, as
  the gate's crude filtering throws pocketsphinx off (the real API's filter is kinder).
* ``semantic_vad``: at a pause the detector asks whether the words so far are finished; they
  are recognized in a thread (:meth:`_check_pause`) and, if finished and the user is still
  silent, the turn ends, its words reused as the turn's transcript.
* Transcription events are sent for every committed turn, whether or not the session
  configured ``audio.input.transcription`` (the transcript is all the peer understands).
* Like the real API, a detected turn asks for a response (``create_response``) at commit, and
  its transcription reaches the client when it arrives: the words are recognised at once (the
  responder needs them; :attr:`ConversationItems.heard`) but the ``…transcription.*`` events
  and the user item's ``conversation.item.done`` (with its transcript) are *released* per the
  ``transcription_lag`` option. With ``"before"`` the transcription comes first and the
  response is asked for after it (the old order).
* ``idle_timeout_ms`` (server_vad): once the assistant has finished, that long without speech
  sends ``input_audio_buffer.timeout_triggered`` and commits the silence as a user turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..realtime import events as ev
from ..rtc.tracks import Pcm
from .lexicon import session_words
from .noise import NoiseGate
from .options import TranscriptionLag
from .services import SpeechToText, Utterance
from .stt import RATE as STT_RATE
from .turn_words import EarlyListener, TurnWords
from .upstreams import UpstreamError, upstream_error
from .vad import Paused, SpeechStarted, SpeechStopped, TurnAudio, TurnDetector, sounds_finished
from .wire import ClientEventError, SessionLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Heard:
    """What recognition made of one committed turn (the events not yet sent)."""

    item: ev.Item
    text: str | None  # None: recognition failed
    failure: str | None
    samples: int


#: Push-to-talk buffer limit (older audio is dropped): 5 minutes at 16 kHz.
MAX_COMMIT_SAMPLES = 5 * 60 * STT_RATE
#: Between the word-by-word deltas of a transcription session (a streaming model's pace).
DELTA_SECONDS = 0.06
#: A commit needs at least this much audio (the API's own minimum is 100 ms).
MIN_COMMIT_SAMPLES = STT_RATE // 10
#: Audio this loud (−40 dBFS peak) counts as sound for the turn-end lag in the debug log.
LOUD_PEAK = 300


class InputAudio:
    """Turn detection or the push-to-talk buffer, commits and transcription, for one session."""

    def __init__(
        self,
        link: SessionLink,
        recognizer: SpeechToText,
        *,
        on_speech_started: Callable[[], None],
        on_respond: Callable[[], None],
        responses_idle: Callable[[], Awaitable[None]],
        lag: TranscriptionLag = "after-response",
        early: EarlyListener | None = None,
    ) -> None:
        self.recognizer = recognizer
        self._early = early  # hears of a detected turn's words before it ends
        self.link = link
        self._on_speech_started = on_speech_started
        self._on_respond = on_respond
        self._responses_idle = responses_idle
        self.lag: TranscriptionLag = lag
        self._releases: asyncio.Task[None] | None = None  # the last release, in commit order
        self._idle_timer: asyncio.Task[None] | None = None
        self._detector: TurnDetector | None = None
        self._commit_buffer: list[Pcm] = []
        self._commit_samples = 0
        self._position = 0  # input samples (16 kHz) received so far
        self._turn_item_id: str | None = None
        self._utterance: TurnWords | None = None  # the detected turn's, while it is spoken
        self._received = 0  # input samples before the noise gate
        self._last_loud = (0, 0.0)  # (input sample, loop time) of the last loud audio
        self._transcriptions: set[asyncio.Task[Any]] = set()
        self._stt_lock = asyncio.Lock()
        self._gate: NoiseGate | None = None
        self._ungated: deque[Pcm] = deque()  # given to the gate, not yet given back
        self.turn_detection_changed()
        self.noise_reduction_changed()

    def _take_ungated(self, n: int) -> Pcm:
        """The oldest ``n`` samples given to the gate (what it just gave back, unfiltered)."""
        out: list[Pcm] = []
        while n > 0 and self._ungated:
            head = self._ungated[0]
            if head.size <= n:
                out.append(self._ungated.popleft())
                n -= head.size
            else:
                out.append(head[:n])
                self._ungated[0] = head[n:]
                n = 0
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    def noise_reduction_changed(self) -> None:
        """Follow the session's ``noise_reduction`` (a new kind starts a new noise estimate)."""
        nr = self.link.settings().audio.input.noise_reduction
        kind = nr.type if nr is not None else None
        if kind is None:
            self._gate = None
            self._ungated.clear()
        elif self._gate is None or self._gate.kind != kind:
            self._gate = NoiseGate(kind)
            self._ungated.clear()

    def turn_detection_changed(self) -> None:
        """Follow the session's turn detection (a new detector continues the position)."""
        td = self.link.settings().audio.input.turn_detection
        old = self._detector
        self._detector = TurnDetector.from_settings(td) if td is not None else None
        if self._detector is not None:
            self._detector.position = old.position if old is not None else self._position
        self._turn_item_id = None
        self._drop_utterance()

    def _drop_utterance(self) -> None:
        if self._utterance is not None:
            self._utterance.drop()
            self._utterance = None

    def close(self) -> None:
        """Let go of the turn being recognized (idempotent; the session is closing)."""
        self._drop_utterance()

    async def transcribed(self) -> None:
        """Return once every committed turn so far has its transcript (or failed)."""
        if self._transcriptions:
            await asyncio.wait(list(self._transcriptions))

    # ------------------------------------------------------------------ the caller's audio

    def feed(self, pcm: Pcm) -> None:
        """16 kHz mono int16 audio from the caller."""
        heard = pcm
        self._received += pcm.size
        if log.isEnabledFor(logging.DEBUG) and int(np.abs(pcm).max(initial=0)) > LOUD_PEAK:
            self._last_loud = (self._received, asyncio.get_running_loop().time())
        if self._gate is not None:
            # The gate decides where turns are; the recognizer gets the caller's own audio, in
            # step with it (pocketsphinx is thrown by the gate's artefacts: "the code is ready"
            # came out "otis redding"). The gate delays by a fixed lookahead: match by count.
            self._ungated.append(pcm)
            pcm = self._gate.feed(pcm)
            heard = self._take_ungated(pcm.size)
            if pcm.size == 0:
                return
        self._position += pcm.size
        if self._detector is None:
            self._commit_buffer.append(heard)
            self._commit_samples += pcm.size
            while self._commit_samples > MAX_COMMIT_SAMPLES and self._commit_buffer:
                self._commit_samples -= self._commit_buffer.pop(0).size
            return
        detector = self._detector
        for turn in detector.feed(pcm, heard):
            if isinstance(turn, SpeechStarted):
                self._speech_started(turn.audio_start_ms)
            elif isinstance(turn, TurnAudio):
                if self._utterance is not None:
                    self._utterance.feed(turn.audio, turn.silence_ms)
            elif isinstance(turn, Paused):
                self.link.spawn(self._check_pause(detector, turn), "semantic pause check")
            else:
                self._speech_stopped(turn)

    async def _check_pause(self, detector: TurnDetector, pause: Paused) -> None:
        """semantic_vad: end the turn at this pause if its words so far sound finished."""
        try:
            words = session_words(self.link.settings().audio.input.transcription)
            text = await self.recognizer.transcribe(pause.audio, words)
        except Exception as exc:  # the turn then ends at the eagerness cap
            log.warning("%s: recognition at a pause failed: %s", self.link.name, exc)
            return
        finished = sounds_finished(text)
        log.debug("%s: pause after %r: %s", self.link.name, text, "ends" if finished else "goes on")
        if not finished or detector is not self._detector:
            return
        turn = detector.end_paused(pause.token)
        if turn is not None:
            self._speech_stopped(SpeechStopped(turn.audio_end_ms, turn.audio, transcript=text))

    def _speech_started(self, audio_start_ms: int) -> None:
        self.stop_idle_timer()
        self._turn_item_id = ev.new_id("item")
        self._drop_utterance()
        self._utterance = TurnWords.of_session(
            self.recognizer, self.link.settings(), self.link.spawn, self._early
        )
        self.link.send(ev.SpeechStarted(audio_start_ms=audio_start_ms, item_id=self._turn_item_id))
        self._on_speech_started()

    def _speech_stopped(self, turn: SpeechStopped) -> None:
        item_id = self._turn_item_id or ev.new_id("item")
        self._turn_item_id = None
        self.link.send(ev.SpeechStopped(audio_end_ms=turn.audio_end_ms, item_id=item_id))
        if log.isEnabledFor(logging.DEBUG):
            loud, at = self._last_loud
            log.debug(
                "%s: speech_stopped %d ms of audio and %.0f ms after the last loud input",
                self.link.name,
                (self._received - loud) * 1000 // STT_RATE,
                (asyncio.get_running_loop().time() - at) * 1000,
            )
        td = self.link.settings().audio.input.turn_detection
        respond = td is not None and td.create_response
        utterance, self._utterance = self._utterance, None
        self._commit(
            item_id, turn.audio, respond=respond, transcript=turn.transcript, utterance=utterance
        )

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
            utterance, self._utterance = self._utterance, None
            if utterance is not None:
                utterance.detach()  # no reply to start ahead: this commit asks for none
            self._commit(item_id, turn.audio, respond=False, utterance=utterance)
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
        self._drop_utterance()
        self._commit_buffer.clear()
        self._commit_samples = 0
        self.link.send(ev.InputCleared())

    # ------------------------------------------------------------------ transcription

    def _commit(
        self,
        item_id: str,
        audio: Pcm,
        *,
        respond: bool,
        transcript: str | None = None,
        utterance: Utterance | None = None,
    ) -> None:
        """``transcript``: the words, when already recognized; else ``utterance``'s, the turn
        recognized as it was spoken; else the recognizer decodes ``audio`` now. The utterance
        is this method's from here: finished or dropped, whatever happens to the task."""
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
        self.link.items.audio_ms[item_id] = audio.size * 1000 // STT_RATE
        self.link.send(ev.InputCommitted(item_id=item_id, previous_item_id=prev))
        self.link.send(ev.ItemAdded(previous_item_id=prev, item=item))
        committed_at = asyncio.get_running_loop().time()
        task = self.link.spawn(
            self._transcribe(
                item, audio, respond, committed_at, known=transcript, utterance=utterance
            ),
            f"transcribe:{item_id}",
        )
        if utterance is not None:
            task.add_done_callback(lambda _: utterance.drop())
        self._transcriptions.add(task)
        task.add_done_callback(self._transcriptions.discard)
        if respond and self.lag != "before":
            self._on_respond()  # the response starts at commit, as with the real API

    async def _transcribe(
        self,
        item: ev.Item,
        audio: Pcm,
        respond: bool,
        committed_at: float,
        *,
        known: str | None = None,
        utterance: Utterance | None = None,
    ) -> None:
        assert item.id is not None
        failure: str | None = None
        # The words the session's transcription asks for (keywords, or the prompt's words).
        words = session_words(self.link.settings().audio.input.transcription)
        async with self._stt_lock:
            try:
                text: str | None = known
                if text is None and utterance is not None:
                    text = await utterance.finish(audio)
                elif text is None:
                    text = await self.recognizer.transcribe(audio, words)
            except Exception as exc:
                log.warning("%s: recognition failed: %s", self.link.name, exc)
                text, failure = None, f"Speech recognition failed: {exc}"
                if isinstance(exc, UpstreamError):  # the user hears of it now, once
                    self.link.send(ev.ErrorEvent(error=upstream_error(exc)))
        if text is not None:
            self.link.items.heard[item.id] = text
        heard = _Heard(item, text, failure, audio.size)
        if self.lag == "before":
            await self._release(heard)
            if respond:
                self._on_respond()
            return
        previous = self._releases
        self._releases = self.link.spawn(
            self._release_later(previous, heard, committed_at), f"release transcription:{item.id}"
        )

    async def _release_later(
        self, previous: asyncio.Task[None] | None, heard: _Heard, committed_at: float
    ) -> None:
        """Send a turn's transcription when the ``lag`` says (after the turns before it)."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        if self.lag == "after-response":
            await self._responses_idle()
        else:
            assert not isinstance(self.lag, str)
            delay = committed_at + float(self.lag) - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
        await self._release(heard)

    async def _release(self, heard: _Heard) -> None:
        """The client learns what was said: transcription events, then the item, done."""
        item, text, failure = heard.item, heard.text, heard.failure
        assert item.id is not None
        self.link.items.heard.pop(item.id, None)
        if failure is not None:
            self.link.send(
                ev.InputTranscriptionFailed(
                    item_id=item.id,
                    error=ev.ErrorDetail(
                        type="transcription_error", code="transcription_failed", message=failure
                    ),
                )
            )
        if text is not None:
            if item.content:
                item.content[0].transcript = text
            for i, delta in enumerate(self._deltas(text)):
                if i:
                    await asyncio.sleep(self._pace)
                self.link.send(ev.InputTranscriptionDelta(item_id=item.id, delta=delta))
            self.link.send(
                ev.InputTranscriptionCompleted(
                    item_id=item.id, transcript=text, usage=self._usage(heard.samples, text)
                )
            )
        if any(it is item for it in self.link.items.items):  # not deleted meanwhile
            self.link.send(
                ev.ItemDone(previous_item_id=self.link.items.previous_of(item.id), item=item)
            )

    def _usage(self, samples: int, text: str) -> dict[str, Any]:
        """A finished transcription's ``usage``, as the API reports it for the session's model:
        in tokens (the audio at the API's rate, the prompt and the transcript as text) or in
        seconds."""
        from .models import BILLED_BY_TOKENS
        from .responses import USER_AUDIO_MS_PER_TOKEN, audio_tokens, text_tokens

        tr = self.link.settings().audio.input.transcription
        if tr is None or tr.model not in BILLED_BY_TOKENS:
            return {"type": "duration", "seconds": round(samples / STT_RATE, 3)}
        audio = audio_tokens(samples * 1000 // STT_RATE, USER_AUDIO_MS_PER_TOKEN)
        prompt, out = text_tokens(tr.prompt), text_tokens(text)
        return {
            "type": "tokens",
            "input_tokens": audio + prompt,
            "output_tokens": out,
            "total_tokens": audio + prompt + out,
            "input_token_details": {"audio_tokens": audio, "text_tokens": prompt},
        }

    @property
    def _pace(self) -> float:
        """Seconds between deltas: a transcription session streams, as its models do."""
        return DELTA_SECONDS if self.link.settings().type == "transcription" else 0.0

    def _deltas(self, text: str) -> list[str]:
        """A transcript as its deltas: word by word in a transcription session (as a streaming
        transcription model sends it), whole otherwise."""
        if not text:
            return []
        if self.link.settings().type != "transcription":
            return [text]
        words = text.split(" ")
        return [words[0]] + [f" {word}" for word in words[1:]]

    # ------------------------------------------------------------------ idle timeout

    def assistant_finished(self) -> None:
        """The assistant is done speaking: start server_vad's ``idle_timeout_ms`` (if set)."""
        self.stop_idle_timer()
        td = self.link.settings().audio.input.turn_detection
        idle_ms = getattr(td, "idle_timeout_ms", None)
        if isinstance(td, ev.ServerVad) and idle_ms:
            self._idle_timer = self.link.spawn(self._idle(idle_ms, self._position), "idle timeout")

    def stop_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    async def _idle(self, idle_ms: int, start: int) -> None:
        await asyncio.sleep(idle_ms / 1000)
        self._idle_timer = None
        td = self.link.settings().audio.input.turn_detection
        if not isinstance(td, ev.ServerVad):
            return
        item_id = ev.new_id("item")
        end = self._position
        self.link.send(
            ev.InputTimeoutTriggered(
                audio_start_ms=start * 1000 // STT_RATE,
                audio_end_ms=end * 1000 // STT_RATE,
                item_id=item_id,
            )
        )
        if self._detector is not None:
            self._detector.reset()
        self._drop_utterance()
        # The silence is committed as the user's turn, and the model answers it.
        self._commit(item_id, np.zeros(max(0, end - start), np.int16), respond=td.create_response)
