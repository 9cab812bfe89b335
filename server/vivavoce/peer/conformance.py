"""Wire conformance: every event the peer receives or sends, checked against the ``openai`` SDK.

Off unless the environment names a file in :data:`ENV` (the tests set it per test; the peer in
a child process inherits it). Then every client event the peer decodes and every server event
it encodes is validated against the SDK's pydantic models of its dialect
(``openai.types.realtime`` for GA, ``openai.types.beta.realtime`` for beta) *strictly*: no type
coercion, and no key the SDK's type does not declare (the SDK's models allow extra keys; the
checker walks the validated model and reports every ``model_extra``). Each violation appends
one JSON line to the file: ``direction``, ``dialect``, ``type``, ``path``, ``problem``.

``openai`` is a development dependency: it is imported only when checking is on.
:func:`check` is the pure checker (used by the unit tests).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..realtime.events import Dialect

log = logging.getLogger(__name__)

#: The environment variable naming the JSON-lines file violations are appended to.
ENV = "VIVAVOCE_PEER_CONFORMANCE"

Direction = Literal["client", "server"]

#: Keys the live API sends that the SDK's GA types leave out: the session's ``id`` ("sess_…")
#: and ``object`` ("realtime.session") in ``session.created``/``updated`` (the API reference's
#: own examples carry both; the SDK types that session as its create *request*).
API_EXTRAS = frozenset(
    (kind, path)
    for kind in ("session.created", "session.updated")
    for path in ("session.id", "session.object")
)


@dataclass(frozen=True)
class Violation:
    """One way an event differs from the SDK's type for it."""

    direction: Direction  # who sent it: "client" (→ peer) or "server" (peer →)
    dialect: str
    type: str  # the event's type ("?" when it has none)
    path: str  # dotted path of the offending key inside the event ("" = the event itself)
    problem: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.direction} {self.type} ({self.dialect}){where}: {self.problem}"


def enabled() -> str | None:
    """The file violations go to, or None when checking is off (read at every event)."""
    return os.environ.get(ENV) or None


def check(data: Any, direction: Direction, dialect: Dialect) -> list[Violation]:
    """Every violation of one decoded event against the SDK's types (empty: conforming)."""
    from pydantic import ValidationError

    kind = data.get("type") if isinstance(data, dict) else None
    name = kind if isinstance(kind, str) else "?"

    def violation(path: str, problem: str) -> Violation:
        return Violation(direction, dialect, name, path, problem)

    if not isinstance(data, dict) or not isinstance(kind, str):
        return [violation("type", "not an object with a string 'type'")]
    model = _models(direction, dialect).get(kind)
    if model is None:
        return [violation("type", f"not a {dialect} {direction} event type of the SDK")]
    try:
        event = model.model_validate(data, strict=True)
    except ValidationError as exc:
        found = dict.fromkeys(violation(_loc(e["loc"]), e["msg"]) for e in _telling(exc.errors()))
        return list(found)[:3]
    extras = [p for p in _extras(event, "") if (kind, p) not in API_EXTRAS]
    return [violation(path, "not a field of the SDK's type") for path in extras]


def record_client(raw: Any, dialect: Dialect) -> None:
    """Check one decoded client message when checking is on."""
    if enabled():
        _record(check(raw, "client", dialect))


def record_server(text: str, dialect: Dialect) -> None:
    """Check one encoded server event when checking is on."""
    if enabled():
        _record(check(json.loads(text), "server", dialect))


def read(path: str | os.PathLike[str]) -> list[Violation]:
    """The violations recorded in ``path`` (none when the file does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [Violation(**json.loads(line)) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def _record(violations: list[Violation]) -> None:
    target = enabled()
    if not violations or target is None:
        return
    for v in violations:
        log.warning("wire conformance: %s", v)
    with open(target, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(asdict(v)) + "\n" for v in violations)


def _members(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    # pydantic names the union member an error belongs to by its class name in the location.
    return tuple(p for p in loc if isinstance(p, str) and p[:1].isupper())


def _telling(errors: list[Any]) -> list[Any]:
    """The errors of the union members the event meant (its ``type``/``role`` matched).

    A union reports every member's failure; those of members whose discriminating key did not
    match say nothing. When no member matched, the mismatches are the news.
    """
    wrong_kind = [e for e in errors if e["type"] == "literal_error" and e["loc"][-1] in _KINDS]
    ruled_out = {_members(e["loc"]) for e in wrong_kind}

    def meant(e: Any) -> bool:
        members = _members(e["loc"])
        return not any(members[: len(out)] == out for out in ruled_out)

    return [e for e in errors if meant(e)] or wrong_kind or errors


_KINDS = ("type", "role")


def _loc(loc: tuple[int | str, ...]) -> str:
    # Union members appear in the location as class names or tags: keep the JSON path only.
    parts = [str(p) for p in loc if isinstance(p, int) or not p[:1].isupper()]
    return ".".join(p for p in parts if not p.startswith(("function-", "tagged-union")))


def _extras(value: Any, path: str) -> list[str]:
    """Dotted paths of every key a validated SDK model holds but does not declare."""
    from pydantic import BaseModel

    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{path}.{key}".lstrip(".") for key in value.model_extra or {}]
        for field in type(value).model_fields:
            found += _extras(getattr(value, field), f"{path}.{field}")
    elif isinstance(value, list | tuple):
        for i, member in enumerate(value):
            found += _extras(member, f"{path}.{i}")
    elif isinstance(value, dict):
        for key, member in value.items():
            found += _extras(member, f"{path}.{key}")
    return found


@cache
def _models(direction: Direction, dialect: Dialect) -> dict[str, type[BaseModel]]:
    """The SDK's model for each event type of one direction and dialect."""
    if dialect == "beta":
        from openai.types.beta.realtime import realtime_client_event as beta_client
        from openai.types.beta.realtime import realtime_server_event as beta_server

        union = (beta_server.RealtimeServerEvent, beta_client.RealtimeClientEvent)
    else:
        from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent

        union = (RealtimeServerEvent, RealtimeClientEvent)
    members = get_args(get_args(union[0] if direction == "server" else union[1])[0])
    return {
        literal: member
        for member in members
        for literal in get_args(member.model_fields["type"].annotation)
    }
