"""Where history lives, how conversations are named, and who may read the files.

The folder is ``historyDir`` or ``platformdirs.user_data_dir("vivavoce")/history``; it is
created 0700 and its files 0600 (transcripts are private). Conversation ids sort by time:
``20260501T102030Z-3f9a1c``; only such names (letters, digits, ``-``, ``_``) are accepted,
so an id can never name a path outside the folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path

SUFFIX = ".jsonl"
DIR_MODE = 0o700
FILE_MODE = 0o600
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def default_history_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("vivavoce")) / "history"


def history_dir(configured: Path | str | None = None) -> Path:
    """The configured folder (``~`` expanded), or the default one."""
    if configured is None or str(configured) == "":
        return default_history_dir()
    return Path(configured).expanduser()


def new_conversation_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def valid_id(conversation_id: str) -> bool:
    return bool(_ID.match(conversation_id))


def file_of(folder: Path, conversation_id: str) -> Path:
    if not valid_id(conversation_id):
        raise ValueError(f"not a conversation id: {conversation_id!r}")
    return folder / f"{conversation_id}{SUFFIX}"


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` (and parents) and make it 0700. Blocking: call from a thread."""
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if (folder.stat().st_mode & 0o777) != DIR_MODE:
        os.chmod(folder, DIR_MODE)
