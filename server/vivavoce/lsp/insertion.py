"""Transcript insertion into the editor's buffer.

:class:`Inserter` owns the insertion point: a document and an :class:`Anchor` that follows
the user's edits (``textDocument/didChange``) so that each final turn lands after the previous
one even when the user types meanwhile. Text inserted exactly at the anchor goes before it
(the anchor is "sticky to the right"); our own edits therefore move it past what we inserted,
whether the client echoes them back as a change or not.

Edits go out one at a time through ``workspace/applyEdit`` with plain ``changes`` (no version:
clients reject versioned edits that race with typing). A refused edit or an invalid position is
said once; transcripts keep flowing as notifications either way.
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


def transform(anchor: Pos, start: Pos, end: Pos, text: str, encoding: Encoding) -> Pos:
    """The anchor after ``[start, end)`` was replaced by ``text``."""
    if anchor < start or (anchor == start and end > start):
        return anchor  # the change is after the anchor (or starts there and deletes forward)
    new_end = advance(start, text, encoding)
    if anchor < end:
        return new_end  # the anchor was inside the replaced range
    if anchor.line == end.line:
        return Pos(new_end.line, new_end.character + anchor.character - end.character)
    return Pos(anchor.line + new_end.line - end.line, anchor.character)


ApplyEdit = Callable[[str, Pos, str], Awaitable[tuple[bool, str | None]]]
Say = Callable[[str], None]


class Inserter:
    """Inserts final turns at a moving anchor in one document."""

    #: How long to wait for the client to echo our edit as a didChange before moving on.
    ECHO_TIMEOUT = 1.0

    def __init__(self, apply_edit: ApplyEdit, say: Say, encoding: Encoding = "utf-16") -> None:
        self._apply_edit = apply_edit
        self._say = say
        self.encoding = encoding
        self.uri: str | None = None
        self.anchor: Pos | None = None
        self._lines: Callable[[], list[str] | None] = lambda: None
        self._changed = asyncio.Event()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._stopped_reason: str | None = None

    def target(self, uri: str, anchor: Pos, lines: Callable[[], list[str] | None]) -> None:
        """Insert into ``uri`` from ``anchor`` on; ``lines`` reads the synced document text."""
        self.uri, self.anchor, self._lines = uri, anchor, lines
        self._stopped_reason = None

    def clear(self) -> None:
        self.uri = self.anchor = None

    @property
    def active(self) -> bool:
        return self.uri is not None and self._stopped_reason is None

    def document_changed(self, uri: str, changes: list[tuple[Pos, Pos, str] | None]) -> None:
        """Follow the user's (and our own, echoed) edits. ``None`` = whole-document change."""
        if uri != self.uri or self.anchor is None:
            return
        for change in changes:
            if change is None:
                continue  # full text replaced: keep the position; insert() checks it is valid
            start, end, text = change
            self.anchor = transform(self.anchor, start, end, text, self.encoding)
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
        assert self.uri is not None and self.anchor is not None
        lines = self._lines()
        if lines is not None and not _valid(self.anchor, lines, self.encoding):
            self._stop(f"line {self.anchor.line + 1} is no longer in the document")
            return
        at = self.anchor
        self._changed.clear()
        try:
            applied, reason = await self._apply_edit(self.uri, at, text)
        except Exception as exc:  # the client answered with an error
            applied, reason = False, str(exc)
        if not applied:
            self._stop(f"the editor refused the edit ({reason or 'no reason given'})")
            return
        if lines is not None:
            try:
                await asyncio.wait_for(self._changed.wait(), self.ECHO_TIMEOUT)
                return  # the echoed change moved the anchor past our text
            except TimeoutError:
                pass
        if self.anchor == at:  # no echo (document not synced): move past our text ourselves
            self.anchor = advance(at, text, self.encoding)

    def _stop(self, reason: str) -> None:
        if self._stopped_reason is None:
            self._stopped_reason = reason
            self._say(
                f"vivavoce stopped inserting transcripts: {reason}. "
                "They still arrive as notifications."
            )


def _valid(pos: Pos, lines: list[str], encoding: Encoding) -> bool:
    if pos.line > len(lines) or (pos.line == len(lines) and pos.character > 0):
        return False
    if pos.line == len(lines):
        return True
    return pos.character <= text_units(lines[pos.line].rstrip("\r\n"), encoding)


def format_turn(role: str, text: str, mode: str) -> str | None:
    """The text inserted for a final turn under ``insertTranscripts = mode`` (None: nothing)."""
    if mode == "none" or not text or (mode == "assistant" and role != "assistant"):
        return None
    if mode == "both":
        return f"{'You' if role == 'user' else 'Assistant'}: {text}\n"
    return f"{text}\n"


def lsp_range_to_pos(r: Any) -> tuple[Pos, Pos]:
    return Pos(r.start.line, r.start.character), Pos(r.end.line, r.end.character)
