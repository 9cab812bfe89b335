"""The conversation: one object that owns the mode, the turns, the status and the devices.

:class:`Conversation` is what an editor talks to, whatever the editor: the language server maps
its requests onto these methods and its callbacks onto notifications. It owns

* the mode: ``realtime`` (:class:`.RealtimeMode`: the call, barge-in, reconnection), ``text``
  (:class:`~vivavoce.text.turn.TextReply`: chat completions, spoken sentence by sentence) or
  ``dictation`` (:class:`.DictationMode`: a transcription session, written, never answered),
* the user's choices (:class:`.Choices`) over the configured settings, which it only reads,
* the turns so far (carried across calls and modes) and the history file they go to,
* the status an editor shows, and the microphone and speaker (:class:`.AudioIO`),
* the voice tools' runs (:mod:`vivavoce.tools`), in both modes.

Callbacks run on the event loop and must not block: ``on_status(Status)``,
``on_transcript(TranscriptUpdate)``, ``on_message(level, text)`` for one-line messages a user
should see (a call that dropped, a setting that was refused).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CallError, ConfigError, VivavoceError
from ..pricing import usd
from ..settings import Configuration, Settings
from ..tasks import CloseOnce, TaskSet
from .choices import Choices, dictation_session_for, session_for, transcription_for
from .dictation import DictationMode
from .endpoint import Endpoint
from .realtime_mode import RealtimeMode
from .status import (
    AudioFactory,
    AudioIO,
    FinalTurn,
    MessageLevel,
    Microphone,
    MicrophoneFactory,
    Mode,
    Status,
    Turns,
)
from .usage import BudgetEvent, Source, UsageMeter
from .wake import WakeWord

if TYPE_CHECKING:  # the call, its events and audio load when a call starts
    from ..pricing import Tokens
    from ..realtime import TranscriptUpdate
    from ..realtime import events as ev
    from ..store import ConversationLog
    from ..text.voice import Voice
    from ..tools import Toolbox

log = logging.getLogger(__name__)

#: Under this many samples (0.1 s at 48 kHz) a push-to-talk press said nothing.
MIN_DICTATION_SAMPLES = 4800
#: Seconds between input levels in the status while listening for the wake word.
WAKE_LEVEL_PERIOD = 1.0


class Conversation:
    """A spoken (or typed) conversation with one assistant, across calls and modes."""

    def __init__(
        self,
        config: Configuration | Settings,
        *,
        on_status: Callable[[Status], None] = lambda _: None,
        on_transcript: Callable[[TranscriptUpdate], None] = lambda _: None,
        on_message: Callable[[MessageLevel, str], None] = lambda *_: None,
        audio: AudioFactory | None = None,
        microphone: MicrophoneFactory | None = None,
        history: ConversationLog | None = None,
        tools: Toolbox | None = None,
    ) -> None:
        #: The configured settings: owned by whoever made them (the language server).
        self.config = config if isinstance(config, Configuration) else Configuration(config)
        self.config.on_change(self._settings_changed)
        self.choices = Choices.from_settings(self.settings)
        #: Where final turns are kept on disk (None: memory only).
        self.history = history
        #: The voice tools the assistant may use (None: no editor, no tools).
        self.tools = tools
        self.turns = Turns()
        self._on_status = on_status
        self._on_transcript = on_transcript
        self._on_message = on_message
        self._audio = audio
        #: The microphone alone, for the wake word (None: the devices' microphone stands in).
        self._microphone = microphone
        self._io: AudioIO | None = None
        self._status = Status(voice=self.choices.voice("realtime"), model=self.settings.model)
        # With real devices, the peer's speech work would starve the sound callbacks here.
        self.endpoint = Endpoint(
            self.config, separate_peer=audio is not None, on_peer_exit=self._peer_exited
        )
        self.busy = asyncio.Lock()
        #: What the conversation has cost, per conversation and per call, and its budget.
        self.usage = UsageMeter(
            lambda: self.settings,
            on_change=lambda usage: self.update(usage=usage),
            on_budget=self._budget,
            on_record=self._usage_record,
        )
        self.endpoint.on_usage = self._text_usage
        self._tasks = TaskSet("vivavoce conversation")
        self.realtime = RealtimeMode(self)
        self.dictation = DictationMode(self)
        #: Listens for the wake word while no call is open (setting ``wakeWord``).
        self.wake = WakeWord(self)
        self._text_tasks = TaskSet("vivavoce text")
        #: Text mode's voice, and the (speech model, voice) it speaks with.
        self._voice: Voice | None = None
        self._voice_of: tuple[str, str] | None = None
        self._ptt = False
        self._recordings = 0
        self._level_at = 0.0  # when the last input level was reported (listening: 1 a second)
        self._closing = CloseOnce()
        #: Replaced by the language server to report connect steps as progress.
        self.on_step: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ state

    @property
    def settings(self) -> Settings:
        return self.config.current

    @property
    def status(self) -> Status:
        return self._status

    @property
    def closed(self) -> bool:
        return self._closing.started

    @property
    def io(self) -> AudioIO | None:
        return self._io

    @property
    def has_devices(self) -> bool:
        """Whether this conversation may use a microphone and speaker at all."""
        return self._audio is not None

    def update(self, **changes: Any) -> None:
        new = self._status.model_copy(update=changes)
        if new != self._status:
            self._status = new
            self._on_status(new)
            self.wake.changed()

    def say(self, level: MessageLevel, text: str) -> None:
        self._on_message(level, text)

    def _enter(self, mode: Mode, **changes: Any) -> None:
        """Status for ``mode``: its voice and model, and any other ``changes``."""
        voice, model = self.choices.voice(mode), self.choices.model(mode, self.settings)
        self.update(mode=mode, voice=voice, model=model, **changes)

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        """New configured settings; a live call whose session would change is replaced."""
        self.choices.settings_changed(old, new)
        self._enter(self._status.mode)
        changed = (old.voice, old.model, old.instructions) != (
            new.voice,
            new.model,
            new.instructions,
        )
        if changed and self._status.mode == "realtime" and self._status.state == "live":
            self.realtime.replace("the voice or model changed")
        elif old.transcription != new.transcription:
            self.realtime.refresh_vocabulary()  # words or model: a session.update will do
            self.dictation.refresh_vocabulary()
        if (old.wake_word, old.wake_word_threshold) != (new.wake_word, new.wake_word_threshold):
            self.wake.changed()

    def session(self) -> ev.Session:
        """What the next call asks for (see :func:`.session_for`)."""
        specs = self.tools.specs() if self.tools is not None else []
        return session_for(self.settings, self.choices, specs, self.vocabulary())

    def vocabulary(self) -> list[str]:
        """The words the transcription should expect: the code in front of the user (from the
        editor the tools see) and the user's fixed words."""
        if self.tools is not None:
            return self.tools.vocabulary()
        from ..vocabulary import rank

        return rank([], self.settings.transcription.words)

    def transcription(self) -> ev.Transcription:
        """The transcription settings a call should have now (see :func:`.transcription_for`)."""
        return transcription_for(self.settings, self.vocabulary())

    def context_changed(self) -> None:
        """The editor's documents or cursor changed: the call's vocabulary follows between
        turns (a ``session.update``, no new call)."""
        self.realtime.refresh_vocabulary()
        self.dictation.refresh_vocabulary()

    def dictation_session(self) -> ev.Session:
        """What the next dictation call asks for (see :func:`.dictation_session_for`)."""
        return dictation_session_for(self.settings, self.choices, self.vocabulary())

    # ------------------------------------------------------------------ requests

    async def start(
        self,
        *,
        mode: Mode | None = None,
        voice: str | None = None,
        model: str | None = None,
        instructions: str | None = None,
    ) -> Status:
        """Start talking. While live, a second start changes nothing and returns the status."""
        async with self.busy:
            if self._status.state in ("live", "connecting"):
                return self._status
            self.wake.paused = False
            target: Mode = mode or self._status.mode
            if instructions:
                self.choices.instructions = instructions
            if model:
                self.choices.models[target] = model
            if voice and target != "dictation":  # dictation has no voice
                _, note = self.choices.voices.choose(target, voice)
                if note:
                    self.say("warning", f"vivavoce: {note}")
            if target == "realtime":
                self.check_budget()
            self._enter(target, error=None, hung_up_after=None)
            if target == "text":
                await self.open_audio()
                self.update(state="live")
            elif target == "dictation":
                await self.dictation.open()
            else:
                await self.realtime.open()
            return self._status

    async def stop(self) -> Status:
        """Stop talking (idempotent); the conversation's turns are kept."""
        async with self.busy:
            # Stopped while listening for the wake word: not listened for until the next start.
            self.wake.paused = self._status.state == "listening"
            await self.realtime.close()
            await self.dictation.close()
            await self._stop_text()
            await self._close_voice()
            await self._close_audio()
            self._ptt = False
            if self._status.state != "idle" or self._status.hung_up_after is not None:
                self.update(state="idle", call_id=None, push_to_talk=False, hung_up_after=None)
            return self._status

    async def toggle_mode(self) -> Status:
        """realtime ↔ text (dictation → realtime), keeping the conversation. A realtime call that
        fails rolls back."""
        async with self.busy:
            was_live = self._status.state in ("live", "connecting")
            if self._status.mode == "realtime":
                await self.realtime.close()
                state = "live" if was_live else "idle"
                self._enter(
                    "text", state=state, call_id=None, push_to_talk=False, hung_up_after=None
                )
                return self._status
            await self.dictation.close()
            await self._stop_text()
            await self._close_voice()  # one call at a time
            # A live text conversation becomes a call being opened: never "realtime, live"
            # before the call is (an editor would show LIVE while it still connects).
            self._enter("realtime", state="connecting" if was_live else self._status.state)
            if was_live:
                try:
                    self.check_budget()
                    await self.realtime.open()
                except VivavoceError as exc:
                    self.roll_back_to_text(exc)
            return self._status

    def roll_back_to_text(self, exc: VivavoceError, message: str | None = None) -> None:
        self._enter("text", state="live", error=str(exc), call_id=None)
        self.say("error", message or f"vivavoce stayed in text mode: {exc}")

    async def send_text(self, text: str) -> None:
        """A typed user turn; the reply streams back as transcript updates."""
        text = text.strip()
        if not text:
            raise ConfigError("nothing to send: the text is empty", key="text")
        if self._status.mode == "realtime":
            await self._call_again()
            await self.realtime.send_text(text)
            return
        if self._status.mode == "dictation":  # typed while dictating: written as if said
            self._dictated(text)
            return
        if self._status.state != "live":
            self.update(state="live", error=None)
        await self._text_turn(text)

    async def push_to_talk(self, pressed: bool) -> Status:
        """Press: clear the input and listen. Release: commit and ask for a reply.

        With the setting ``pushToTalk: toggle`` (editors with no key-up), each press flips.
        """
        if self.settings.push_to_talk == "toggle":
            if not pressed:
                return self._status
            pressed = not self._ptt
        if pressed == self._ptt:
            return self._status
        if self._status.mode == "text":
            await self._dictate(pressed)
            return self._status
        if self._status.mode == "dictation":
            if pressed:
                await self._call_again()  # hung up for silence: dictate again
            await self.dictation.push_to_talk(pressed)
        else:
            if pressed:
                await self._call_again()
            await self.realtime.push_to_talk(pressed)
        self._ptt = pressed
        self.gate_microphone()
        self.update(push_to_talk=pressed)
        return self._status

    async def mute(self, muted: bool) -> Status:
        self.update(muted=muted)
        self.gate_microphone()
        if self.realtime.call is not None and muted:
            self.realtime.call.source.clear()
        return self._status

    async def interrupt(self) -> Status:
        """Stop the assistant now: cancel the reply, clear the server's audio and ours."""
        if self._status.mode == "text":
            await self._stop_text()
        elif self._status.mode == "realtime":
            await self.realtime.interrupt()
        return self._status

    async def close(self) -> None:
        """End everything: the call, text replies, devices, the local peer, the HTTP client.

        Idempotent; a second caller returns once the first one's cleanup is done."""
        await self._closing.run(self._close)

    async def _close(self) -> None:
        await self._tasks.cancel_all()
        await self.wake.close()
        await self.realtime.close()
        await self.dictation.close()
        await self._stop_text()
        await self._close_voice()
        await self._close_audio()
        await self.endpoint.close()
        self.usage.close()
        if self.history is not None:
            await self.history.close()
        if self._status.state != "idle":
            self.update(state="idle", call_id=None)

    def _peer_exited(self, code: int) -> None:
        """The local peer process died: its call is over now (then reconnection starts anew)."""
        error = CallError(f"the local peer stopped (exit code {code})")
        self.realtime.end_with(error)
        self.dictation.end_with(error)

    # ------------------------------------------------------------------ cost

    def check_budget(self) -> None:
        """Refuse a new call once the conversation's budget is spent (text mode goes on)."""
        if self.usage.over_budget:
            budget = self.settings.max_cost_per_conversation_usd or 0.0
            raise ConfigError(
                f"this conversation reached its budget of {usd(budget)}; it continues in text "
                "mode (raise maxCostPerConversationUsd to call again)",
                key="maxCostPerConversationUsd",
            )

    async def _call_again(self) -> None:
        """The call (or dictation's session) was hung up for silence: call again (the
        conversation is replayed). After a hang-up the wake word may be listened for meanwhile
        (``listening``): the same."""
        if self._status.hung_up_after is not None and self._status.state in ("idle", "listening"):
            await self.start()

    def _budget(self, event: BudgetEvent, spent: float, budget: float) -> None:
        if event == "warning":
            self.say(
                "warning",
                f"vivavoce: this conversation has cost {usd(spent)}, "
                f"{spent / budget:.0%} of its budget of {usd(budget)}",
            )
            return
        calling = self._status.mode == "realtime" and self._status.state != "idle"
        then = (
            "the call ends and the conversation continues in text mode"
            if calling
            else "no new call is opened; text mode goes on"
        )
        self.say(
            "warning",
            f"vivavoce: this conversation reached its budget of {usd(budget)} ({usd(spent)}); "
            f"{then}",
        )
        self._tasks.spawn(self._end_call_over_budget(), "end the call: over budget")

    async def _end_call_over_budget(self) -> None:
        async with self.busy:
            if self._status.mode != "realtime":
                return
            was_live = self._status.state in ("live", "connecting", "reconnecting")
            await self.realtime.close()
            self._enter(
                "text", state="live" if was_live else "idle", call_id=None, push_to_talk=False
            )

    def _text_usage(self, kind: str, model: str, usage: Any, item_id: str | None = None) -> None:
        """Usage of text mode's requests (chat completions, against their reply's line;
        push-to-talk transcriptions; the realtime voice reading replies aloud)."""
        if kind == "chat":
            self.usage.chat(model, usage, item_id)
        elif kind == "response":
            self.usage.response(model, usage)
        else:
            self.usage.transcription(model, usage)

    def _text_spoken(self, seconds: float) -> None:
        """Seconds of text mode's voice played (the voice's own call or speech requests)."""
        self.usage.audio(spoken=seconds)

    def _usage_record(
        self, source: Source, model: str, tokens: Tokens, item_id: str | None
    ) -> None:
        """Each priced report goes to the history, beside the turn it was for."""
        if self.history is None:
            return
        from ..store.records import UsageRecord

        self.history.append(
            UsageRecord(
                source=source,
                item_id=item_id,
                model=model,
                mode=self._status.mode,
                input_tokens=tokens.input_tokens,
                output_tokens=tokens.output_tokens,
                cost_usd=round(tokens.cost_usd, 8),
            )
        )

    # ------------------------------------------------------------------ text mode

    async def _stop_text(self) -> None:
        """Cancel a text reply being written or spoken, and silence the speaker."""
        await self._text_tasks.cancel_all()
        if self._voice is not None:
            await self._voice.hush()
        if self._io is not None:
            self._io.flush()

    async def _text_turn(self, text: str) -> None:
        from ..realtime import TranscriptUpdate
        from ..realtime import events as ev
        from ..text.chat import Message
        from ..text.turn import TextReply

        user = TranscriptUpdate(
            item_id=ev.new_id("item"),
            previous_item_id=self.turns.last_item,
            role="user",
            text=text,
            final=True,
        )
        self.transcript(user)
        settings = self.settings
        system = Message(role="system", content=self.choices.instructions_for(settings))
        turns = self.turns.spoken(settings.replay_turns * 2)
        messages = [system] + [Message(role=t.role, content=t.text) for t in turns]
        reply = TextReply(
            await self.endpoint.chat(),
            self.choices.model("text", settings),
            messages,
            after=user.item_id,
            tools=self.tools.specs() if self.tools is not None else [],
            run_tool=self.run_tool,
            on_update=self.transcript,
            on_message=lambda line: self.say("warning", line),
            on_code=self.show_code if self.tools is not None else None,
        )
        io = self._io
        await reply.run(self._text_tasks, await self._text_voice(io) if io else None)

    async def _text_voice(self, io: AudioIO) -> Voice:
        """Text mode's voice (kept while its model and voice stay the same)."""
        from ..text.voice import HttpVoice, RealtimeVoice, is_realtime_model

        model, name = self.settings.speech_model, self.choices.voice("text")
        if self._voice is not None and self._voice_of == (model, name):
            return self._voice
        await self._close_voice()
        voice: Voice
        if is_realtime_model(model):
            voice = RealtimeVoice(
                await self.endpoint.call_options(),
                model=model,
                voice=self.choices.voices.catalog.map(name, "realtime"),
                sink=io.sink,
                http=self.endpoint.http(),
                on_usage=self._text_usage,
                on_spoken=self._text_spoken,
            )
        else:
            voice = HttpVoice(await self.endpoint.speech(), name, io.play, self._text_spoken)
        self._voice, self._voice_of = voice, (model, name)
        return voice

    async def _close_voice(self) -> None:
        voice, self._voice = self._voice, None
        if voice is not None:
            await voice.close()

    async def _dictate(self, pressed: bool) -> None:
        """Text mode's push-to-talk: the press records, the release transcribes a turn."""
        io = self._io or await self.open_audio()
        if io is None:
            raise ConfigError("push to talk needs a microphone, and none is available")
        self._ptt = pressed
        self.gate_microphone()
        self.update(push_to_talk=pressed)
        if pressed:
            await self._stop_text()
            io.source.clear()
            return
        samples = io.source.take_all()
        io.source.clear()
        if samples is None or samples.size < MIN_DICTATION_SAMPLES:
            return
        speech = await self.endpoint.speech()
        tr = self.transcription()  # with the words of the code in front of the user
        text = await speech.transcribe(
            samples,
            48000,
            tr.model or "whisper-1",
            tr.language,
            prompt=tr.prompt,
            keywords=tr.keywords,
        )
        if text:
            await self._text_turn(text)

    def _dictated(self, text: str) -> None:
        from ..realtime import TranscriptUpdate
        from ..realtime import events as ev

        item = ev.new_id("item")
        self.transcript(TranscriptUpdate(item, self.turns.last_item, "user", text, final=True))

    # ------------------------------------------------------------------ tools, transcript

    def show_code(self, language: str, code: str) -> None:
        """A code block of a text reply: shown in the editor, as ``show_code`` does."""
        if self.tools is not None:
            self.tools.show(language, code)

    async def run_tool(self, name: str, arguments: str | None, item_id: str | None) -> str:
        """One tool call: run it (or refuse: no editor), add its line to the transcript."""
        from ..realtime import TranscriptUpdate
        from ..realtime import events as ev

        if self.tools is None:
            output, summary = '{"error": "no editor is connected"}', f"{name}: no editor"
        else:
            result = await self.tools.run(name, arguments)
            output, summary = result.output_json, result.summary
        self.transcript(
            TranscriptUpdate(
                item_id=item_id or ev.new_id("item"),
                previous_item_id=self.turns.last_item,
                role="tool",
                text=summary,
                final=True,
            )
        )
        return output

    def transcript(self, update: TranscriptUpdate) -> None:
        """A transcript update of any line: kept when final, shown, written to the history."""
        if update.final and update.text:
            self.turns.add(FinalTurn(update.item_id, update.role, update.text, update.interrupted))
            if self.history is not None:  # a write error is reported by the log itself
                status = self._status
                self.history.turn(update, mode=status.mode, voice=status.voice, model=status.model)
        self._on_transcript(update)

    # ------------------------------------------------------------------ devices

    async def open_audio(self) -> AudioIO | None:
        """The microphone and speaker, or None (silence in, nothing out) when unavailable."""
        if self._audio is None:
            return None
        if self._io is None:
            try:
                self._io = io = await self._audio(self.settings, self._on_level)
            except VivavoceError as exc:
                self.update(audio_error=str(exc))
                self.say("warning", f"vivavoce: no audio devices ({exc}); text still works")
                return None
            self.update(audio_error=None)
            io.on_problem.append(self._on_audio_problem)  # the call goes on without them
            io.on_dropped.append(lambda total: self.update(input_dropped=total))
            if self.settings.record and self.history is not None:
                # Both sides, to ``<history>/<conversation id>-<n>.wav``.
                self._recordings += 1
                io.start_recording(
                    self.history.folder / f"{self.history.id}-{self._recordings}.wav"
                )
            self.gate_microphone()
        return self._io

    async def open_microphone(self) -> Microphone | None:
        """The microphone alone, while the wake word is listened for (no speaker: it costs a
        fraction of the call's devices), or None when unavailable (the status says why). With
        no microphone factory the call's devices stand in (:class:`.wake.DevicesMicrophone`)."""
        from .wake import DevicesMicrophone

        if self._audio is None:
            return None
        if self._microphone is None:
            io = await self.open_audio()
            return DevicesMicrophone(io) if io is not None else None
        await self._close_audio()  # no call: the call's devices are not wanted meanwhile
        try:
            mic = await self._microphone(self.settings, self._on_level)
        except VivavoceError as exc:
            self.update(audio_error=str(exc))
            self.say("warning", f"vivavoce: no microphone ({exc}); text still works")
            return None
        self.update(audio_error=None)
        return mic

    def gate_microphone(self) -> None:
        """Muted, or push-to-talk with the key up: the microphone sends silence. (Listening for
        the wake word, only muting silences it.)"""
        if self._io is not None:
            ptt_closed = self.settings.push_to_talk != "off" and not self._ptt
            ptt_closed = ptt_closed and self._status.state != "listening"
            self._io.muted = self._status.muted or ptt_closed

    async def close_audio(self) -> None:
        """Close the microphone and speaker (the wake word stopped listening, no call)."""
        await self._close_audio()

    async def _close_audio(self) -> None:
        io, self._io = self._io, None
        if io is not None:
            await io.close()
        self.update(input_level=0.0, input_dropped=0, audio_error=None)

    def _on_audio_problem(self, exc: Exception) -> None:
        self.update(audio_error=str(exc), input_level=0.0)
        self.say("warning", f"vivavoce: {exc}")

    def _on_level(self, dbfs: float) -> None:
        if self._status.state == "listening":
            # Waiting for the wake word may last all day: the level once a second is enough.
            now = time.monotonic()
            if now - self._level_at < WAKE_LEVEL_PERIOD:
                return
            self._level_at = now
        self.update(input_level=round(dbfs, 1))
