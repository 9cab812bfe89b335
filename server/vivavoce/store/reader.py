"""Reading history: list conversations, read one, export it as Markdown.

Reading never fails because of one bad line: a line that is not a JSON object (typically the
last one, cut by a crash mid-write) is skipped and named in ``warnings``. For each item id the
last record wins (an update marks a turn interrupted), kept in the order the item first
appeared. Blocking file I/O: call these from a thread when on an event loop.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .paths import SUFFIX, valid_id
from .records import Header, TurnRecord, UsageRecord

log = logging.getLogger(__name__)


@dataclass
class ConversationFile:
    """One conversation as read from disk."""

    id: str
    path: Path
    header: Header | None
    turns: list[TurnRecord]
    #: What each reply, transcription and chat completion cost, in order.
    usage: list[UsageRecord] = field(default_factory=list)
    #: Lines of other types (tool calls…), as they were.
    other: list[dict[str, Any]] = field(default_factory=list)
    #: One line per skipped line, e.g. "line 7 is damaged (cut short?); skipped".
    warnings: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> float | None:
        """What the whole conversation cost (USD), from its usage records (None: none kept,
        e.g. a file written before they were)."""
        return sum(u.cost_usd for u in self.usage) if self.usage else None

    def turn_cost(self, item_id: str) -> float | None:
        """What the reply (or transcription) of one turn cost; None when nothing is recorded."""
        costs = [u.cost_usd for u in self.usage if u.item_id == item_id]
        return sum(costs) if costs else None

    @property
    def started(self) -> str | None:
        if self.header is not None:
            return self.header.started
        return self.turns[0].time if self.turns else None


@dataclass(frozen=True)
class Summary:
    id: str
    started: str | None
    turns: int
    first_user_line: str
    path: Path
    cost_usd: float | None = None


def read_conversation(path: Path) -> ConversationFile:
    """Read one history file; damaged lines are skipped with a warning."""
    header: Header | None = None
    turns: dict[str, TurnRecord] = {}
    usage: list[UsageRecord] = []
    other: list[dict[str, Any]] = []
    warnings: list[str] = []
    with path.open("rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    last_number = max((n for n, raw in enumerate(lines, start=1) if raw.strip()), default=0)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = number == last_number
        obj = _object(raw)
        try:
            kind = obj.get("type") if obj is not None else None
            if obj is None:
                pass
            elif kind == "conversation":
                header = header or Header.model_validate(obj)
            elif kind == "turn":
                record = TurnRecord.model_validate(obj)
                earlier = turns.get(record.item_id)
                turns[record.item_id] = record if earlier is None else _merge(earlier, record)
            elif kind == "usage":
                usage.append(UsageRecord.model_validate(obj))
            else:
                other.append(obj)
        except ValidationError:
            obj = None
        if obj is None:
            why = "cut short by a crash?" if last else "not a valid record"
            warnings.append(f"{path.name}: line {number} is damaged ({why}); skipped")
    for warning in warnings:
        log.debug("%s", warning)  # callers decide how to show them
    cid = header.id if header is not None else path.name.removesuffix(SUFFIX)
    return ConversationFile(cid, path, header, list(turns.values()), usage, other, warnings)


def _object(raw: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return obj if isinstance(obj, dict) else None


def _merge(first: TurnRecord, later: TurnRecord) -> TurnRecord:
    """The later record wins; the first one's link is kept if the later has none."""
    if later.previous_item_id is None and first.previous_item_id is not None:
        return later.model_copy(update={"previous_item_id": first.previous_item_id})
    return later


def list_conversations(folder: Path) -> list[Summary]:
    """Every conversation in ``folder``, oldest first (ids sort by start time)."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if not valid_id(path.name.removesuffix(SUFFIX)):
            continue
        try:
            conv = read_conversation(path)
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc.strerror or exc)
            continue
        first = next((t.text for t in conv.turns if t.role == "user"), "")
        line = first.strip().splitlines()[0] if first.strip() else ""
        out.append(Summary(conv.id, conv.started, len(conv.turns), line, path, conv.cost_usd))
    return out


def recordings(folder: Path, conv_id: str) -> list[Path]:
    """A conversation's call recordings (``<id>-<n>.wav``, setting ``record``), in call order."""
    numbered = [(p.stem.rsplit("-", 1)[-1], p) for p in folder.glob(f"{conv_id}-*.wav")]
    return [p for n, p in sorted((int(n), p) for n, p in numbered if n.isdigit())]


def find_conversation(folder: Path, wanted: str) -> Path:
    """The file of conversation ``wanted`` (an id or a unique prefix of one).

    Raises ``LookupError`` with one line when there is none or several.
    """
    if not valid_id(wanted):
        raise LookupError(f"not a conversation id: {wanted!r}")
    exact = folder / f"{wanted}{SUFFIX}"
    if exact.is_file():
        return exact
    matches = sorted(p for p in folder.glob(f"{wanted}*{SUFFIX}") if p.is_file())
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(f"no conversation {wanted!r} in {folder}")
    raise LookupError(f"{wanted!r} matches {len(matches)} conversations; give more of the id")


def to_markdown(conv: ConversationFile) -> str:
    """The conversation as Markdown: a title, then one paragraph per turn."""
    lines = [f"# Conversation {conv.id}", ""]
    if conv.started:
        lines += [f"Started {conv.started}", ""]
    for turn in conv.turns:
        who = {"user": "**You**", "tool": "**Tool**"}.get(turn.role, "**Assistant**")
        note = " _(interrupted)_" if turn.interrupted else ""
        stamp = turn.time[11:19] if len(turn.time) >= 19 else turn.time
        text = turn.text.strip().replace("\n", "  \n")
        lines += [f"{who} ({stamp}){note}: {text}", ""]
    return "\n".join(lines)
