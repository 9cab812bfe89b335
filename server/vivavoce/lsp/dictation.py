"""Dictation into the editor's buffer: the words at the insertion point as they are said.

:class:`DictationWriter` owns what dictation has written: the utterance being said (its text
so far and what of it is in the buffer) and the utterances finished before it (for "undo
that"). Each transcript update of the user's utterance rewrites that utterance's words right
before the :class:`~.insertion.Inserter`'s anchor, so they follow the document through the
user's edits like any insertion; the final text (spoken punctuation and commands applied by
:func:`~vivavoce.conversation.dictation.dictate`, spoken identifiers written as code) replaces
the live words. Utterances are written one after the other, in the order they began; updates
that come faster than the editor applies edits are merged (only the newest text of an
utterance is written). An utterance's edits are one undo group (one undo step in clients that
join them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..conversation.dictation import dictate, place
from ..tasks import CloseOnce, TaskSet
from .insertion import Inserter

if TYPE_CHECKING:
    from ..realtime.transcript import TranscriptUpdate

log = logging.getLogger(__name__)

#: Finished utterances kept for "undo that".
UNDO_DEPTH = 50


@dataclass
class _Utterance:
    text: str = ""
    final: bool = False
    #: The document before the utterance's first word (None: not written yet).
    before: str | None = None
    #: What of it is in the buffer now, right before the anchor.
    shown: str = ""


class DictationWriter:
    """Writes the user's utterances into the inserter's document as they are said."""

    def __init__(
        self,
        inserter: Inserter,
        say: Callable[[str], None],
        to_code: Callable[[str], str] | None = None,
    ) -> None:
        self._inserter = inserter
        self._say = say
        #: Spoken identifiers written as code ("get user by id" → getUserById), as for the
        #: user's inserted turns (:meth:`vivavoce.tools.Toolbox.spoken_to_code`).
        self._to_code = to_code or (lambda text: text)
        self._open: dict[str, _Utterance] = {}  # in the order they began
        self._written: list[str] = []  # finished utterances as written, newest last
        self._wake = asyncio.Event()
        self._tasks = TaskSet("vivavoce dictation writer")
        self._worker: asyncio.Task[None] | None = None
        self._closing = CloseOnce()

    def update(self, update: TranscriptUpdate) -> None:
        """A transcript update of the user's utterance (a delta's text so far, or the final)."""
        if self._closing.started or not self._inserter.active:
            return
        utterance = self._open.setdefault(update.item_id, _Utterance())
        utterance.text, utterance.final = update.text, update.final or utterance.final
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = self._tasks.spawn(self._run(), "write")

    async def close(self) -> None:
        await self._closing.run(self._tasks.cancel_all)

    async def _run(self) -> None:
        while self._open:
            if not await self._step():
                self._wake.clear()
                await self._wake.wait()

    async def _step(self) -> bool:
        """One edit towards what was said; False when the buffer shows it all."""
        item_id, utterance = next(iter(self._open.items()))
        dictated = dictate(utterance.text, live=not utterance.final)
        if utterance.before is None:
            await self._inserter.settle()  # what is written so far, our last edit included
            utterance.before = self._inserter.before() or ""
        # Identifiers after place(): a sentence's capital does not reach an identifier.
        want = self._to_code(place(dictated.text, utterance.before))
        if want != utterance.shown:
            if await self._inserter.replace_before(utterance.shown, want, group=item_id):
                utterance.shown = want
            elif not self._inserter.active:  # refused (said by the inserter): stop writing
                self._open.clear()
            else:  # the user changed the words being written: write them anew after theirs
                utterance.shown, utterance.before = "", None
            return True
        if not utterance.final:
            return False
        del self._open[item_id]
        if dictated.undo:
            await self._undo()
        elif utterance.shown:
            self._written = [*self._written[-UNDO_DEPTH + 1 :], utterance.shown]
        return True

    async def _undo(self) -> None:
        """ "undo that": remove the utterance written last, if it is still right there."""
        last = self._written[-1] if self._written else None
        if last is not None and await self._inserter.replace_before(last, ""):
            self._written.pop()
        elif self._inserter.active:
            self._say("vivavoce: nothing to undo right before the cursor")
