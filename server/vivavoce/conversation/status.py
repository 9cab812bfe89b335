"""What an editor is shown of a conversation, and what a conversation needs from a sound card.

* :class:`Status` is sent as ``realtime/status`` on every change (the wire contract in DESIGN.md).
* :class:`AudioIO` is the microphone and speaker of one conversation; :mod:`vivavoce.audio`
  implements it with real devices, tests with memory.
* :class:`FinalTurn` is one finished line of the conversation, as it is kept and replayed;
  :class:`Turns` is all of them, in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, computed_field
from pydantic.alias_generators import to_camel

from ..voices import DEFAULT_VOICE
from .usage import UsageStatus

if TYPE_CHECKING:
    from ..rtc.tracks import AudioSink, Pcm, PcmSource
    from ..settings import Settings

__all__ = [
    "AudioFactory",
    "AudioIO",
    "AudioUse",
    "FinalTurn",
    "MessageLevel",
    "Microphone",
    "MicrophoneFactory",
    "Mode",
    "Role",
    "State",
    "Status",
    "Turns",
]

#: ``realtime`` (a spoken call), ``text`` (typed chat), ``dictation`` (written, not answered).
Mode = Literal["realtime", "text", "dictation"]
#: ``listening``: no call is open, and the microphone is listened to on this machine for the
#: wake word (:mod:`.wake`).
State = Literal["idle", "listening", "connecting", "live", "reconnecting", "closing", "error"]
MessageLevel = Literal["error", "warning", "info"]
Role = Literal["user", "assistant", "tool"]
#: What the microphone is doing for the conversation (``Status.audio``): ``live`` = a realtime
#: call is open and the microphone streams to it, billed by the minute (the LIVE badge);
#: ``dictating`` = what is said becomes text, not a conversation: dictation mode's transcription
#: session is open (the microphone streams to it), or text mode's push-to-talk key is down (the
#: microphone records a turn transcribed on release); ``off`` = neither. Text mode reading its
#: replies aloud over a realtime call of its own (:mod:`vivavoce.text.voice`) sends no
#: microphone: ``off``. ``wake`` = no call: the microphone is listened to on this machine for the
#: wake word only (nothing leaves the machine, nothing is billed).
AudioUse = Literal["live", "dictating", "wake", "off"]


class Status(BaseModel):
    """What an editor shows: sent as ``realtime/status`` on every change."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    state: State = "idle"
    mode: Mode = "realtime"
    voice: str = DEFAULT_VOICE
    model: str = ""
    muted: bool = False
    push_to_talk: bool = False
    input_level: float = 0.0
    #: Microphone blocks (20 ms) lost since the devices opened because the loop fell behind.
    input_dropped: int = 0
    #: Why the microphone/speaker are not in use (failed to open, or lost mid-call); the
    #: conversation goes on without them (text still works). None when they work or are off.
    audio_error: str | None = None
    call_id: str | None = None
    error: str | None = None
    #: What the conversation has cost so far (None until something was billed).
    usage: UsageStatus | None = None
    #: Set (the ``idleHangupSeconds`` it waited) when the call was hung up because nobody spoke:
    #: ``state`` is ``idle`` and the next push to talk, typed text or start calls again with the
    #: conversation replayed. Clients show "idle (hung up after 2 min)". None otherwise.
    hung_up_after: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def audio(self) -> AudioUse:
        """What the microphone is doing (:data:`AudioUse`): derived, so it is never out of step."""
        if self.mode == "realtime":
            # Muted, push-to-talk up or no devices: the call still streams (silence), still billed.
            if self.state == "listening":
                return "wake"
            return "live" if self.state == "live" else "off"
        if self.mode == "dictation":
            # A transcription session: the microphone streams to it, billed by the minute, and
            # what is said is written into the buffer, not answered.
            return "dictating" if self.state == "live" else "off"
        return "dictating" if self.push_to_talk else "off"

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class AudioIO(Protocol):
    """The user's microphone and speaker for one conversation (see :mod:`vivavoce.audio`)."""

    #: What the microphone captured, 48 kHz mono, ready for the outgoing track.
    source: PcmSource
    #: Receives the assistant's voice and plays it.
    sink: AudioSink
    #: When true, the microphone sends silence.
    muted: bool
    #: Told (on the loop) when the devices fail mid-call; the call goes on without them.
    on_problem: list[Callable[[Exception], None]]
    #: Told the total of microphone blocks lost so far because the loop fell behind.
    on_dropped: list[Callable[[int], None]]

    def play(self, samples: Any, rate: int) -> None:
        """Queue speech (text mode's spoken replies) on the speaker."""

    def flush(self) -> float:
        """Drop queued playback at once (interruption); returns the seconds dropped."""

    def start_recording(self, path: str | Path) -> object:
        """Record both sides from now on into a WAV file at ``path``."""

    async def close(self) -> None: ...


#: Opens the devices; ``on_level`` receives the input level (dBFS, ≤ 10 a second).
AudioFactory = Callable[["Settings", Callable[[float], None]], Awaitable[AudioIO]]


class Microphone(Protocol):
    """The microphone alone, while the wake word is listened for (no speaker, nothing sent):
    :class:`vivavoce.audio.listen.Microphone` with a real device."""

    @property
    def error(self) -> Exception | None:
        """Set when the device stopped on its own."""

    def take(self) -> Pcm | None:
        """What was captured since the last call (16 kHz mono), or None."""

    async def close(self) -> None:
        """Stop capturing (idempotent); what was captured can still be taken."""


#: Opens the microphone alone; ``on_level`` receives its level (dBFS).
MicrophoneFactory = Callable[["Settings", Callable[[float], None]], Awaitable[Microphone]]


@dataclass(frozen=True)
class FinalTurn:
    """One finished line of the conversation: what is kept, shown and given to a new call."""

    item_id: str
    role: Role
    text: str
    interrupted: bool = False


class Turns:
    """The finished lines of a conversation, in the order they were finished."""

    #: A line finalized again (marked interrupted when truncated) is one of the last few.
    REFINAL_WINDOW = 8

    def __init__(self) -> None:
        self._turns: list[FinalTurn] = []

    def __iter__(self) -> Iterator[FinalTurn]:
        return iter(self._turns)

    def __len__(self) -> int:
        return len(self._turns)

    def __getitem__(self, index: int) -> FinalTurn:
        return self._turns[index]

    def add(self, turn: FinalTurn) -> None:
        """Keep ``turn``; a line finalized again replaces its earlier entry (one entry each)."""
        recent = range(len(self._turns) - 1, max(-1, len(self._turns) - self.REFINAL_WINDOW), -1)
        for i in recent:
            if self._turns[i].item_id == turn.item_id:
                self._turns[i] = turn
                return
        self._turns.append(turn)

    def spoken(self, last: int) -> list[FinalTurn]:
        """The last ``last`` turns a model is given again (tool lines are notes for the user)."""
        spoken = [t for t in self._turns if t.role != "tool"]
        return spoken[-last:] if last > 0 else []

    @property
    def last_role(self) -> Role | None:
        """Who had the last turn ("user", "assistant" or "tool"), None before any."""
        return self._turns[-1].role if self._turns else None

    @property
    def last_item(self) -> str | None:
        return self._turns[-1].item_id if self._turns else None
