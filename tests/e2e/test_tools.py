"""Voice tools end to end: the real ``vivavoce lsp`` process, the local peer calling the tools.

The peer's built-in responder calls the tools the session declares for fixed phrasings
("read the selection", "replace the selection with …", "insert … at the cursor", "replace
line N with …", "read the file NAME"), as a real model would; the server runs them against the
test editor's buffer, and the assistant says what came of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.editor import DOC, SERVER, Editor, end_server, init_params
from vivavoce.store import read_conversation

TEXT = "# Notes\ncount = 1\nlast line\n"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def bare(lsp_client: LanguageClient) -> AsyncIterator[None]:
    yield
    await end_server(lsp_client)


async def _editor(bare: LanguageClient, **options: Any) -> Editor:
    editor = Editor(bare)
    await bare.initialize_session(init_params({"peer": "embedded", **options}))
    editor.open(TEXT)
    return editor


@pytest.fixture
async def editor(bare: LanguageClient) -> AsyncIterator[Editor]:
    yield await _editor(bare)
    await bare.shutdown_session()


async def _ask(editor: Editor, text: str, mode: str = "realtime") -> str:
    """Say ``text`` (typed) in a live session; the assistant's answer."""
    if editor.statuses == [] or editor.statuses[-1]["state"] != "live":
        await editor.request(
            "realtime/start",
            {"mode": mode, "textDocument": {"uri": DOC}, "position": {"line": 1, "character": 0}},
        )
    before = len(editor.finals("assistant"))
    await editor.request("realtime/sendText", {"text": text})
    await editor.until(lambda: len(editor.finals("assistant")) > before)
    return editor.finals("assistant")[-1]


async def test_reading_the_selection_aloud(editor: Editor) -> None:
    editor.select((1, 0), (1, 5))
    answer = await _ask(editor, "read the selection")
    assert answer == "The selection says: count."
    assert editor.finals("tool") == [
        "get_selection: read 5 characters of vivavoce-notes.md (line 2)"
    ]
    assert editor.text == TEXT  # reading changes nothing


async def test_replacing_the_selection_lands_in_the_buffer(editor: Editor) -> None:
    editor.select((1, 0), (1, 5))
    answer = await _ask(editor, "replace the selection with total")
    assert editor.text == "# Notes\ntotal = 1\nlast line\n"
    assert answer == "Done. I replaced the selection."
    assert editor.labels == ["vivavoce: voice edit"]
    assert editor.finals("tool") == [
        "replace_selection: replaced 'count' with 'total' in vivavoce-notes.md"
    ]
    # The tool's line sits between the request and the answer, in the history too.
    order = [t["role"] for t in editor.transcripts if t["final"]]
    assert order == ["user", "tool", "assistant"]
    history = await editor.command("vivavoce.openHistory")
    turns = read_conversation(Path(history["path"])).turns
    assert [(t.role, t.text) for t in turns][1] == (
        "tool",
        "replace_selection: replaced 'count' with 'total' in vivavoce-notes.md",
    )


async def test_a_refused_edit_is_reported_and_said(editor: Editor) -> None:
    editor.refuse_edits = True
    editor.select((2, 4))
    answer = await _ask(editor, "insert very at the cursor")
    assert answer == "The editor refused the edit: user said no."
    assert editor.text == TEXT
    assert editor.finals("tool") == ["insert_text: the editor refused: user said no"]
    # The next edit, accepted, lands at the cursor.
    editor.refuse_edits = False
    await _ask(editor, "insert very  at the cursor")
    assert editor.text == "# Notes\ncount = 1\nlastvery  line\n"


async def test_a_document_the_editor_has_not_opened_is_refused(editor: Editor) -> None:
    answer = await _ask(editor, "read the file secret.txt")
    assert answer == (
        "I could not do that: secret.txt is not open in the editor; "
        "only open documents can be read."
    )
    assert editor.finals("tool") == [
        "get_document: refused: secret.txt is not open in the editor; "
        "only open documents can be read"
    ]
    # An open one is read (around the cursor, numbered lines).
    answer = await _ask(editor, "read the file vivavoce-notes.md")
    assert answer == "Lines 1 to 4 of vivavoce-notes.md say: # Notes count = 1 last line."


async def test_text_mode_uses_the_same_tools(editor: Editor) -> None:
    answer = await _ask(editor, "replace line 2 with count = 2", mode="text")
    assert editor.statuses[-1]["mode"] == "text"
    assert answer == "Done. I replaced line 2."
    assert editor.text == "# Notes\ncount = 2\nlast line\n"
    assert editor.finals("tool") == [
        "replace_range: replaced line 2 of vivavoce-notes.md with 'count = 2'"
    ]


async def test_with_edits_off_the_assistant_has_no_editing_tools(bare: LanguageClient) -> None:
    editor = await _editor(bare, allowEdits="none")
    editor.select((1, 0), (1, 5))
    answer = await _ask(editor, "replace the selection with total")
    # Not declared, so not called: the assistant only answers in words.
    assert answer.startswith("You said: replace the selection with total")
    assert editor.text == TEXT and editor.finals("tool") == []
    # Reading still works.
    assert await _ask(editor, "read the selection") == "The selection says: count."
    await bare.shutdown_session()


ADD = "def add(a, b):\n    return a + b\n"


async def test_code_is_shown_not_said_and_inserted_at_the_cursor(editor: Editor) -> None:
    answer = await _ask(editor, "write a function that adds two numbers in python")
    # The code goes to the editor, not into the speech; the buffer is untouched until asked.
    assert answer == "I put the code in the editor."
    assert editor.codes == [{"id": "code-1", "language": "python", "code": ADD, "title": "add"}]
    assert editor.finals("tool") == ["show_code: showed 2 lines of python ('add')"]
    assert editor.text == TEXT
    editor.select((2, 0))
    result = await editor.command("vivavoce.insertCode")
    assert result == {"inserted": True, "id": "code-1", "uri": DOC}
    assert editor.text == "# Notes\ncount = 1\n" + ADD + "last line\n"
    assert editor.labels[-1] == "vivavoce: insert code"


async def test_text_mode_shows_code_blocks_and_tool_calls(editor: Editor) -> None:
    answer = await _ask(editor, "write a function that adds two numbers in lua", mode="text")
    assert answer == "I put the code in the editor."
    lua = "local function add(a, b)\n  return a + b\nend\n"
    assert [c["code"] for c in editor.codes] == [lua]
    # A reply written as markdown: its fenced code is shown too (and said as one phrase).
    answer = await _ask(editor, "write a function that adds two numbers in python in a code block")
    assert "```python\n" + ADD + "```" in answer
    await editor.until(lambda: len(editor.codes) == 2)
    assert editor.codes[1] == {"id": "code-2", "language": "python", "code": ADD}
    # Either can be inserted, by id, where the request says.
    where = {"textDocument": {"uri": DOC}, "position": {"line": 0, "character": 0}}
    result = await editor.request("realtime/insertCode", {"id": "code-1", **where})
    assert result["inserted"] is True
    assert editor.text == lua + TEXT
    # An id that was never shown is a one-line error.
    with pytest.raises(Exception, match="no code with id 'code-9' was shown"):
        await editor.request("realtime/insertCode", {"id": "code-9"})
