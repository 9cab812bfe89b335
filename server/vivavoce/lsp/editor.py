"""The editor as the voice tools see it (:class:`vivavoce.tools.Editor`), over LSP.

Documents are the ones the client opened (``textDocument/didOpen``, kept in sync by pygls);
where the user works comes from ``realtime/context`` (or ``realtime/start``'s position); edits
go out as ``workspace/applyEdit``, so the editor shows them and may refuse them; code shown
goes out as ``realtime/code`` (:mod:`.shown`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..tools import Place
from .insertion import Encoding, Pos, to_offset, to_pos

if TYPE_CHECKING:
    from . import params as P

#: How long the editor may take to answer an edit (it may ask the user first).
EDIT_TIMEOUT = 60.0

#: Replace ``start``–``end`` of the document ``uri`` with ``text``, the edit named ``label``
#: → (applied, the editor's reason if not).
ReplaceRange = Callable[[str, Pos, Pos, str, str], Awaitable[tuple[bool, str | None]]]


class LspEditor:
    """Open documents, the cursor/selection the client reports, and edits through the client."""

    def __init__(
        self,
        documents: Callable[[], list[str]],
        text: Callable[[str], str | None],
        context: Callable[[], P.ContextParams | None],
        apply_edit: ReplaceRange,
        encoding: Callable[[], Encoding],
        *,
        show_code: Callable[[str, str, str | None], str],
    ) -> None:
        self._documents = documents
        self._text = text
        self._context = context
        self._apply_edit = apply_edit
        self._encoding = encoding
        self._show_code = show_code

    def documents(self) -> list[str]:
        return self._documents()

    def text(self, uri: str) -> str | None:
        return self._text(uri)

    def place(self) -> Place | None:
        ctx = self._context()
        if ctx is None:
            return None
        uri = ctx.text_document.uri
        text = self.text(uri)
        if text is None:
            return Place(uri, 0)  # the tools say it is not open
        selection = None
        if ctx.selection is not None:
            start = self._offset(text, ctx.selection.start.line, ctx.selection.start.character)
            end = self._offset(text, ctx.selection.end.line, ctx.selection.end.character)
            selection = (min(start, end), max(start, end))
        if ctx.position is not None:
            cursor = self._offset(text, ctx.position.line, ctx.position.character)
        else:
            cursor = selection[1] if selection else 0
        return Place(uri, cursor, selection)

    async def apply(self, uri: str, start: int, end: int, text: str, label: str) -> str | None:
        current = self.text(uri)
        if current is None:
            return "the document was closed"
        encoding = self._encoding()
        first, last = to_pos(current, start, encoding), to_pos(current, end, encoding)
        try:
            applied, reason = await asyncio.wait_for(
                self._apply_edit(uri, first, last, text, label), EDIT_TIMEOUT
            )
        except TimeoutError:
            return f"the editor did not answer within {EDIT_TIMEOUT:.0f} s"
        return None if applied else (reason or "no reason given")

    def show_code(self, language: str, code: str, title: str | None) -> str:
        return self._show_code(language, code, title)

    def _offset(self, text: str, line: int, character: int) -> int:
        """The offset of a position; past the end of a line or the text: clamped to it."""
        offset = to_offset(text, Pos(line, character), self._encoding())
        if offset is not None:
            return offset
        lines = text.split("\n")
        if line >= len(lines):
            return len(text)
        return sum(len(x) + 1 for x in lines[:line]) + len(lines[line])
