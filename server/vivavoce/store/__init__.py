"""Transcript history: one JSONL file per conversation, written durably, read forgivingly.

Public API:

* :class:`ConversationLog` — the writer of one conversation's file. ``turn(update, mode=…,
  voice=…, model=…)`` appends a final turn (fsynced before its future resolves); a turn seen
  again (marked interrupted) is appended as an update record. ``close()`` is idempotent.
* :func:`read_conversation`, :func:`list_conversations`, :func:`find_conversation`,
  :func:`to_markdown` — reading (a damaged line is skipped with a warning).
* :func:`default_history_dir` / :func:`history_dir` — where the files live.
* A failed write raises :class:`vivavoce.errors.HistoryError` (one line; the turns are kept).
* :mod:`.cli` — ``vivavoce history list|show|export``.

Modules: ``records`` (the line format), ``paths`` (folder, ids, permissions), ``log`` (the
writer), ``reader`` (listing, reading, Markdown), ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .log import ConversationLog
    from .paths import default_history_dir, history_dir, new_conversation_id
    from .reader import (
        ConversationFile,
        Summary,
        find_conversation,
        list_conversations,
        read_conversation,
        to_markdown,
    )
    from .records import FORMAT_VERSION, Header, TurnRecord

__all__ = [
    "FORMAT_VERSION",
    "ConversationFile",
    "ConversationLog",
    "Header",
    "Summary",
    "TurnRecord",
    "default_history_dir",
    "find_conversation",
    "history_dir",
    "list_conversations",
    "new_conversation_id",
    "read_conversation",
    "to_markdown",
]


_HOME = {
    "ConversationLog": "log",
    "default_history_dir": "paths",
    "history_dir": "paths",
    "new_conversation_id": "paths",
    "ConversationFile": "reader",
    "Summary": "reader",
    "find_conversation": "reader",
    "list_conversations": "reader",
    "read_conversation": "reader",
    "to_markdown": "reader",
    "FORMAT_VERSION": "records",
    "Header": "records",
    "TurnRecord": "records",
}


# Names load on first use: the CLI and the language server start light.
__getattr__ = lazy_attributes(__name__, _HOME)
__dir__ = __getattr__.dir
