"""Tool calls as a model might make them, fuzzed into the voice tools.

Whatever the name and arguments, a call gives the model an output it can read (JSON: the
result, or a one-line ``error``) and a one-line transcript entry; it never raises, never writes
outside the text it was allowed to change, never reads an unopened document.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.strategies import json_values, objects_with
from tests.unit.test_tools import NOTES, OTHER, MemoryEditor
from vivavoce.tools import SPECS, Place, Toolbox

NAMES = [*SPECS, "delete_file", ""]
KEYS = ["text", "path", "start_line", "end_line"]
arguments = (
    st.text(max_size=60)
    | json_values.map(json.dumps)
    | objects_with(KEYS).map(json.dumps)
    | st.fixed_dictionaries(
        {"start_line": st.integers(-2, 8), "end_line": st.integers(-2, 8)},
        optional={"text": st.text(max_size=30), "path": st.sampled_from(["notes.md", "main.py"])},
    ).map(json.dumps)
)


@given(
    name=st.sampled_from(NAMES),
    raw=st.none() | arguments,
    allow=st.sampled_from(["none", "active", "open"]),
    text=st.text(max_size=80),
    cursor=st.integers(0, 100),
    span=st.none() | st.tuples(st.integers(0, 100), st.integers(0, 100)),
    refusal=st.none() | st.just("no"),
)
def test_any_call_is_an_output_and_one_line(
    name: str,
    raw: str | None,
    allow: Any,
    text: str,
    cursor: int,
    span: tuple[int, int] | None,
    refusal: str | None,
) -> None:
    editor = MemoryEditor()
    editor.docs[NOTES] = text
    size = len(text)
    selection = (min(span[0], size), min(max(span), size)) if span else None
    editor.here = Place(NOTES, min(cursor, size), selection)
    editor.refusal = refusal
    result = asyncio.run(Toolbox(editor, lambda: allow).run(name, raw))
    assert json.loads(result.output_json) == result.output
    assert "\n" not in result.summary and len(result.summary) < 400
    if "error" in result.output:
        assert "\n" not in result.output["error"] and "Traceback" not in result.output["error"]
    for uri, start, end, _ in editor.edits:
        assert allow != "none"
        assert uri == NOTES or (allow == "open" and uri == OTHER)
        assert 0 <= start <= end
