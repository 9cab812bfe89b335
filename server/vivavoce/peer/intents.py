"""The built-in responder's tool use: a few fixed phrasings, answered as a real model would.

:func:`plan` reads the user's last words and, when they ask for something one of the session's
declared tools does, returns the call (name + JSON arguments). Spoken words come from the
recognizer in lower case without punctuation; typed ones keep their case, and the text to
write is taken as said. Understood (case-insensitive, "please" allowed in front):

=============================================  ==========================================
``read (me) the selection`` / ``what is selected``  ``get_selection``
``read the file NAME`` / ``read the document NAME``  ``get_document {"path": NAME}``
``read the file`` / ``read this document``           ``get_document``
``insert TEXT at the cursor`` / ``type TEXT here``   ``insert_text {"text": TEXT}``
``replace the selection with TEXT``                  ``replace_selection {"text": TEXT}``
``replace line N with TEXT`` (N a number or a word)  ``replace_range`` of that one line
``write a function that … in LANGUAGE``              ``show_code {language, code, title}``
=============================================  ==========================================

Code is a fixed example (:func:`code_for`: adding two numbers, else a stub). Asked for "in a
code block" (or with no ``show_code`` declared), the reply is markdown instead
(:func:`markdown_reply`), as a chat model writes it: a heading, emphasis, the fenced code and a
link.

:func:`describe` turns a tool's output back into the short sentence the assistant says.
Argument names follow the tools vivavoce declares (``server/vivavoce/tools.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from .items import ToolCall

_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBERS = {word: n for n, word in enumerate(_WORDS.split())}
_PLEASE = r"^\s*(?:please\s+|now\s+|can you\s+|could you\s+)?"
_END = r"\s*[.!?]?\s*$"
#: (tool, pattern): the first that matches wins.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "replace_selection",
        re.compile(_PLEASE + r"replace (?:the |this )?selection with (?P<text>.+?)" + _END, re.I),
    ),
    (
        "replace_range",
        re.compile(_PLEASE + r"replace line (?P<line>\w+) with (?P<text>.+?)" + _END, re.I),
    ),
    (
        "insert_text",
        re.compile(
            _PLEASE + r"(?:insert|type|write) (?P<text>.+?) (?:at the cursor|here)" + _END, re.I
        ),
    ),
    (
        "get_selection",
        re.compile(r"\b(?:read|say|what is|what's)(?: me)?(?: the| my)? select(?:ion|ed)\b", re.I),
    ),
    (
        "get_document",
        re.compile(r"\bread (?:me )?(?:the )?(?:file|document) (?P<path>[\w./~-]+?)" + _END, re.I),
    ),
    (
        "get_document",
        re.compile(r"\bread (?:me )?(?:the |this )?(?:file|document|buffer|code)" + _END, re.I),
    ),
]
_WRITE_CODE = re.compile(
    _PLEASE + r"(?:write|show)(?: me)? (?:a |an |the )?(?:\w+ )?(?P<kind>function|method|snippet"
    r"|program|script)\b(?P<task>.*?)\bin (?P<language>python|javascript|typescript|lua|rust|go)"
    r"(?P<block> in a code block| as markdown)?" + _END,
    re.I,
)
#: language → (adding two numbers, a stub doing ``{task}``)
_EXAMPLES = {
    "python": (
        "def add(a, b):\n    return a + b\n",
        "def example():\n    # TODO:{task}\n    pass\n",
    ),
    "javascript": (
        "function add(a, b) {\n  return a + b;\n}\n",
        "function example() {\n  // TODO:{task}\n}\n",
    ),
    "typescript": (
        "function add(a: number, b: number): number {\n  return a + b;\n}\n",
        "function example(): void {\n  // TODO:{task}\n}\n",
    ),
    "lua": (
        "local function add(a, b)\n  return a + b\nend\n",
        "local function example()\n  -- TODO:{task}\nend\n",
    ),
    "rust": (
        "fn add(a: i64, b: i64) -> i64 {\n    a + b\n}\n",
        "fn example() {\n    // TODO:{task}\n}\n",
    ),
    "go": (
        "func add(a, b int) int {\n\treturn a + b\n}\n",
        "func example() {\n\t// TODO:{task}\n}\n",
    ),
}
#: The most words of a document or selection read aloud.
READ_ALOUD_WORDS = 40


def code_for(text: str) -> tuple[str, str, str, bool] | None:
    """(language, code, title, as markdown) of a request to write code, else None."""
    m = _WRITE_CODE.search(text)
    if m is None:
        return None
    language, task = m["language"].lower(), " ".join(m["task"].split())
    adding, stub = _EXAMPLES[language]
    if re.search(r"\badd(?:s|ing)?\b|\bsum\b", task, re.I):
        code, title = adding, "add"
    else:
        code, title = stub.format(task=" " + task if task else ""), "example"
    return language, code, title, m["block"] is not None


def markdown_reply(text: str) -> str | None:
    """The reply, in markdown, to a request to write code (None: not one)."""
    found = code_for(text)
    if found is None:
        return None
    language, code, title, _ = found
    return (
        f"## The {title} {language} function\n\n"
        f"Here is **{title}**, written in *{language}*:\n\n"
        f"```{language}\n{code}```\n\n"
        "- Call it from your code.\n"
        "- See [the documentation](https://example.com/docs) for more.\n"
    )


def plan(text: str, tools: Collection[str]) -> ToolCall | None:
    """The tool call the user asks for with ``text``, if one of ``tools`` does it."""
    found = code_for(text)
    if found is not None:
        language, code, title, markdown = found
        if markdown or "show_code" not in tools:
            return None
        arguments = {"language": language, "code": code, "title": title}
        return ToolCall("show_code", json.dumps(arguments))
    for name, pattern in _PATTERNS:
        m = pattern.search(text)
        if m is None or name not in tools:
            continue
        groups = m.groupdict()
        args: dict[str, Any] = {}
        if "text" in groups:
            args["text"] = groups["text"]
        if "path" in groups:
            args["path"] = groups["path"]
        if "line" in groups:
            line = _number(groups["line"])
            if line is None:
                continue
            args["start_line"] = args["end_line"] = line
        return ToolCall(name, json.dumps(args))
    return None


def describe(name: str | None, output: str) -> str:
    """What the assistant says after a tool ran, from its JSON output."""
    try:
        result = json.loads(output)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        return "The tool gave an answer I cannot read."
    if "error" in result:
        return f"I could not do that: {_sentence(result['error'])}."
    if result.get("applied") is False:
        return f"The editor refused the edit: {_sentence(result.get('reason') or 'no reason')}."
    if name == "show_code" and result.get("shown") is True:
        return "I put the code in the editor."
    if result.get("applied") is True:
        what = {
            "insert_text": "I inserted the text at the cursor",
            "replace_selection": "I replaced the selection",
            "replace_range": f"I replaced line {result.get('line')}",
        }.get(name or "", "I made the edit")
        return f"Done. {what}."
    text = str(result.get("text") or "")
    if name == "get_selection":
        return f"The selection says: {_aloud(text)}." if text.strip() else "Nothing is selected."
    if name == "get_document":
        first, last = result.get("start_line"), result.get("end_line")
        return f"Lines {first} to {last} of {result.get('document')} say: {_aloud(text)}."
    return "Done."


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word) or None
    return _NUMBERS.get(word.lower()) or None


def _sentence(text: Any) -> str:
    return str(text).strip().rstrip(".")


def _aloud(text: str) -> str:
    words = text.split()
    said = " ".join(words[:READ_ALOUD_WORDS]).rstrip(".")
    return said + (" and more" if len(words) > READ_ALOUD_WORDS else "")
