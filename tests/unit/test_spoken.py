"""Text mode says a reply's words, never its markdown: code goes to the editor, in any chunking."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from vivavoce.text.spoken import (
    CODE_PHRASE,
    UNSHOWN_CODE_PHRASE,
    SpokenMarkdown,
    inline_to_speech,
)
from vivavoce.text.turn import speak

REPLY = """## Adding *two* numbers

Here is a **function** that adds them. It uses `a + b`, and [the docs](https://docs.example/x) \
say more:

```python
def add(a, b):
    return a + b
```

- Call it with two numbers
- Read https://example.com/guide first.
1. Then test it
> A _quoted_ remark

| name | does |
|------|------|
| add  | sums |

Or run it:

    add(1, 2)

    add(3, 4)

That prints 3.
"""

SAID = (
    "Adding two numbers. Here is a function that adds them. It uses a + b, and the docs say "
    f"more: {CODE_PHRASE} Call it with two numbers. Read a link first. Then test it. "
    f"A quoted remark name, does. add, sums. Or run it: {CODE_PHRASE} That prints 3."
)
CODE = [("python", "def add(a, b):\n    return a + b\n"), ("", "add(1, 2)\n\nadd(3, 4)\n")]


def said(chunks: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """What is said of a reply arriving in ``chunks``, and the code shown."""
    shown: list[tuple[str, str]] = []
    spoken = SpokenMarkdown(lambda language, code: shown.append((language, code)))
    words = "".join(spoken.feed(chunk) for chunk in chunks) + spoken.end()
    return " ".join(words.split()), shown


def test_markdown_is_said_as_plain_words_and_code_is_shown() -> None:
    assert said([REPLY]) == (SAID, CODE)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(REPLY)), max_size=25))
def test_any_chunking_says_the_same(cuts: list[int]) -> None:
    """A fence, a link or a heading straddling chunks changes nothing."""
    points = [0, *sorted(cuts), len(REPLY)]
    chunks = [REPLY[a:b] for a, b in pairwise(points)]
    assert said(chunks) == (SAID, CODE)


def test_a_sentence_is_said_before_its_line_ends() -> None:
    spoken = SpokenMarkdown()
    assert spoken.feed("- First, **note") == ""  # open emphasis: wait
    assert " ".join(spoken.feed("** this. Then").split()) == "First, note this."
    assert " ".join(spoken.end().split()) == "Then."


def test_a_fence_straddling_chunks_is_never_said() -> None:
    shown: list[tuple[str, str]] = []
    spoken = SpokenMarkdown(lambda language, code: shown.append((language, code)))
    out = [spoken.feed(c) for c in ("Look:\n`", "``ts\nconst x", " = 1. y = 2.\n``", "`\nOk.")]
    out.append(spoken.end())
    assert " ".join("".join(out).split()) == f"Look: {CODE_PHRASE} Ok."
    assert shown == [("ts", "const x = 1. y = 2.\n")]


def test_an_unclosed_fence_is_still_shown() -> None:
    shown: list[tuple[str, str]] = []
    spoken = SpokenMarkdown(lambda language, code: shown.append((language, code)))
    assert spoken.feed("~~~\nprint(1)") == ""
    assert spoken.end().strip() == CODE_PHRASE
    assert shown == [("", "print(1)\n")]


def test_indented_lines_in_a_list_or_a_paragraph_are_said() -> None:
    """Four spaces make code only after a blank line and outside a list (CommonMark)."""
    reply = "- Install it\n\n    with pip first.\n- Run it\n    twice.\nA line\n    goes on.\n"
    assert said([reply]) == ("Install it. with pip first. Run it. twice. A line goes on.", [])


def test_with_no_editor_the_code_is_said_to_be_in_the_written_reply() -> None:
    spoken = SpokenMarkdown(None)  # no editor: nowhere to show it
    words = spoken.feed("Here:\n```py\nx = 1\n```\nDone.\n") + spoken.end()
    assert " ".join(words.split()) == f"Here: {UNSHOWN_CODE_PHRASE} Done."


def test_links_are_their_text_never_their_address() -> None:
    assert inline_to_speech("See [the guide](https://x.example/a_b) or <https://y.example>.") == (
        "See the guide or a link."
    )
    assert inline_to_speech("![a diagram](d.png) of `snake_case_name`") == (
        "a diagram of snake_case_name"
    )


class Recorder:
    def __init__(self) -> None:
        self.sentences: list[str] = []

    async def say(self, sentence: str) -> None:
        self.sentences.append(sentence)

    async def hush(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_the_voice_gets_sentences_without_markup() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for sentence in ("  Adding two numbers. ", " ", f"  {CODE_PHRASE}  ", None):
        queue.put_nowait(sentence)
    voice = Recorder()
    await speak(queue, voice, lambda _: None)
    assert voice.sentences == ["Adding two numbers.", CODE_PHRASE]
