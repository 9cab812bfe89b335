"""Transcript insertion into the editor's buffer (and dictation's, through :mod:`.dictation`).

:class:`Inserter` owns the insertion point: a target document, its own copy of that document's
text, and an anchor (a character offset in it) that follows every change the editor reports
(``textDocument/didChange``), so that each final turn lands after the previous one even when
the user types meanwhile.

Editors report the same edit in different shapes: Neovim, for one, reports an inserted line as
"replace the next line with the new line plus that line". Each change is therefore first
reduced to its minimal form (common prefix and suffix trimmed) against our copy of the text,
then applied to the anchor. Text inserted exactly at the anchor goes before it ("sticky to the
right"), so our own echoed edits move it past what we inserted, and so does typing there.

Edits go out one at a time through ``workspace/applyEdit`` with plain ``changes`` (no version:
clients reject versioned edits that race with typing). A refused edit or an invalid position is
said once; transcripts keep flowing as notifications either way.

Our copy changes only through the editor's ``didChange``, our own edits included: an edit's echo
that comes late (a loaded machine, a debouncing client) is waited for before the next edit looks
at the copy, never applied by us meanwhile (the echo would then apply it a second time and the
anchor would land in the wrong place). Only an editor that never echoes gets our own update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Encoding = Literal["utf-8", "utf-16", "utf-32"]


@dataclass(frozen=True, order=True)
class Pos:
    line: int
    character: int


def text_units(text: str, encoding: Encoding) -> int:
    """Length of ``text`` in the position encoding's code units."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def advance(start: Pos, text: str, encoding: Encoding) -> Pos:
    """Where ``text`` inserted at ``start`` ends."""
    lines = text.split("\n")
    if len(lines) == 1:
        return Pos(start.line, start.character + text_units(text, encoding))
    return Pos(start.line + len(lines) - 1, text_units(lines[-1], encoding))


def to_offset(text: str, pos: Pos, encoding: Encoding) -> int | None:
    """The character offset of ``pos`` in ``text``; None when it lies outside."""
    lines = text.split("\n")
    if pos.line >= len(lines):
        return None
    offset = sum(len(line) + 1 for line in lines[: pos.line])
    line, units = lines[pos.line], 0
    for i, char in enumerate(line):
        if units >= pos.character:
            return offset + i if units == pos.character else None
        units += text_units(char, encoding)
    return offset + len(line) if units == pos.character else None


def to_pos(text: str, offset: int, encoding: Encoding) -> Pos:
    before = text[:offset]
    line = before.count("\n")
    return Pos(line, text_units(before[before.rfind("\n") + 1 :], encoding))


def minimal_change(old: str, start: int, end: int, new: str) -> tuple[int, int, str]:
    """``old[start:end] = new`` with the part that did not change trimmed off both ends."""
    replaced = old[start:end]
    prefix = 0
    while prefix < min(len(replaced), len(new)) and replaced[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(replaced), len(new)) - prefix
        and replaced[len(replaced) - 1 - suffix] == new[len(new) - 1 - suffix]
    ):
        suffix += 1
    return start + prefix, end - suffix, new[prefix : len(new) - suffix]


def move_anchor(anchor: int, start: int, end: int, new: str) -> int:
    """The anchor after ``[start, end)`` was replaced by ``new`` (sticky to the right)."""
    if anchor < start or (anchor == start and end > start):
        return anchor  # the change is after the anchor (or deletes forward from it)
    if anchor < end:
        return start + len(new)  # the anchor was inside the replaced range
    return anchor + len(new) - (end - start)


#: Replace the range ``start``–``end`` of the document ``uri`` with ``text``; the last argument
#: names the undo group of the edit (edits of one group are one undo step where the client
#: allows; None: a step of its own) → (applied, the editor's reason if not).
ReplaceText = Callable[[str, Pos, Pos, str, str | None], Awaitable[tuple[bool, str | None]]]
Say = Callable[[str], None]
#: A change as the editor reported it: (start, end, text), or None for "the whole text".
Change = tuple[Pos, Pos, str] | None


class Inserter:
    """Inserts final turns at a moving anchor in one document."""

    #: How long an edit waits for the client to echo it as a didChange before returning (its
    #: echo is then waited for before the next edit).
    ECHO_TIMEOUT = 1.0
    #: How long a late echo is waited for before the copy is updated without it (an editor that
    #: does not report server edits, against the protocol).
    LATE_ECHO_TIMEOUT = 5.0

    def __init__(self, replace: ReplaceText, say: Say, encoding: Encoding = "utf-16") -> None:
        self._replace = replace
        self._say = say
        self.encoding = encoding
        self.uri: str | None = None
        #: Our copy of the target document (None when the editor does not sync it).
        self.text: str | None = None
        #: The insertion point: an offset in ``text``, or a position when there is no text.
        self._offset = 0
        self._pos = Pos(0, 0)
        self._changed = asyncio.Event()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._stopped_reason: str | None = None
        #: Our last edit while its echo is late: (offset where the replaced text began, its
        #: length, the new text), in the copy as it was before the edit.
        self._unechoed: tuple[int, int, str] | None = None

    @property
    def anchor(self) -> Pos:
        return (
            to_pos(self.text, self._offset, self.encoding) if self.text is not None else self._pos
        )

    def target(self, uri: str, anchor: Pos, text: str | None) -> None:
        """Insert into ``uri`` from ``anchor`` on; ``text`` is the document as synced (or None)."""
        self.uri, self.text, self._pos = uri, text, anchor
        self._stopped_reason = None
        self._unechoed = None
        if text is not None:
            offset = to_offset(text, anchor, self.encoding)
            if offset is None:
                self._stop(f"line {anchor.line + 1} is not in the document")
                return
            self._offset = offset

    @property
    def active(self) -> bool:
        return self.uri is not None and self._stopped_reason is None

    def document_changed(self, uri: str, changes: list[Change], full_text: str | None) -> None:
        """Follow the user's (and our own, echoed) edits; ``full_text`` is the text after them."""
        if uri != self.uri:
            return
        self._unechoed = None  # a late echo is here (or the user's change, to be followed)
        text = self.text
        if text is None:  # the document was opened after the target was set
            if full_text is not None:
                self.text = full_text
                offset_of_pos = to_offset(full_text, self._pos, self.encoding)
                self._offset = len(full_text) if offset_of_pos is None else offset_of_pos
            self._changed.set()
            return
        offset = self._offset
        for change in changes:
            if change is None:  # the whole text was sent: diff it against our copy
                whole = text if full_text is None else full_text
                start, end, new = minimal_change(text, 0, len(text), whole)
            else:
                start_pos, end_pos, new = change
                start_at = to_offset(text, start_pos, self.encoding)
                end_at = to_offset(text, end_pos, self.encoding)
                if start_at is None or end_at is None or end_at < start_at:
                    break  # out of step with the editor: resynced below
                start, end, new = minimal_change(text, start_at, end_at, new)
            offset = move_anchor(offset, start, end, new)
            text = text[:start] + new + text[end:]
        if full_text is not None and text != full_text:
            log.debug("document copy out of step with the editor; resynced")
            text, offset = full_text, min(offset, len(full_text))
        self.text, self._offset = text, offset
        self._changed.set()

    def document_closed(self, uri: str) -> None:
        if uri == self.uri and self.active:
            self._stop("the document was closed")

    def insert(self, text: str) -> None:
        """Queue ``text``; edits are applied in order, one at a time."""
        if not self.active:
            return
        self._queue.put_nowait(text)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._drain(), name="vivavoce insert transcripts"
            )

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def _drain(self) -> None:
        while not self._queue.empty():
            text = self._queue.get_nowait()
            if self.active:
                await self._insert_one(text)

    async def _insert_one(self, text: str) -> None:
        await self.replace_before("", text)

    def before(self) -> str | None:
        """The document up to the insertion point (None: the editor does not sync it); after
        :meth:`settle` it shows every edit of ours."""
        return None if self.text is None else self.text[: self._offset]

    async def settle(self) -> None:
        """Return once our copy shows our last edit: its late echo came (or, from an editor
        that never echoes, :data:`LATE_ECHO_TIMEOUT` passed and the copy is updated here)."""
        unechoed = self._unechoed
        if unechoed is None:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), self.LATE_ECHO_TIMEOUT)
        except TimeoutError:
            if self._unechoed is unechoed and self.text is not None:
                log.info("the editor did not report our edit back; our copy is updated without it")
                begin, length, text = unechoed
                self.text = self.text[:begin] + text + self.text[begin + length :]
                self._offset = begin + len(text)
        if self._unechoed is unechoed:
            self._unechoed = None

    async def replace_before(self, old: str, text: str, group: str | None = None) -> bool:
        """Replace ``old``, the text right before the insertion point, with ``text`` (dictation's
        words as they grow); the point ends after ``text``. False when ``old`` is not there any
        more (the user changed it) or the edit was refused (said once, as for insertions).
        ``group``: the undo group of the edit (one utterance's edits are undone together)."""
        if not self.active or old == text:
            return self.active
        await self.settle()  # the copy must show our last edit before it is looked at
        if not self.active:
            return False
        assert self.uri is not None
        at = self.anchor
        before = self.text
        if before is not None:
            if not before[: self._offset].endswith(old):
                return False
            start = to_pos(before, self._offset - len(old), self.encoding)
        elif "\n" in old:
            return False  # not synced: where a line began is unknown
        else:
            start = Pos(at.line, at.character - text_units(old, self.encoding))
        self._changed.clear()
        try:
            applied, reason = await self._replace(self.uri, start, at, text, group)
        except Exception as exc:  # the client answered with an error
            applied, reason = False, str(exc)
        if not applied:
            self._stop(f"the editor refused the edit ({reason or 'no reason given'})")
            return False
        if before is None:  # the editor does not sync this document: move on ourselves
            self._pos = advance(start, text, self.encoding)
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), self.ECHO_TIMEOUT)
        except TimeoutError:  # late: the next edit (or settle()) waits for it
            log.debug("the editor's echo of our edit is late")
            self._unechoed = (self._offset - len(old), len(old), text)
        return True  # the echoed change moves the anchor past our text

    def _stop(self, reason: str) -> None:
        if self._stopped_reason is None:
            self._stopped_reason = reason
            self._say(
                f"vivavoce stopped inserting transcripts: {reason}. "
                "They still arrive as notifications."
            )


def format_turn(role: str, text: str, mode: str) -> str | None:
    """The text inserted for a final turn under ``insertTranscripts = mode`` (None: nothing)."""
    if mode == "none" or not text or role == "tool":  # tool lines are not dictation
        return None
    if mode == "assistant" and role != "assistant":
        return None
    if mode == "both":
        return f"{'You' if role == 'user' else 'Assistant'}: {text}\n"
    return f"{text}\n"


def lsp_range_to_pos(r: Any) -> tuple[Pos, Pos]:
    return Pos(r.start.line, r.start.character), Pos(r.end.line, r.end.character)
