"""The line format of a history file (JSON Lines, one object per line, UTF-8).

Line 1 is a :class:`Header` (``"type": "conversation"``); every other line is a
:class:`TurnRecord` (``"type": "turn"``). A turn finalized again (marked interrupted) is a
second record with the same ``itemId`` and ``update: true``: readers keep the last record per
item id, in the order the item first appeared. A :class:`UsageRecord` (``"type": "usage"``)
is what one reply, transcription or chat completion cost (``itemId``: the turn it was for,
when known). Unknown line types (tool calls, later) are
kept by readers as they are and never break reading. Field names are camelCase like the wire.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: Bumped when a reader of this version could misread a newer file.
FORMAT_VERSION = 1


def now_iso() -> str:
    """UTC time with milliseconds, e.g. ``2026-05-01T10:20:30.123Z``."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class _Record(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def line(self) -> bytes:
        """The record as one line of JSON, newline included."""
        text = self.model_dump_json(by_alias=True, exclude_none=True)
        return (text + "\n").encode()


class Header(_Record):
    """First line: what this file is."""

    type: Literal["conversation"] = "conversation"
    v: int = FORMAT_VERSION
    id: str
    started: str = Field(default_factory=now_iso)
    app: str = "vivavoce"


class TurnRecord(_Record):
    """One final turn of either side, or a voice tool's line (role ``tool``)."""

    type: Literal["turn"] = "turn"
    item_id: str
    previous_item_id: str | None = None
    role: Literal["user", "assistant", "tool"]
    text: str
    time: str = Field(default_factory=now_iso)
    mode: Literal["realtime", "text", "dictation"] | None = None
    voice: str | None = None
    model: str | None = None
    interrupted: bool = False
    #: True when this record replaces an earlier one with the same item id.
    update: bool = False

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class UsageRecord(_Record):
    """What one server report cost: a realtime reply (``response.done``), a transcription or
    a chat completion, with the turn it was for when known."""

    type: Literal["usage"] = "usage"
    source: Literal["response", "transcription", "chat"]
    item_id: str | None = None
    model: str | None = None
    mode: Literal["realtime", "text", "dictation"] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    time: str = Field(default_factory=now_iso)
