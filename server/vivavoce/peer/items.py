"""The conversation items of one realtime session, in order, and what a responder sees of them.

Items are the protocol's own :class:`~vivavoce.realtime.events.Item` models. Insertion follows
the protocol: append by default, ``previous_item_id="root"`` inserts first, any other id
inserts right after that item. :meth:`ConversationItems.messages` turns message items into the
plain (role, text) turns a :class:`~vivavoce.peer.responders.Responder` reads; function calls
and their outputs come along as messages too (``call`` set, or role ``tool``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..realtime.events import Item

Role = Literal["user", "assistant", "system", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A function the assistant calls: its name and JSON arguments."""

    name: str
    arguments: str
    call_id: str = ""


@dataclass(frozen=True)
class Message:
    """One turn as a responder sees it.

    An assistant's function call has ``call`` set (and no text); the call's output is a
    ``tool`` message whose ``text`` is the output, ``name`` the function's name and
    ``call_id`` the call's.
    """

    role: Role
    text: str
    call: ToolCall | None = None
    name: str | None = None
    call_id: str = ""


def item_text(item: Item) -> str:
    """The words of a message item (typed text or transcript of audio)."""
    parts = []
    for part in item.content or []:
        value = part.text if part.text is not None else part.transcript
        if value:
            parts.append(value)
    return " ".join(parts)


class UnknownItem(KeyError):
    """No item has this id."""


class ConversationItems:
    """The items of one session, in conversation order (the protocol's "conversation")."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        #: Words recognised in user audio items whose transcription the client has not been
        #: sent yet (the responder reads them; the items keep ``transcript: null`` until then).
        self.heard: dict[str, str] = {}
        #: Milliseconds of audio in each user audio item (its input tokens: 1 per 100 ms).
        self.audio_ms: dict[str, int] = {}

    def __contains__(self, item_id: object) -> bool:
        return any(item.id == item_id for item in self.items)

    def get(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise UnknownItem(item_id)

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert ``item``; return the id of the item now before it (None when first)."""
        if previous_item_id is None:
            index = len(self.items)
        elif previous_item_id == "root":
            index = 0
        else:
            self.get(previous_item_id)  # raises UnknownItem
            index = next(i for i, it in enumerate(self.items) if it.id == previous_item_id) + 1
        self.items.insert(index, item)
        return self.items[index - 1].id if index > 0 else None

    def delete(self, item_id: str) -> None:
        item = self.get(item_id)
        self.items.remove(item)
        self.heard.pop(item_id, None)
        self.audio_ms.pop(item_id, None)

    def previous_of(self, item_id: str) -> str | None:
        """The id of the item before ``item_id`` now (None when first or unknown)."""
        ids = [it.id for it in self.items]
        i = ids.index(item_id) if item_id in ids else 0
        return ids[i - 1] if i > 0 else None

    @property
    def last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    def messages(self) -> list[Message]:
        """Message items with words in them, function calls and outputs, oldest first."""
        out: list[Message] = []
        names: dict[str, str] = {}
        for item in self.items:
            if item.type == "function_call" and item.name:
                names[item.call_id or ""] = item.name
                call = ToolCall(item.name, item.arguments or "", item.call_id or "")
                out.append(Message("assistant", "", call=call))
            elif item.type == "function_call_output":
                name = names.get(item.call_id or "")
                call_id = item.call_id or ""
                out.append(Message("tool", item.output or "", name=name, call_id=call_id))
            elif item.role is not None:
                text = item_text(item) or self.heard.get(item.id or "", "")
                if text:
                    out.append(Message(item.role, text))
        return out
