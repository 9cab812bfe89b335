"""Dictation mode: what the user says is written, not answered.

Two parts:

* :func:`dictate` and :func:`place`, pure: one utterance's transcript with its spoken
  punctuation and commands applied ("period" → ``.``, "new line" → a line break, "undo that",
  "stop dictation"), and where it goes after the text already written (a space between words, a
  capital to start a sentence). The language server writes with them (``lsp/dictation.py``).
* :class:`DictationMode`: the conversation's transcription session (the API's
  ``session.type: "transcription"``: no assistant, no spoken reply) over one
  :class:`~vivavoce.realtime.Call`. Its transcript (deltas, then each utterance's final) goes to
  the conversation like any other; "stop dictation" ends it. Push-to-talk commits a turn. The
  words of the code in front of the user follow the editor between utterances (a
  ``session.update`` of the transcription, as in realtime mode). A call that drops is replaced
  (backing off, as realtime mode does) without losing words: the utterance it was transcribing
  ends with the words shown so far, and what the user says meanwhile waits in the microphone's
  queue for the new call. What it costs is counted as realtime mode's calls are (the usage each
  finished transcription reports, the seconds heard), and a session in which nobody spoke for
  ``idleHangupSeconds`` is hung up (``Status.hung_up_after``): the next push to talk or start
  opens a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError, VivavoceError
from ..tasks import TaskSet
from .host import Activity, Heard, ModeHost, keep_vocabulary, reopen

if TYPE_CHECKING:
    from ..realtime import Call, CallState
    from ..realtime import events as ev
    from .endpoint import Endpoint
    from .status import MessageLevel, Status
    from .usage import UsageMeter

log = logging.getLogger(__name__)

#: Spoken punctuation: the words (lower case) and the mark written, attached to the word before.
PUNCTUATION: dict[tuple[str, ...], str] = {
    ("period",): ".",
    ("full", "stop"): ".",
    ("comma",): ",",
    ("question", "mark"): "?",
    ("exclamation", "mark"): "!",
    ("exclamation", "point"): "!",
    ("colon",): ":",
    ("semicolon",): ";",
}
#: Spoken line breaks.
BREAKS: dict[tuple[str, ...], str] = {
    ("new", "line"): "\n",
    ("newline",): "\n",
    ("new", "paragraph"): "\n\n",
}
#: "undo that": the utterance's own words before it, or (said alone) the utterance before.
UNDO: frozenset[tuple[str, ...]] = frozenset({("undo", "that"), ("scratch", "that")})
#: "stop dictation": what came before it is written, then dictation ends.
STOP: frozenset[tuple[str, ...]] = frozenset({("stop", "dictation"), ("stop", "listening")})
_LONGEST = max(len(p) for p in [*PUNCTUATION, *BREAKS, *UNDO, *STOP])
#: The first words of the spoken commands of two words or more ("new" of "new line").
_COMMAND_STARTS = frozenset(
    p[:i] for p in [*PUNCTUATION, *BREAKS, *UNDO, *STOP] for i in range(1, len(p))
)
#: Punctuation a transcription model put on a word; a spoken mark replaces it.
_MARKS = ".,?!:;"
_SENTENCE_END = ".?!\n"
#: More calls than this dropping within a minute: the server is broken; stop reconnecting.
MAX_DROPS_PER_MINUTE = 5
#: How long the dropped call's last transcripts are waited for before a new call opens.
LAST_WORDS_TIMEOUT = 2.0


@dataclass(frozen=True)
class Dictated:
    """One utterance as written: its text, and the commands it gave."""

    text: str
    #: "undo that" said alone: remove the utterance before this one.
    undo: bool = False
    #: "stop dictation": end dictation once ``text`` is written.
    stop: bool = False


def _word(token: str) -> str:
    return token.strip(_MARKS + "\"'").lower()


def dictate(transcript: str, *, live: bool = False) -> Dictated:
    """``transcript`` (one utterance, as a recognizer or a transcription model wrote it) with its
    spoken punctuation, line breaks and commands applied. ``live``: the utterance is still being
    said, and words at its end that may begin a spoken command ("new" of "new line") wait for
    the next word (else they would show, then turn into a mark).

    >>> dictate("the code is ready period new line we fixed it").text
    'the code is ready.\\nWe fixed it'
    >>> dictate("the code is ready period new", live=True).text
    'the code is ready.'
    """
    tokens = transcript.split()
    words = [_word(t) for t in tokens]
    if live:
        for size in range(min(_LONGEST - 1, len(words)), 0, -1):
            if tuple(words[-size:]) in _COMMAND_STARTS:
                del tokens[-size:], words[-size:]
                break
    out = ""
    undo = stop = False
    i = 0
    while i < len(tokens):
        for size in range(min(_LONGEST, len(tokens) - i), 0, -1):
            phrase = tuple(words[i : i + size])
            if phrase in PUNCTUATION:
                out = out.rstrip(" ").rstrip(_MARKS) + PUNCTUATION[phrase]
            elif phrase in BREAKS:
                out = out.rstrip(" ") + BREAKS[phrase]
            elif phrase in UNDO:
                undo, out = not out.strip(), ""  # alone: the utterance before; else: this one's
            elif phrase in STOP:
                stop = True
            else:
                continue
            i += size
            break
        else:
            token = tokens[i]
            if out and out[-1] not in "\n ":
                out += " "
            if out.rstrip(" ")[-1:] in tuple(_SENTENCE_END):  # the start is place()'s to say
                token = _capital(token)
            out += token
            i += 1
        if stop:
            break
    return Dictated(out.strip(" "), undo=undo, stop=stop)


def _capital(word: str) -> str:
    return word[:1].upper() + word[1:]


_STARTS_ATTACHED = re.compile(r"^[.,?!:;\n]")


def place(text: str, before: str) -> str:
    """``text`` as written right after ``before`` (the document up to the insertion point): a
    space after a word, a capital where a sentence starts (the document's start, after ``.?!``
    or a line break)."""
    if not text:
        return ""
    ending = before.rstrip(" \t")
    if not ending or ending[-1] in _SENTENCE_END:
        text = _capital(text)
    if before and before[-1] not in " \t\n" and not _STARTS_ATTACHED.match(text):
        text = " " + text
    return text


# --------------------------------------------------------------------------- the mode


class Host(ModeHost, Protocol):
    """What dictation needs from its conversation."""

    endpoint: Endpoint
    #: What the conversation has cost so far.
    usage: UsageMeter
    #: Held while the mode or the call changes (requests, reconnection).
    busy: asyncio.Lock
    on_step: Callable[[str], None] | None

    def say(self, level: MessageLevel, text: str) -> None: ...
    def dictation_session(self) -> ev.Session: ...
    def transcript(self, update: Any) -> None: ...
    async def stop(self) -> Status: ...


class DictationMode:
    """The transcription session of one conversation (one call at a time)."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.call: Call | None = None
        self._tasks = TaskSet("vivavoce dictation")
        #: Set when the call's vocabulary may be stale (the editor changed, an utterance ended).
        self._vocabulary_stale = asyncio.Event()
        #: Clear while an utterance is being transcribed (its deltas came, its final not yet).
        self._between_utterances = asyncio.Event()
        self._between_utterances.set()
        self._follower: asyncio.Task[None] | None = None  # the current call's transcripts
        self._drops: list[float] = []  # when calls dropped (to stop a reconnect loop)
        #: When the user last spoke, for the idle hang-up.
        self._activity = Activity()
        #: The user's speech: the seconds heard and transcriptions, for the usage.
        self._heard = Heard(host.usage, self._activity)

    async def open(self) -> None:
        """A transcription call; LIVE once connected (the microphone is written from then on)."""
        from ..realtime import Call

        host = self._host
        if host.settings.dialect == "beta":
            raise ConfigError("dictation needs the GA Realtime API (dialect 'ga')", key="dialect")
        reconnecting = host.status.state == "reconnecting"
        if not reconnecting:
            host.update(mode="dictation", state="connecting", error=None)
        try:
            options = await host.endpoint.call_options()
            io = await host.open_audio()
            call = Call(
                host.dictation_session(),
                options,
                http=host.endpoint.http(),
                source=io.source if io else None,
                on_state=self._on_call_state,
                on_step=host.on_step,
            )
            self.call = call
            await call.start()
        except VivavoceError as exc:
            self.call = None
            if not reconnecting:
                host.update(state="error", error=str(exc), call_id=None)
            raise
        host.usage.new_call()
        self._activity.touch()
        self._heard.reset()
        self._follower = self._tasks.spawn(self._follow(call), "transcripts")
        self._tasks.spawn(self._count(call), "usage")
        self._tasks.spawn(self._keep_vocabulary(call), "vocabulary")
        self._tasks.spawn(self._hang_up_when_idle(call), "idle hang-up")
        host.gate_microphone()
        host.update(state="live", call_id=call.call_id, error=None)

    async def close(self, *, keep_state: bool = False) -> None:
        """Hang up (if a call is open) and stop following it."""
        call, self.call = self.call, None
        if call is not None:
            if not keep_state:
                self._host.update(state="closing")
            await call.close()
        await self._tasks.cancel_all()

    def end_with(self, error: VivavoceError) -> None:
        if self.call is not None:
            self.call.fail(error)

    async def _follow(self, call: Call) -> None:
        """Every transcript update to the conversation; "stop dictation" ends the session. When
        the call ends, an utterance it had not finished ends with the words it sent so far."""
        from ..realtime import TranscriptUpdate

        with contextlib.suppress(VivavoceError):
            async for update in call.transcripts():
                self._host.transcript(update)
                if update.role != "user":
                    continue
                self._activity.touch()
                if not update.final:
                    self._between_utterances.clear()
                    continue
                self._between_utterances.set()
                self._vocabulary_stale.set()  # the user may have moved meanwhile
                if dictate(update.text).stop:
                    self._tasks.spawn(self._host.stop(), "stop dictation")
        for turn in call.transcript.turns():
            if turn.role == "user" and not turn.final and turn.text.strip():
                self._host.transcript(
                    TranscriptUpdate(
                        turn.item_id, turn.previous_item_id, "user", turn.text.strip(), final=True
                    )
                )
        self._between_utterances.set()

    async def _count(self, call: Call) -> None:
        """The usage of each finished transcription, and the seconds of speech heard (as
        realtime mode counts its calls); speech keeps the session from being idle."""
        with contextlib.suppress(VivavoceError):
            async for event in call.events():
                self._heard.observe(call, event)

    async def _hang_up_when_idle(self, call: Call) -> None:
        """Close a session in which nobody spoke for ``idleHangupSeconds``: billing stops; the
        next push to talk or start dictates again."""

        def busy() -> bool:  # an utterance is being said or transcribed, or the key is down
            return self._heard.speaking or not self._between_utterances.is_set()

        await self._activity.hang_up_when_idle(
            self._host,
            busy,
            lambda: self.call is call,
            lambda: self.close(keep_state=True),
            said="dictation hung up",
            then="push to talk or start dictation to go on",
        )

    def refresh_vocabulary(self) -> None:
        """The editor's documents or cursor changed: compare the call's vocabulary at the next
        utterance boundary."""
        self._vocabulary_stale.set()

    async def _keep_vocabulary(self, call: Call) -> None:
        """Between utterances, give the call the words of the code in front of the user when
        they changed: a ``session.update`` of its transcription, not a new call."""
        await keep_vocabulary(
            call,
            lambda: self.call,
            self._vocabulary_stale,
            self._between_utterances,
            lambda: self._host.dictation_session().audio.input.transcription,
        )

    def _on_call_state(self, state: CallState, error: VivavoceError | None) -> None:
        from ..realtime import CallState

        host = self._host
        if state is not CallState.ERROR or error is None or host.status.state != "live":
            return
        # The call ended on its own (server gone, channel closed, session expired).
        self.call = None
        now = time.monotonic()
        self._drops = [t for t in self._drops if now - t < 60] + [now]
        if host.settings.reconnect_attempts > 0 and len(self._drops) <= MAX_DROPS_PER_MINUTE:
            self._tasks.spawn(self._recover(error), "recover call")
            return
        host.update(state="error", error=str(error), call_id=None, push_to_talk=False)
        host.say("error", f"vivavoce: dictation ended: {error}")

    async def _recover(self, error: VivavoceError) -> None:
        """New calls, backing off, once the dropped call's last words are written; then the
        error, said once."""
        host = self._host
        async with host.busy:
            if self.call is not None or host.closed or host.status.mode != "dictation":
                return
            host.update(state="reconnecting", error=str(error), call_id=None, push_to_talk=False)
            follower = self._follower
            if follower is not None:
                await asyncio.wait([follower], timeout=LAST_WORDS_TIMEOUT)
            last = await reopen(
                self.open,
                error,
                attempts=host.settings.reconnect_attempts,
                on_retry=lambda exc: host.update(state="reconnecting", error=str(exc)),
                what="dictation",
            )
            if last is None:
                return
            host.update(state="error", error=str(last), call_id=None)
            host.say("error", f"vivavoce: dictation ended ({error}) and could not resume ({last})")

    async def push_to_talk(self, pressed: bool) -> None:
        """Press: no more automatic turns, clear the input. Release: the utterance is committed
        and transcribed (with no microphone nothing was said: cleared)."""
        from ..errors import CallError
        from ..realtime import CallState
        from ..realtime import events as ev

        call = self.call
        if call is None or call.state is not CallState.LIVE:
            raise CallError("cannot push to talk: dictation is not live (start it first)")
        self._heard.key(pressed)
        if pressed:
            if call.session.audio.input.turn_detection is not None:
                call.session.audio.input.turn_detection = None  # the user decides the turns
                await call.send(ev.SessionUpdate(session=call.session))
            await call.send(ev.InputClear())
            call.source.clear()
        elif self._host.io is not None:
            await call.send(ev.InputCommit())
        else:
            await call.send(ev.InputClear())
