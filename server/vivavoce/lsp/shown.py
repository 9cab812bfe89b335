"""Code the assistant showed (``show_code``, a text reply's code block): kept for ``insertCode``.

Each piece is sent to the editor as a ``realtime/code`` notification ``{id, language, code,
title?}`` (Neovim opens a scratch buffer, VS Code an untitled document beside the editor, the
web page a code block) and kept here, the last :data:`KEPT` of them, so that
``vivavoce.insertCode`` can put the last one (or the one with a given id) at the cursor.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import count
from typing import Any

#: How many shown pieces of code can still be inserted by id.
KEPT = 32


@dataclass(frozen=True)
class Code:
    id: str
    language: str
    code: str
    title: str | None = None

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "language": self.language, "code": self.code}
        if self.title:
            body["title"] = self.title
        return body


class ShownCode:
    """The code shown in this session, newest last."""

    def __init__(self) -> None:
        self._pieces: OrderedDict[str, Code] = OrderedDict()
        self._ids = count(1)

    def add(self, language: str, code: str, title: str | None) -> Code:
        piece = Code(f"code-{next(self._ids)}", language, code, title)
        self._pieces[piece.id] = piece
        while len(self._pieces) > KEPT:
            self._pieces.popitem(last=False)
        return piece

    def get(self, code_id: str | None) -> Code | None:
        """The piece with ``code_id``, or the last one shown (None: nothing, or forgotten)."""
        if code_id is None:
            return next(reversed(self._pieces.values()), None)
        return self._pieces.get(code_id)
