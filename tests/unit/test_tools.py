"""The voice tools' rules, against an editor held in memory (documents, cursor, a refusal switch)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from vivavoce.text.chat import Chat, Message, ToolCallRequest
from vivavoce.tools import (
    MAX_READ_CHARS,
    MAX_READ_LINES,
    MAX_WRITE_CHARS,
    AllowEdits,
    Place,
    Toolbox,
    tool_specs,
)

NOTES = "file:///work/notes.md"
OTHER = "file:///work/src/main.py"
TEXT = "# Notes\ncount = 1\nlast line\n"


class MemoryEditor:
    def __init__(self) -> None:
        self.docs = {NOTES: TEXT, OTHER: "print('hi')\n"}
        self.here: Place | None = Place(NOTES, TEXT.index("count"))
        self.refusal: str | None = None
        self.edits: list[tuple[str, int, int, str]] = []
        self.shown: list[tuple[str, str, str | None]] = []

    def place(self) -> Place | None:
        return self.here

    def documents(self) -> list[str]:
        return list(self.docs)

    def text(self, uri: str) -> str | None:
        return self.docs.get(uri)

    async def apply(self, uri: str, start: int, end: int, text: str, label: str) -> str | None:
        if self.refusal is None:
            self.edits.append((uri, start, end, text))
            self.docs[uri] = self.docs[uri][:start] + text + self.docs[uri][end:]
        return self.refusal

    def show_code(self, language: str, code: str, title: str | None) -> str:
        self.shown.append((language, code, title))
        return f"code-{len(self.shown)}"


@pytest.fixture
def editor() -> MemoryEditor:
    return MemoryEditor()


def toolbox(editor: MemoryEditor, allow: AllowEdits = "active") -> Toolbox:
    return Toolbox(editor, lambda: allow)


async def run(box: Toolbox, name: str, **args: Any) -> dict[str, Any]:
    result = await box.run(name, json.dumps(args))
    assert json.loads(result.output_json) == result.output
    return result.output


async def test_selection_is_read_with_its_lines(editor: MemoryEditor) -> None:
    start = TEXT.index("count")
    editor.here = Place(NOTES, start, (start, TEXT.index("last") + 4))
    out = await run(toolbox(editor), "get_selection")
    assert out == {
        "document": "notes.md",
        "text": "count = 1\nlast",
        "start_line": 2,
        "end_line": 3,
    }
    editor.here = Place(NOTES, start)
    assert await run(toolbox(editor), "get_selection") == {
        "document": "notes.md",
        "text": "",
        "cursor_line": 2,
    }


async def test_document_is_read_around_the_cursor_within_limits(editor: MemoryEditor) -> None:
    editor.docs[NOTES] = "\n".join(f"line {n}" for n in range(1, 501))
    editor.here = Place(NOTES, editor.docs[NOTES].index("line 300"))
    out = await run(toolbox(editor), "get_document")
    assert (out["start_line"], out["end_line"], out["line_count"]) == (260, 340, 500)
    assert out["text"].split("\n")[0] == "line 260"
    out = await run(toolbox(editor), "get_document", start_line=1, end_line=500)
    assert out["end_line"] - out["start_line"] + 1 == MAX_READ_LINES
    editor.docs[NOTES] = "x" * (MAX_READ_CHARS * 2)
    out = await run(toolbox(editor), "get_document", start_line=1)
    assert len(out["text"]) == MAX_READ_CHARS and out["truncated"] is True
    out = await run(toolbox(editor), "get_document", start_line=9)
    assert out == {"error": "notes.md has 1 lines; line 9 does not exist"}


async def test_only_open_documents_are_read(editor: MemoryEditor) -> None:
    box = toolbox(editor)
    assert (await run(box, "get_document", path="main.py"))["text"] == "print('hi')\n"
    assert (await run(box, "get_document", path="src/main.py"))["document"] == "main.py"
    assert (await run(box, "get_document", path=OTHER))["document"] == "main.py"
    out = await run(box, "get_document", path="/etc/passwd")
    assert out == {
        "error": "/etc/passwd is not open in the editor; only open documents can be read"
    }
    editor.docs["file:///elsewhere/main.py"] = ""
    assert "could be any of" in (await run(box, "get_document", path="main.py"))["error"]


async def test_edits_land_where_asked(editor: MemoryEditor) -> None:
    box = toolbox(editor)
    out = await run(box, "insert_text", text="new_")
    assert out == {"applied": True, "document": "notes.md", "line": 2}
    assert editor.docs[NOTES] == "# Notes\nnew_count = 1\nlast line\n"
    await run(box, "replace_range", start_line=3, end_line=3, text="final line\n")
    assert editor.docs[NOTES] == "# Notes\nnew_count = 1\nfinal line\n"
    await run(box, "replace_range", start_line=1, end_line=2, text="# Title")
    assert editor.docs[NOTES] == "# Title\nfinal line\n"
    start = editor.docs[NOTES].index("final")
    editor.here = Place(NOTES, start, (start, start + 5))
    await run(box, "replace_selection", text="last")
    assert editor.docs[NOTES] == "# Title\nlast line\n"


async def test_refusals_are_outputs_the_model_reads(editor: MemoryEditor) -> None:
    editor.refusal = "the user declined"
    result = await toolbox(editor).run("insert_text", '{"text": "x"}')
    assert result.output == {
        "applied": False,
        "document": "notes.md",
        "reason": "the user declined",
    }
    assert result.summary == "insert_text: the editor refused: the user declined"
    editor.refusal = None
    nothing = await run(toolbox(editor), "replace_selection", text="x")
    assert nothing == {"error": "nothing is selected in the editor"}


async def test_allow_edits_decides_what_may_change(editor: MemoryEditor) -> None:
    assert [s[0] for s in tool_specs("none")] == ["get_selection", "get_document", "show_code"]
    assert len(tool_specs("active")) == 6
    out = await run(toolbox(editor, "none"), "insert_text", text="x")
    assert out == {"error": "editing is turned off (setting allowEdits is 'none')"}
    args = {"path": "main.py", "start_line": 1, "end_line": 1, "text": "pass"}
    out = await run(toolbox(editor, "active"), "replace_range", **args)
    assert "only the active document may be edited" in out["error"]
    assert (await run(toolbox(editor, "open"), "replace_range", **args))["applied"] is True
    assert editor.docs[OTHER] == "pass\n"
    assert editor.edits == [(OTHER, 0, 11, "pass")]


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("delete_everything", "{}", "there is no tool named 'delete_everything'"),
        ("insert_text", "{not json", "the arguments are not valid JSON"),
        ("insert_text", "[1]", "the arguments must be a JSON object"),
        ("insert_text", '{"text": 5}', "text must be a string"),
        ("insert_text", '{"text": "x", "where": 1}', "unknown argument 'where'"),
        ("replace_range", '{"start_line": 0, "end_line": 1, "text": ""}', "start_line must be"),
        ("replace_range", '{"start_line": 3, "end_line": 2, "text": ""}', "end_line is before"),
        ("insert_text", json.dumps({"text": "x" * (MAX_WRITE_CHARS + 1)}), "at most 16000"),
    ],
)
async def test_bad_calls_are_one_line_errors(
    editor: MemoryEditor, name: str, arguments: str, error: str
) -> None:
    result = await toolbox(editor).run(name, arguments)
    assert error in result.output["error"]
    assert "\n" not in result.summary
    assert editor.docs[NOTES] == TEXT


async def test_code_is_shown_not_written(editor: MemoryEditor) -> None:
    code = "def add(a, b):\n    return a + b\n"
    # Shown even with edits off: showing changes no document.
    result = await toolbox(editor, "none").run(
        "show_code", json.dumps({"language": "Python", "code": code, "title": "add"})
    )
    assert result.output == {"shown": True, "id": "code-1", "lines": 2}
    assert result.summary == "show_code: showed 2 lines of Python ('add')"
    assert editor.shown == [("python", code, "add")]
    assert editor.docs[NOTES] == TEXT and editor.edits == []
    # Spoken identifiers are not rewritten in code, and bad calls are refused.
    out = await run(toolbox(editor), "show_code", language="lua", code="   ")
    assert out == {"error": "code is empty"}
    out = await run(toolbox(editor), "show_code", code="x = 1")
    assert out == {"error": "language must be a string"}
    assert len(editor.shown) == 1


async def test_no_place_yet_is_said(editor: MemoryEditor) -> None:
    editor.here = None
    out = await run(toolbox(editor), "get_selection")
    assert out == {"error": "the editor has not said which document the user is in"}


async def test_chat_streams_text_then_assembles_tool_calls() -> None:
    """Chat completions' streamed tool_calls arrive in pieces; they come out whole."""
    chunks = [
        {"content": "Let me look. "},
        {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "get_document"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"start_'}}]},
        {"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "get_selection"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'line": 2}'}}]},
    ]
    body = "".join(
        f"data: {json.dumps({'choices': [{'index': 0, 'delta': d}]})}\n\n" for d in chunks
    )
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, text=body + "data: [DONE]\n\n")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        chat = Chat(http, base_url="http://127.0.0.1:1/v1", api_key="k")
        spec = ("get_document", "Read.", {"type": "object"})
        messages = [Message(role="user", content="read it")]
        pieces = [p async for p in chat.stream("m", messages, [spec])]
    assert pieces == [
        "Let me look. ",
        ToolCallRequest("call_1", "get_document", '{"start_line": 2}'),
        ToolCallRequest("call_2", "get_selection", ""),
    ]
    assert seen[0]["tools"] == [
        {"type": "function", "function": {"name": "get_document", "description": "Read.",
                                          "parameters": {"type": "object"}}}
    ]  # fmt: skip
    assert seen[0]["messages"] == [{"role": "user", "content": "read it"}]


async def test_spoken_identifiers_in_an_edit_are_written_as_code(editor: MemoryEditor) -> None:
    editor.docs[OTHER] = "def getUserById(user_id):\n    pass\n"
    words: tuple[bool, list[str]] = (True, [])
    box = Toolbox(editor, lambda: "active", lambda: words)
    assert "getUserById" in box.vocabulary() and "main.py" in box.vocabulary()
    await run(box, "insert_text", text="get user by id and snake case max retries ")
    assert editor.docs[NOTES].startswith("# Notes\ngetUserById and max_retries count")
    # With the vocabulary off nothing is mapped; the fixed words are still sent.
    words = (False, ["Jargon"])
    assert box.vocabulary() == ["Jargon"]
    await run(box, "insert_text", text="get user by id ")
    assert "get user by id getUserById" in editor.docs[NOTES]
