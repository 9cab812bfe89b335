"""Voice tools: the assistant reads what the user works on and proposes edits.

The tools are declared to the model (the realtime session's ``tools``; chat completions'
``tools`` in text mode) and run here when the model calls them. :class:`Toolbox` runs one call
against an :class:`Editor` (the language server implements it over the documents the client
opened and ``workspace/applyEdit``) and returns a :class:`ToolResult`: the JSON output the model
reads, and one line for the transcript and the history.

* Reading: ``get_selection``, ``get_document`` (a bounded range of lines around the cursor, or
  the lines asked for). Always declared.
* Editing: ``insert_text`` (at the cursor), ``replace_selection``, ``replace_range`` (whole
  lines, numbered from 1 as editors show them). Declared and allowed by the ``allowEdits``
  setting: ``active`` (default: the document the cursor is in), ``open`` (any open document),
  ``none``. The editor shows each edit and may refuse it; a refusal is the tool's output.
* Showing: ``show_code {language, code, title?}``: code the assistant writes goes to the editor
  (a ``realtime/code`` notification: a scratch view the user reads and may insert with
  ``vivavoce.insertCode``) instead of being read aloud. Always declared: it changes nothing.
* Spoken identifiers in an edit's ``text`` are written as code (:func:`vivavoce.vocabulary.to_code`:
  "get user by id" → ``getUserById`` when the open documents use it, "snake case max retries" →
  ``max_retries``) while the ``transcription.codeVocabulary`` setting is on.
* Never a document the editor has not opened; at most :data:`MAX_READ_CHARS` read and
  :data:`MAX_WRITE_CHARS` written per call.

Offsets are Python string indices into the document's text; the editor converts them to its
positions. Lines in tool arguments and outputs are 1-based.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from .text.chat import ToolSpec

log = logging.getLogger(__name__)

AllowEdits = Literal["none", "active", "open"]

#: The most characters a reading tool returns (the output must fit one 64 KiB event).
MAX_READ_CHARS = 16_000
#: The most lines ``get_document`` returns.
MAX_READ_LINES = 200
#: Lines either side of the cursor that ``get_document`` returns when no lines are asked for.
AROUND_CURSOR = 40
#: The most characters an edit may write.
MAX_WRITE_CHARS = 16_000
#: How many characters of an argument the transcript line quotes.
QUOTE = 60

READING = ("get_selection", "get_document")
EDITING = ("insert_text", "replace_selection", "replace_range")
SHOWING = ("show_code",)

_PATH = {
    "type": "string",
    "description": "An open document: its file name, path or URI. Default: the active one.",
}
_TEXT = {"type": "string", "description": "The new text."}
_LINE = {"type": "integer", "minimum": 1}

#: name → (description, JSON schema of the arguments)
SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "show_code": (
        "Show code to the user in the editor instead of saying it: a new view beside their "
        "document, which they can read and insert at the cursor with one command. Use it for "
        "any code longer than a short identifier; then say in a few words what it does.",
        {
            "type": "object",
            "properties": {
                "language": {
                    "type": "string",
                    "description": "The code's language as editors name it: python, "
                    "typescript, lua, rust, …",
                },
                "code": {"type": "string", "description": "The code, as it should be written."},
                "title": {"type": "string", "description": "A few words naming what it is."},
            },
            "required": ["language", "code"],
            "additionalProperties": False,
        },
    ),
    "get_selection": (
        "Read the text the user has selected in the editor, with its line numbers.",
        {"type": "object", "properties": {}, "additionalProperties": False},
    ),
    "get_document": (
        "Read lines of a document open in the editor: around the cursor by default, or the "
        "lines asked for (numbered from 1).",
        {
            "type": "object",
            "properties": {"path": _PATH, "start_line": _LINE, "end_line": _LINE},
            "additionalProperties": False,
        },
    ),
    "insert_text": (
        "Insert text at the user's cursor. The editor shows the edit and may refuse it.",
        {
            "type": "object",
            "properties": {"text": _TEXT},
            "required": ["text"],
            "additionalProperties": False,
        },
    ),
    "replace_selection": (
        "Replace the text the user has selected. The editor shows the edit and may refuse it.",
        {
            "type": "object",
            "properties": {"text": _TEXT},
            "required": ["text"],
            "additionalProperties": False,
        },
    ),
    "replace_range": (
        "Replace whole lines start_line..end_line (inclusive, numbered from 1) with text. "
        "The editor shows the edit and may refuse it.",
        {
            "type": "object",
            "properties": {"path": _PATH, "start_line": _LINE, "end_line": _LINE, "text": _TEXT},
            "required": ["start_line", "end_line", "text"],
            "additionalProperties": False,
        },
    ),
}


@dataclass(frozen=True)
class Place:
    """Where the user works: a document, the cursor and the selection (string offsets)."""

    uri: str
    cursor: int
    selection: tuple[int, int] | None = None


class Editor(Protocol):
    """What the tools need from an editor."""

    def place(self) -> Place | None:
        """The active document, cursor and selection (None: the editor said nothing yet)."""
        ...

    def documents(self) -> list[str]:
        """URIs of the documents the editor has open."""
        ...

    def text(self, uri: str) -> str | None:
        """The text of an open document (None: not open)."""
        ...

    async def apply(self, uri: str, start: int, end: int, text: str, label: str) -> str | None:
        """Replace ``text[start:end]``; None when applied, else why the editor refused."""
        ...

    def show_code(self, language: str, code: str, title: str | None) -> str:
        """Show ``code`` beside the user's document (nothing changes); its id."""
        ...


class ToolRefused(Exception):
    """A call the tool cannot or may not do; the message is what the model is told."""


@dataclass(frozen=True)
class ToolResult:
    """One call's outcome: ``output`` for the model, ``summary`` for the transcript."""

    name: str
    output: dict[str, Any]
    summary: str

    @property
    def output_json(self) -> str:
        return json.dumps(self.output, ensure_ascii=False)


@dataclass(frozen=True)
class _Doc:
    uri: str
    text: str

    @property
    def name(self) -> str:
        return display_name(self.uri)


def display_name(uri: str) -> str:
    """The file name of a document URI (what the user calls it)."""
    path = unquote(urlparse(uri).path) or uri
    return path.rstrip("/").rsplit("/", 1)[-1] or uri


def line_starts(text: str) -> list[int]:
    """The offset where each line starts (line 1 at index 0)."""
    starts = [0]
    starts.extend(i + 1 for i, char in enumerate(text) if char == "\n")
    return starts


def line_of(text: str, offset: int) -> int:
    """The 1-based line of an offset."""
    return text.count("\n", 0, offset) + 1


def tool_specs(allow_edits: AllowEdits) -> list[ToolSpec]:
    """(name, description, parameters) of the tools declared under ``allow_edits``."""
    names = READING + (EDITING if allow_edits != "none" else ()) + SHOWING
    return [(name, *SPECS[name]) for name in names]


class Toolbox:
    """Runs tool calls against an editor, under the current ``allowEdits`` setting."""

    def __init__(
        self,
        editor: Editor,
        allow_edits: Callable[[], AllowEdits],
        words: Callable[[], tuple[bool, Sequence[str]]] = lambda: (True, ()),
    ) -> None:
        self.editor = editor
        self._allow_edits = allow_edits
        #: (code vocabulary on, the user's fixed words), read at use.
        self._words = words

    def specs(self) -> list[ToolSpec]:
        return tool_specs(self._allow_edits())

    def vocabulary(self) -> list[str]:
        """The words of the code in front of the user (:func:`vivavoce.vocabulary.rank`): the
        fixed words, the open files' names, identifiers near the cursor, then the others'."""
        from .vocabulary import Document, rank

        enabled, fixed = self._words()
        if not enabled:
            return rank([], fixed)
        place = self.editor.place()
        active = place.uri if place is not None else None
        docs: list[Document] = []
        for uri in sorted(self.editor.documents(), key=lambda u: u != active):
            text = self.editor.text(uri)
            if text is not None:
                cursor = place.cursor if place is not None and uri == active else None
                docs.append(Document(uri, text, cursor))
        return rank(docs, fixed)

    def spoken_to_code(self, text: str) -> str:
        """``text`` with spoken identifiers written as code (off with codeVocabulary off)."""
        from .vocabulary import to_code

        if not self._words()[0]:
            return text
        return to_code(text, self.vocabulary())

    async def run(self, name: str, arguments: str | None) -> ToolResult:
        """Run one call; every failure is an ``error`` output, never an exception."""
        handler = getattr(self, f"_{name}", None) if name in SPECS else None
        try:
            if handler is None:
                raise ToolRefused(f"there is no tool named {name!r}")  # noqa: TRY301
            args = _arguments(arguments)
            if name in EDITING and isinstance(args.get("text"), str):
                args["text"] = self.spoken_to_code(args["text"])
            output, summary = await handler(args)
        except ToolRefused as exc:
            log.info("tool %s refused: %s", name, exc)
            return ToolResult(name, {"error": str(exc)}, f"{name}: refused: {exc}")
        return ToolResult(name, output, f"{name}: {summary}")

    # ------------------------------------------------------------------ reading

    async def _get_selection(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        _only(args)
        place, doc = self._active()
        if place.selection is None or place.selection[0] == place.selection[1]:
            line = line_of(doc.text, place.cursor)
            output = {"document": doc.name, "text": "", "cursor_line": line}
            return output, f"nothing selected in {doc.name} (cursor on line {line})"
        start, end = place.selection
        text = doc.text[start:end]
        if len(text) > MAX_READ_CHARS:
            raise ToolRefused(
                f"the selection is {len(text)} characters; at most {MAX_READ_CHARS} can be read"
            )
        first, last = line_of(doc.text, start), line_of(doc.text, end)
        output = {"document": doc.name, "text": text, "start_line": first, "end_line": last}
        return output, f"read {len(text)} characters of {doc.name} ({_lines(first, last)})"

    async def _get_document(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        _only(args, "path", "start_line", "end_line")
        doc, place = self._document(args.get("path"))
        lines = doc.text.split("\n")
        total = len(lines)
        if "start_line" in args or "end_line" in args:
            first = _line(args, "start_line", default=1)
            last = _line(args, "end_line", default=first + MAX_READ_LINES - 1)
        else:
            here = line_of(doc.text, place.cursor) if place and place.uri == doc.uri else 1
            first, last = max(1, here - AROUND_CURSOR), here + AROUND_CURSOR
        if first > total:
            raise ToolRefused(f"{doc.name} has {total} lines; line {first} does not exist")
        last = min(last, total, first + MAX_READ_LINES - 1)
        if last < first:
            raise ToolRefused("end_line is before start_line")
        text = "\n".join(lines[first - 1 : last])
        truncated = len(text) > MAX_READ_CHARS
        if truncated:
            text = text[:MAX_READ_CHARS]
            last = first + text.count("\n")
        output: dict[str, Any] = {
            "document": doc.name,
            "start_line": first,
            "end_line": last,
            "line_count": total,
            "text": text,
        }
        if truncated:
            output["truncated"] = True
        return output, f"read {doc.name} ({_lines(first, last)} of {total})"

    # ------------------------------------------------------------------ showing

    def show(self, language: str, code: str, title: str | None = None) -> str:
        """Show code in the editor (``show_code``, or a fenced block of a text reply); its id."""
        return self.editor.show_code(language.strip().lower(), code, title or None)

    async def _show_code(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        _only(args, "language", "code", "title")
        code = _new_text(args, "code", check=False)
        language, title = args.get("language"), args.get("title")
        if not isinstance(language, str):
            raise ToolRefused("language must be a string")
        if title is not None and not isinstance(title, str):
            raise ToolRefused("title must be a string")
        if not code.strip():
            raise ToolRefused("code is empty")
        shown = self.show(language, code, title)
        lines = code.rstrip("\n").count("\n") + 1
        what = f"{lines} line{'s' if lines != 1 else ''} of {language.strip() or 'code'}"
        output = {"shown": True, "id": shown, "lines": lines}
        return output, f"showed {what}" + (f" ({_quote(title)})" if title else "")

    # ------------------------------------------------------------------ editing

    async def _insert_text(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        text = _new_text(args, "text")
        place, doc = self._active(editing=True)
        span = (place.cursor, place.cursor)
        return await self._edit(doc, span, text, f"inserted {_quote(text)} in {doc.name}")

    async def _replace_selection(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        text = _new_text(args, "text")
        place, doc = self._active(editing=True)
        if place.selection is None or place.selection[0] == place.selection[1]:
            raise ToolRefused("nothing is selected in the editor")
        start, end = place.selection
        summary = f"replaced {_quote(doc.text[start:end])} with {_quote(text)} in {doc.name}"
        return await self._edit(doc, (start, end), text, summary)

    async def _replace_range(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        _only(args, "path", "start_line", "end_line", "text")
        text = _new_text(args, "text", check=False)
        doc, _ = self._document(args.get("path"), editing=True)
        first, last = _line(args, "start_line"), _line(args, "end_line")
        starts = line_starts(doc.text)
        if last < first:
            raise ToolRefused("end_line is before start_line")
        if last > len(starts):
            raise ToolRefused(f"{doc.name} has {len(starts)} lines; line {last} does not exist")
        start = starts[first - 1]
        end = starts[last] - 1 if last < len(starts) else len(doc.text)
        text = text.removesuffix("\n")  # the lines keep their own line break
        summary = f"replaced {_lines(first, last)} of {doc.name} with {_quote(text)}"
        return await self._edit(doc, (start, end), text, summary)

    async def _edit(
        self, doc: _Doc, span: tuple[int, int], text: str, summary: str
    ) -> tuple[dict[str, Any], str]:
        start, end = span
        line = line_of(doc.text, start)
        refusal = await self.editor.apply(doc.uri, start, end, text, "vivavoce: voice edit")
        if refusal is not None:
            output = {"applied": False, "document": doc.name, "reason": refusal}
            return output, f"the editor refused: {refusal}"
        return {"applied": True, "document": doc.name, "line": line}, summary

    # ------------------------------------------------------------------ documents

    def _active(self, *, editing: bool = False) -> tuple[Place, _Doc]:
        """The document the cursor is in, and where in it."""
        doc, place = self._document(None, editing=editing)
        assert place is not None  # without a path, _document refuses a missing place
        return place, doc

    def _document(self, path: Any, *, editing: bool = False) -> tuple[_Doc, Place | None]:
        """The document ``path`` names (an open one), or the active one when None."""
        if editing:
            self._check_edits()
        place = self.editor.place()
        if path is None:
            if place is None:
                raise ToolRefused("the editor has not said which document the user is in")
            uri = place.uri
        else:
            if not isinstance(path, str) or not path.strip():
                raise ToolRefused("path must be a file name, path or URI")
            uri = self._find(path.strip())
        if editing and self._allow_edits() == "active" and (place is None or place.uri != uri):
            raise ToolRefused(
                f"only the active document may be edited (setting allowEdits is 'active'), "
                f"not {display_name(uri)}"
            )
        text = self.editor.text(uri)
        if text is None:
            raise ToolRefused(f"{display_name(uri)} is not open in the editor")
        return _Doc(uri, text), place

    def _find(self, path: str) -> str:
        open_uris = self.editor.documents()
        if path in open_uris:
            return path
        wanted = "/" + path.removeprefix("file://").lstrip("/")
        matches = [u for u in open_uris if unquote(urlparse(u).path).endswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(sorted(unquote(urlparse(u).path) for u in matches))
            raise ToolRefused(f"{path} could be any of {names}; say which")
        raise ToolRefused(f"{path} is not open in the editor; only open documents can be read")

    def _check_edits(self) -> None:
        if self._allow_edits() == "none":
            raise ToolRefused("editing is turned off (setting allowEdits is 'none')")


def _arguments(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        args = json.loads(raw)
    except ValueError as exc:
        raise ToolRefused(f"the arguments are not valid JSON ({exc.args[0]})") from None
    if not isinstance(args, dict):
        raise ToolRefused("the arguments must be a JSON object")
    return args


def _only(args: dict[str, Any], *names: str) -> None:
    extra = sorted(set(args) - set(names))
    if extra:
        raise ToolRefused(f"unknown argument {extra[0]!r}")


def _line(args: dict[str, Any], key: str, default: int | None = None) -> int:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolRefused(f"{key} must be a line number from 1")
    return value


def _new_text(args: dict[str, Any], key: str, *, check: bool = True) -> str:
    if check:
        _only(args, key)
    text = args.get(key)
    if not isinstance(text, str):
        raise ToolRefused(f"{key} must be a string")
    if len(text) > MAX_WRITE_CHARS:
        raise ToolRefused(f"{key} is {len(text)} characters; at most {MAX_WRITE_CHARS} per edit")
    return text


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= QUOTE else text[: QUOTE - 1] + "…")
