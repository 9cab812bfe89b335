"""Dictation's spoken punctuation and commands, and its words written into a buffer as said."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from vivavoce.conversation.dictation import Dictated, dictate, place
from vivavoce.lsp.dictation import DictationWriter
from vivavoce.lsp.insertion import Inserter, Pos, to_offset
from vivavoce.realtime import TranscriptUpdate
from vivavoce.vocabulary import to_code


@pytest.mark.parametrize(
    ("said", "written"),
    [
        (
            "the code is ready period we fixed the bug period",
            "the code is ready. We fixed the bug.",
        ),
        ("new line call me tomorrow period", "\nCall me tomorrow."),
        ("first comma second new paragraph third", "first, second\n\nThird"),
        ("is it done question mark", "is it done?"),
        ("ship it exclamation point", "ship it!"),
        ("note colon read this semicolon then that", "note: read this; then that"),
        ("hello newline world", "hello\nWorld"),
        ("period", "."),
        ("", ""),
        # A transcription model's own punctuation around spoken marks is replaced, not doubled.
        ("Hello, world, period. New line. The tests pass.", "Hello, world.\nThe tests pass."),
        ("Is it done? Question mark.", "Is it done?"),
    ],
)
def test_spoken_punctuation_and_line_breaks(said: str, written: str) -> None:
    assert dictate(said) == Dictated(written)


def test_undo_that_alone_undoes_the_utterance_before() -> None:
    assert dictate("undo that") == Dictated("", undo=True)
    assert dictate("Scratch that.") == Dictated("", undo=True)
    # After words of its own, it takes those back instead.
    assert dictate("this is wrong undo that") == Dictated("")
    assert dictate("wrong undo that right") == Dictated("right")


def test_stop_dictation_writes_what_came_before_it() -> None:
    assert dictate("and that is all period stop dictation") == Dictated(
        "and that is all.", stop=True
    )
    assert dictate("Stop dictation.") == Dictated("", stop=True)
    assert dictate("stop the test") == Dictated("stop the test")  # not a command


def test_placement_after_what_is_already_written() -> None:
    assert place("the code is ready.", "") == "The code is ready."
    assert place("we fixed it.", "The code is ready.") == " We fixed it."
    assert place("and more", "some words") == " and more"
    assert place("next", "Done.\n") == "Next"
    assert place("\nCall me.", "Ready.") == "\nCall me."
    assert place(", and", "words") == ", and"
    assert place("word", "indented ") == "word"
    assert place("", "anything") == ""


class Editor:
    """A buffer that applies edits and echoes them as didChange, as Neovim does: at once, or
    ``late`` seconds after answering the edit (a loaded machine; Neovim debounces didChange)."""

    def __init__(self, text: str, late: float | None = None) -> None:
        self.text = text
        self.edits = 0
        self.groups: list[str | None] = []  # the undo group of each edit
        self.late = late
        self.inserter = Inserter(self.apply, pytest.fail)
        self._echoes: set[asyncio.Task[None]] = set()

    async def apply(
        self, uri: str, start: Pos, end: Pos, new: str, group: str | None
    ) -> tuple[bool, str | None]:
        s, e = to_offset(self.text, start, "utf-16"), to_offset(self.text, end, "utf-16")
        assert s is not None and e is not None
        self.text = self.text[:s] + new + self.text[e:]
        self.edits += 1
        self.groups.append(group)
        if self.late is None:
            self.inserter.document_changed(uri, [(start, end, new)], self.text)
        else:
            task = asyncio.create_task(self._echo(uri, (start, end, new), self.text, self.late))
            self._echoes.add(task)
            task.add_done_callback(self._echoes.discard)
        return True, None

    async def _echo(self, uri: str, change: tuple[Pos, Pos, str], text: str, after: float) -> None:
        await asyncio.sleep(after)
        self.inserter.document_changed(uri, [change], text)

    def type(self, at: int, new: str) -> None:
        """The user types ``new`` at offset ``at``."""
        old = self.text
        self.text = old[:at] + new + old[at:]
        before = old[:at]
        pos = Pos(before.count("\n"), len(before) - before.rfind("\n") - 1)
        self.inserter.document_changed("file:///d", [(pos, pos, new)], self.text)


def update(item: str, text: str, final: bool = False) -> TranscriptUpdate:
    return TranscriptUpdate(item, None, "user", text, final=final)


async def settle(writer: DictationWriter) -> None:
    for _ in range(200):
        if not writer._open:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"still writing: {writer._open}")


async def test_words_stream_in_and_the_final_replaces_them() -> None:
    editor = Editor("# Notes\n\nend\n")
    editor.inserter.target("file:///d", Pos(1, 0), editor.text)
    writer = DictationWriter(editor.inserter, pytest.fail)
    seen = []
    for text in ["the", "the code", "the code is", "the code is ready", "the code is ready per"]:
        writer.update(update("a", text))
        await asyncio.sleep(0.02)
        seen.append(editor.text.split("\n")[1])
    assert seen[-1] == "The code is ready per"  # live, as said so far
    writer.update(update("a", "the code is ready period we fixed the bug period", final=True))
    await settle(writer)
    writer.update(update("b", "new line call me tomorrow period", final=True))
    await settle(writer)
    assert editor.text == "# Notes\nThe code is ready. We fixed the bug.\nCall me tomorrow.\nend\n"
    # Each utterance's edits (its live words, then its final text) are one undo group.
    assert editor.groups[0] == "a" and editor.groups[-1] == "b"
    assert editor.groups == sorted(editor.groups)  # type: ignore[type-var]
    # Words typed by the user before the insertion point meanwhile push it along.
    editor.type(0, "> ")
    writer.update(update("c", "undo that", final=True))
    await settle(writer)
    assert editor.text == "> # Notes\nThe code is ready. We fixed the bug.\nend\n"
    writer.update(update("d", "and more", final=True))
    await settle(writer)
    assert editor.text == "> # Notes\nThe code is ready. We fixed the bug. And more\nend\n"
    await writer.close()
    await editor.inserter.close()


async def test_a_word_that_may_begin_a_spoken_command_waits_for_the_next_one() -> None:
    """Live, "new" (of "new line") is not written as a word and then taken back: the line being
    dictated only ever grows towards its final text (what the user sees while speaking)."""
    editor = Editor("# Notes\n\nend")
    editor.inserter.target("file:///d", Pos(1, 0), editor.text)
    writer = DictationWriter(editor.inserter, pytest.fail)
    said = "the code is ready period new line call me tomorrow period"
    words = said.split()
    lines = []
    for n in range(1, len(words) + 1):
        writer.update(update("a", " ".join(words[:n])))
        await asyncio.sleep(0.02)
        lines.append(editor.text.split("\n")[1])
    writer.update(update("a", said, final=True))
    await settle(writer)
    assert editor.text == "# Notes\nThe code is ready.\nCall me tomorrow.\nend"
    assert all("The code is ready.".startswith(line) for line in lines), lines
    assert "The code is ready." in lines


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("the bug period new", "the bug."),
        ("is it done question", "is it done"),
        ("full", ""),
        ("a new idea", "a new idea"),  # "new" followed by a word is a word
        ("the bug period new line", "the bug.\n"),
    ],
)
def test_live_text_holds_back_the_start_of_a_spoken_command(said: str, shown: str) -> None:
    assert dictate(said, live=True).text == shown
    assert dictate(said).text != shown or said.endswith(("idea", "line"))


@pytest.mark.parametrize("late", [0.0, 0.15])
async def test_words_land_as_said_when_the_editor_echoes_edits_late(late: float) -> None:
    """The editor reports our edits back after the inserter stopped waiting for them (0.15 s
    against its 0.05 s): the words still land once each and in place, none left behind."""
    editor = Editor("# Notes\n\nfirst line", late=late)
    editor.inserter.ECHO_TIMEOUT = 0.05
    editor.inserter.target("file:///d", Pos(1, 0), editor.text)
    writer = DictationWriter(editor.inserter, pytest.fail)
    for item, said in [
        ("a", "the code is ready period we fixed the bug period"),
        ("b", "new line call me tomorrow period"),
    ]:
        words = said.split()
        for n in range(1, len(words) + 1):
            writer.update(update(item, " ".join(words[:n])))
            await asyncio.sleep(0.02)
        writer.update(update(item, said, final=True))
    await settle(writer)
    await asyncio.sleep(late + 0.05)  # the last echo
    assert (
        editor.text
        == "# Notes\nThe code is ready. We fixed the bug.\nCall me tomorrow.\nfirst line"
    )
    assert editor.inserter.before() == editor.text[: -len("\nfirst line")]
    await writer.close()
    await editor.inserter.close()


async def test_an_editor_that_never_echoes_still_gets_the_words_in_order() -> None:
    """Against the protocol, some editor never reports server edits: after a while the inserter
    follows its own edits."""
    editor = Editor("x", late=3600)
    editor.inserter.ECHO_TIMEOUT = editor.inserter.LATE_ECHO_TIMEOUT = 0.02
    editor.inserter.target("file:///d", Pos(0, 1), editor.text)
    writer = DictationWriter(editor.inserter, pytest.fail)
    writer.update(update("a", "one period", final=True))
    writer.update(update("b", "two period", final=True))
    await settle(writer)
    assert editor.text == "x one. Two."
    await writer.close()
    for echo in list(editor._echoes):
        echo.cancel()


async def test_spoken_identifiers_are_written_as_code() -> None:
    """As in the user's inserted turns: "get user by id" → getUserById when the code in front
    of the user has it, also where a sentence starts (no capital on an identifier)."""
    editor = Editor("")
    editor.inserter.target("file:///d", Pos(0, 0), editor.text)
    writer = DictationWriter(
        editor.inserter, pytest.fail, to_code=partial(to_code, vocabulary=["getUserById"])
    )
    writer.update(update("a", "call get user by id period", final=True))
    writer.update(update("b", "get user by id returns snake case max retries", final=True))
    await settle(writer)
    assert editor.text == "Call getUserById. getUserById returns max_retries"
    await writer.close()


async def test_nothing_to_undo_is_said_and_nothing_removed() -> None:
    editor = Editor("keep this")
    editor.inserter.target("file:///d", Pos(0, 9), editor.text)
    said: list[str] = []
    writer = DictationWriter(editor.inserter, said.append)
    writer.update(update("a", "undo that", final=True))
    await settle(writer)
    assert editor.text == "keep this" and said == [
        "vivavoce: nothing to undo right before the cursor"
    ]
    await writer.close()


def test_a_dictation_session_shows_dictating_not_live_or_text() -> None:
    """The microphone streams to the transcription session (billed), and nothing answers: the
    clients show DICTATING, not LIVE (a conversation) and not TEXT (no microphone)."""
    from vivavoce.conversation.status import Status

    assert Status(mode="dictation", state="live").wire()["audio"] == "dictating"
    assert Status(mode="dictation", state="idle").wire()["audio"] == "off"
    assert Status(mode="realtime", state="live").wire()["audio"] == "live"
    assert Status(mode="text", state="live").wire()["audio"] == "off"
