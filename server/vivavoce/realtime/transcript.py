"""Both sides' transcripts, assembled from events into ordered turns.

:class:`Transcript` owns the turns of one conversation. ``apply(event)`` returns the
:class:`TranscriptUpdate` s the event produced: one per delta (``delta`` set, ``final`` false)
and one when a turn completes (``final`` true, ``text`` the whole turn). Turns are ordered by
``previous_item_id`` links, not arrival time: a user's transcription often completes after the
assistant has started answering, or even finished (the real API creates the response at commit).

Finals come out in conversation order: the final of a turn that follows a user turn still being
transcribed is held until that user turn is final (its transcription completed or failed), so
whoever keeps final turns (the conversation, its history, the editor's buffer) never gets the
answer before the question. Deltas are never held. :meth:`Transcript.flush` releases what is
still held when the call ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import events as ev

#: ``tool``: a voice tool the assistant used (:mod:`vivavoce.tools`), one final line each.
Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True)
class TranscriptUpdate:
    """One change to a turn: a delta, or the final text."""

    item_id: str
    previous_item_id: str | None
    role: Role
    text: str
    delta: str | None = None
    final: bool = False
    interrupted: bool = False


@dataclass
class Turn:
    item_id: str
    role: Role
    previous_item_id: str | None = None
    text: str = ""
    final: bool = False
    interrupted: bool = False
    arrival: int = 0


class Transcript:
    """The ordered turns of one conversation (both sides)."""

    def __init__(self) -> None:
        self._turns: dict[str, Turn] = {}
        self._arrivals = 0
        #: Finals held back, by the id of the unfinished user turn they follow.
        self._held: dict[str, list[TranscriptUpdate]] = {}

    def __len__(self) -> int:
        return len(self._turns)

    def get(self, item_id: str) -> Turn | None:
        return self._turns.get(item_id)

    def turns(self) -> list[Turn]:
        """Turns in conversation order: each after the item it follows, roots by arrival."""
        children: dict[str | None, list[Turn]] = {}
        for turn in sorted(self._turns.values(), key=lambda t: t.arrival):
            parent = turn.previous_item_id if turn.previous_item_id in self._turns else None
            children.setdefault(parent, []).append(turn)
        ordered: list[Turn] = []
        stack = list(reversed(children.get(None, [])))
        while stack:
            turn = stack.pop()
            ordered.append(turn)
            stack.extend(reversed(children.get(turn.item_id, [])))
        return ordered

    def final_turns(self) -> list[Turn]:
        return [t for t in self.turns() if t.final and t.text]

    def apply(self, event: ev.ServerEvent) -> list[TranscriptUpdate]:
        """Fold one server event in; return the updates it makes, finals in conversation order."""
        released: list[TranscriptUpdate] = []
        for update in self._apply(event):
            released.extend(self._in_order(update))
        return released

    def flush(self) -> list[TranscriptUpdate]:
        """Every final still held (the call ended before the turn it follows was final)."""
        held = [u for updates in self._held.values() for u in updates]
        self._held.clear()
        return sorted(held, key=lambda u: self._turns[u.item_id].arrival)

    def _in_order(self, update: TranscriptUpdate) -> list[TranscriptUpdate]:
        if not update.final:
            return [update]
        before = self._turns.get(update.previous_item_id or "")
        if before is not None and before.role == "user" and not before.final:
            self._held.setdefault(before.item_id, []).append(update)
            return []
        # This turn is final now: what waited for it follows (and what waited for those).
        out = [update]
        for waiting in self._held.pop(update.item_id, []):
            out.extend(self._in_order(waiting))
        return out

    def _apply(self, event: ev.ServerEvent) -> list[TranscriptUpdate]:
        match event:
            case ev.InputCommitted(item_id=item_id, previous_item_id=prev):
                self._turn(item_id, "user", prev)
            case (
                ev.ItemAdded(item=item, previous_item_id=prev)
                | ev.ItemDone(item=item, previous_item_id=prev)
            ) if item.id and item.type == "message" and item.role in ("user", "assistant"):
                role: Role = "user" if item.role == "user" else "assistant"
                turn = self._turn(item.id, role, prev)
                text = "".join(p.text or "" for p in item.content or [] if p.type == "input_text")
                if text and role == "user" and not turn.final:
                    return [self._finish(turn, text)]
            case ev.InputTranscriptionDelta(item_id=item_id, delta=delta):
                return self._delta(self._turn(item_id, "user"), delta)
            case ev.InputTranscriptionCompleted(item_id=item_id, transcript=text):
                return [self._finish(self._turn(item_id, "user"), text.strip())]
            case ev.InputTranscriptionFailed(item_id=item_id):
                turn = self._turn(item_id, "user")
                return [self._finish(turn, turn.text)] if not turn.final else []
            case (
                ev.AudioTranscriptDelta(item_id=item_id, delta=delta)
                | ev.TextDelta(item_id=item_id, delta=delta)
            ):
                return self._delta(self._turn(item_id, "assistant"), delta)
            case (
                ev.AudioTranscriptDone(item_id=item_id, transcript=text)
                | ev.TextDone(item_id=item_id, text=text)
            ):
                return [self._finish(self._turn(item_id, "assistant"), text)]
            case ev.ItemTruncated(item_id=item_id):
                cut = self._turns.get(item_id)
                if cut is not None and not cut.interrupted:
                    cut.interrupted = True
                    return [self._update(cut, final=cut.final)]
            case ev.ResponseDone(response=response):
                return self._finish_response(response)
            case _:
                pass
        return []

    def _finish_response(self, response: ev.Response) -> list[TranscriptUpdate]:
        """A response that ended without a transcript ``done`` (cancelled) still ends its turns."""
        updates = []
        cancelled = response.status in ("cancelled", "incomplete")
        for item in response.output:
            turn = self._turns.get(item.id or "")
            if turn is None or turn.final:
                continue
            turn.interrupted = turn.interrupted or cancelled
            updates.append(self._finish(turn, turn.text))
        return updates

    def _turn(self, item_id: str, role: Role, previous: str | None = None) -> Turn:
        known = self._turns.get(item_id)
        if known is None:
            self._arrivals += 1
            known = self._turns[item_id] = Turn(item_id, role, arrival=self._arrivals)
        turn = known
        if previous is not None and turn.previous_item_id is None and previous != item_id:
            turn.previous_item_id = previous
        return turn

    def _delta(self, turn: Turn, delta: str) -> list[TranscriptUpdate]:
        if turn.final or not delta:  # a late delta after the final text changes nothing
            return []
        turn.text += delta
        return [self._update(turn, delta=delta)]

    def _finish(self, turn: Turn, text: str) -> TranscriptUpdate:
        turn.text = text
        turn.final = True
        return self._update(turn, final=True)

    @staticmethod
    def _update(turn: Turn, *, delta: str | None = None, final: bool = False) -> TranscriptUpdate:
        return TranscriptUpdate(
            item_id=turn.item_id,
            previous_item_id=turn.previous_item_id,
            role=turn.role,
            text=turn.text,
            delta=delta,
            final=final,
            interrupted=turn.interrupted,
        )
