"""The insertion anchor follows edits however the editor reports them."""

import asyncio

import pytest

from vivavoce.lsp.insertion import Inserter, Pos, minimal_change, move_anchor, to_offset, to_pos


def test_neovims_line_insert_shape_is_reduced_to_a_pure_insert() -> None:
    old = "# Notes\nfirst line\n"
    start = to_offset(old, Pos(1, 0), "utf-16")
    end = to_offset(old, Pos(1, 10), "utf-16")
    assert (start, end) == (8, 18)
    # Neovim: "replace 'first line' with 'reply\nfirst line'".
    assert minimal_change(old, 8, 18, "reply\nfirst line") == (8, 8, "reply\n")


def test_anchor_is_sticky_to_the_right() -> None:
    assert move_anchor(8, 8, 8, "reply\n") == 14  # inserted at the anchor: goes before it
    assert move_anchor(8, 0, 0, "x") == 9  # typed before it
    assert move_anchor(8, 9, 9, "x") == 8  # typed after it
    assert move_anchor(8, 8, 10, "") == 8  # deleted forward from it
    assert move_anchor(8, 5, 12, "ab") == 7  # the anchor's text was replaced


def test_positions_count_utf16_units() -> None:
    text = "a😀b\nnext"
    assert to_offset(text, Pos(0, 3), "utf-16") == 2  # the emoji is two UTF-16 units
    assert to_offset(text, Pos(0, 2), "utf-16") is None  # inside a surrogate pair
    assert to_pos(text, 3, "utf-16") == Pos(0, 4)
    assert to_offset(text, Pos(0, 5), "utf-8") == 2  # the emoji is four UTF-8 bytes


async def test_successive_turns_follow_each_other_with_any_echo_shape() -> None:
    doc = {"text": "# Notes\nfirst line\n"}
    inserter: Inserter

    async def apply(
        uri: str, at: Pos, end: Pos, text: str, group: str | None
    ) -> tuple[bool, str | None]:
        assert end == at  # an insertion
        # An editor that reports the insert as Neovim does: the following line rewritten.
        old = doc["text"]
        offset = to_offset(old, at, "utf-16")
        assert offset is not None
        line_end = old.index("\n", offset)
        doc["text"] = old[:offset] + text + old[offset:]
        rest = old[offset:line_end]
        inserter.document_changed(
            uri, [(at, Pos(at.line, at.character + len(rest)), text + rest)], doc["text"]
        )
        return True, None

    inserter = Inserter(apply, lambda _: pytest.fail("nothing should be said"))
    inserter.target("file:///n", Pos(1, 0), doc["text"])
    inserter.insert("one\n")
    inserter.insert("two\n")
    await asyncio.wait_for(inserter._worker, 5)  # type: ignore[arg-type]
    # The user types above, then a third turn comes.
    doc["text"] = "Title\n" + doc["text"]
    inserter.document_changed("file:///n", [(Pos(0, 0), Pos(0, 0), "Title\n")], doc["text"])
    inserter.insert("three\n")
    await asyncio.wait_for(inserter._worker, 5)  # type: ignore[arg-type]
    assert doc["text"] == "Title\n# Notes\none\ntwo\nthree\nfirst line\n"


async def test_whole_text_sync_is_diffed_against_our_copy() -> None:
    inserter = Inserter(lambda *_: None, lambda _: None)  # type: ignore[arg-type]
    inserter.target("file:///n", Pos(1, 0), "a\nb\n")
    inserter.document_changed("file:///n", [None], "zz\na\nb\n")
    assert inserter.anchor == Pos(2, 0)


async def test_a_refused_edit_is_said_once() -> None:
    said: list[str] = []

    async def refuse(
        uri: str, at: Pos, end: Pos, text: str, group: str | None
    ) -> tuple[bool, str | None]:
        return False, "read-only buffer"

    inserter = Inserter(refuse, said.append)
    inserter.target("file:///n", Pos(0, 0), "")
    inserter.insert("one\n")
    await asyncio.wait_for(inserter._worker, 5)  # type: ignore[arg-type]
    inserter.insert("two\n")
    assert said == [
        "vivavoce stopped inserting transcripts: the editor refused the edit (read-only buffer). "
        "They still arrive as notifications."
    ]
