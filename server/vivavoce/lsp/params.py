"""Shapes of the custom requests (the wire contract in DESIGN.md), validated with pydantic.

Every request and ``workspace/executeCommand`` command goes through :func:`parse`, which takes
what the client sent (an object, positional command arguments, or null) and either returns the
model or raises :class:`~vivavoce.errors.ConfigError` with one line naming the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ..errors import ConfigError
from .wire import plain

#: The most text one request may carry (a long selection read aloud is well under this).
MAX_TEXT = 32_000


class _Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    # Accepted from any request, as LSP allows.
    work_done_token: int | str | None = None


class TextDocument(_Params):
    uri: str = Field(min_length=1, max_length=4096)


class Position(_Params):
    line: int = Field(ge=0)
    character: int = Field(ge=0)


class Range(_Params):
    start: Position
    end: Position


class NoParams(_Params):
    pass


class StartParams(_Params):
    mode: Literal["realtime", "text", "dictation"] | None = None
    text_document: TextDocument | None = None
    position: Position | None = None
    voice: str | None = Field(None, min_length=1, max_length=64)
    model: str | None = Field(None, min_length=1, max_length=128)
    instructions: str | None = Field(None, max_length=MAX_TEXT)


class SendTextParams(_Params):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class PushToTalkParams(_Params):
    pressed: bool


class MuteParams(_Params):
    muted: bool


class SelectDeviceParams(_Params):
    kind: Literal["input", "output"]
    device: str | int | None = None


class ContextParams(_Params):
    text_document: TextDocument
    position: Position | None = None
    selection: Range | None = None


class InsertCodeParams(_Params):
    """``insertCode``: which code (default: the last shown) and where (default: the cursor)."""

    id: str | None = Field(None, min_length=1, max_length=64)
    text_document: TextDocument | None = None
    position: Position | None = None


#: Field order for positional ``workspace/executeCommand`` arguments.
POSITIONAL: dict[type[_Params], tuple[str, ...]] = {
    StartParams: ("mode", "voice", "model"),
    SendTextParams: ("text",),
    PushToTalkParams: ("pressed",),
    MuteParams: ("muted",),
    SelectDeviceParams: ("kind", "device"),
    InsertCodeParams: ("id",),
}


def parse(model: type[_Params], raw: Any, *, positional: bool = False) -> Any:
    """Validate request params (or command arguments when ``positional``)."""
    data = plain(raw)
    if positional:
        args = data or []
        if len(args) == 1 and isinstance(args[0], dict):
            data = args[0]
        elif all(not isinstance(a, dict) for a in args):
            names = POSITIONAL.get(model, ())
            if len(args) > len(names):
                raise ConfigError(f"too many arguments: expected at most {len(names)}")
            data = dict(zip(names, args, strict=False))
        else:
            raise ConfigError("arguments must be one object or plain values")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("params must be an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        raise ConfigError(f"invalid params: {where}: {first['msg']}", key=where) from exc
