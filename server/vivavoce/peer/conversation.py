"""The conversation of one realtime session: ordered items, and what a responder sees of them.

Items are the protocol's own :class:`~vivavoce.realtime.events.Item` models. Insertion follows
the protocol: append by default, ``previous_item_id="root"`` inserts first, any other id
inserts right after that item. :meth:`Conversation.messages` turns message items into the
plain (role, text) turns a :class:`~vivavoce.peer.responders.Responder` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..realtime.events import Item

Role = Literal["user", "assistant", "system"]


@dataclass(frozen=True)
class Message:
    """One turn as a responder sees it."""

    role: Role
    text: str


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


class Conversation:
    """Items of one session, in conversation order."""

    def __init__(self) -> None:
        self.items: list[Item] = []

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

    @property
    def last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    def messages(self) -> list[Message]:
        """Message items with words in them, oldest first."""
        out: list[Message] = []
        for item in self.items:
            if item.type != "message" or item.role is None:
                continue
            text = item_text(item)
            if text:
                out.append(Message(item.role, text))
        return out
