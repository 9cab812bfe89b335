"""What of a text reply is said aloud: markdown turned into plain speech, as it streams in.

A chat model writes markdown; none of it is read aloud. :class:`SpokenMarkdown` takes the reply
in the chunks it arrives in (a fence or a link may straddle them) and gives back the words to
say:

* a code block, fenced or indented (four spaces after a blank line, outside a list), is not
  said: it goes to ``on_code(language, code)`` (the editor shows it; an indented block has no
  language) and is spoken as one short phrase, :data:`CODE_PHRASE`;
* headings, list items and table rows are said as plain sentences (their markers dropped, a
  full stop added when they have none); block quotes without ``>``; rules and table
  separators not at all;
* inline markup (parsed by markdown-it-py): emphasis and code spans as their text, a link as
  its text (never its URL), an image as its alt text; a bare or bracketed URL as "a link".

Lines are said once complete, or earlier up to the last sentence end of a line whose markup is
closed so far (a long paragraph starts speaking before its line ends). A fence is decided only
on a whole line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

#: What is said in place of a code block.
CODE_PHRASE = "I put the code in the editor."
#: What is said in its place when there is no editor to show it (``on_code`` None).
UNSHOWN_CODE_PHRASE = "The code is in the written reply."

_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_INDENT = ("    ", "\t")  # an indented code block's lines (CommonMark: 4 columns)
_RULE = re.compile(r"^ {0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,}|=+\s*)$")
_HEADING = re.compile(r" {0,3}#{1,6}(?:\s+|$)")
_HEADING_CLOSE = re.compile(r"\s+#+\s*$")
_ITEM = re.compile(r"\s*(?:[-*+]|\d{1,9}[.)])(?:\s+\[[ xX]\])?\s+")
_QUOTE = re.compile(r" {0,3}(?:>\s?)+")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_URL = re.compile(r"\bhttps?://[^\s<>()]+[^\s<>().,;:!?'\"]")
_SENTENCE_END = re.compile(r"[.!?]\s+")
_SPACES = re.compile(r"[ \t]+")
_ENDS_CLAUSE = ".!?:;,"


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def inline_to_speech(text: str) -> str:
    """One line's inline markdown as words: emphasis, code spans, links and images as their
    text; URLs as "a link"; raw HTML dropped."""
    if not text.strip():
        return ""
    words: list[str] = []
    for block in _parser().parseInline(text):
        in_autolink = False
        for token in block.children or []:
            match token.type:
                case "text":
                    if not in_autolink:
                        words.append(_URL.sub("a link", token.content))
                case "code_inline":
                    words.append(token.content)
                case "image":
                    words.append(token.content)
                case "softbreak" | "hardbreak":
                    words.append(" ")
                case "link_open" if token.markup == "autolink":
                    in_autolink = True
                    words.append("a link")
                case "link_close":
                    in_autolink = False
                case _:
                    pass
    return _SPACES.sub(" ", "".join(words)).strip()


def _closed(text: str) -> bool:
    """Whether the inline markup of ``text`` (a line's start) is closed so far."""
    if text.count("`") % 2 or text.count("**") % 2 or text.count("[") != text.count("]"):
        return False
    if text.count("<") != text.count(">"):
        return False
    opened = text.rfind("](")
    return opened < 0 or text.rfind(")") > opened


class SpokenMarkdown:
    """Streams a markdown reply into speech (see the module); code goes to ``on_code``."""

    def __init__(self, on_code: Callable[[str, str], None] | None = None) -> None:
        """``on_code``: where code is shown; None: nowhere (no editor), and it is said so."""
        self._on_code = on_code
        self._line = ""  # the line being written (raw)
        #: Of the line being written, once its start is known: the line-level kind
        #: ("heading", "item", "text") and how much of the raw line is already said.
        self._kind: str | None = None
        self._said = 0
        #: Inside a fence: its marker, the language and the code so far.
        self._fence: str | None = None
        self._language = ""
        self._code: list[str] = []
        #: An indented code block in progress (its lines, unindented), or None.
        self._indented: list[str] | None = None
        #: What came before the line being written: a blank line (or nothing), and whether
        #: the last non-blank line belonged to a list (where indentation continues an item).
        self._after_blank = True
        self._in_list = False

    def feed(self, chunk: str) -> str:
        """The next chunk of the reply; the words to say now (maybe "")."""
        *lines, self._line = (self._line + chunk).split("\n")
        out = [self._whole_line(line) for line in lines]
        if self._fence is None and self._line:
            out.append(self._partial_line())
        return "".join(out)

    def end(self) -> str:
        """The reply is complete: the rest of the words (an open fence is shown as it is)."""
        out = self._whole_line(self._line) if self._line else ""
        self._line = ""
        if self._fence is not None:
            out += self._close_fence()
        return out + self._close_indented()

    # ------------------------------------------------------------------ lines

    def _whole_line(self, line: str) -> str:
        kind, said = self._kind, self._said
        self._kind, self._said = None, 0
        after_blank, in_list = self._after_blank, self._in_list
        if line.strip():
            self._after_blank = False
            if kind == "item" or _ITEM.match(line):
                self._in_list = True
            elif not line[:1].isspace():
                self._in_list = False
        else:
            self._after_blank = True
        if self._indented is not None:
            if not line.strip() or line.startswith(_INDENT):
                self._indented.append(line[1 if line[:1] == "\t" else 4 :])
                return ""
            return self._close_indented() + self._whole_line(line)
        if (
            kind is None
            and self._fence is None
            and after_blank
            and not in_list
            and line.startswith(_INDENT)
            and line.strip()
        ):
            self._indented = [line[1 if line[:1] == "\t" else 4 :]]
            return ""
        if self._fence is not None:
            stripped = line.strip()
            if stripped.startswith(self._fence) and not stripped.strip(self._fence[0]):
                return self._close_fence()
            self._code.append(line)
            return ""
        if kind is None:
            opening = _FENCE_OPEN.match(line)
            if opening is not None:
                self._fence, self._language = opening["fence"], opening["info"]
                self._code = []
                return ""
            if _RULE.match(line) or (_TABLE_SEPARATOR.match(line) and "-" in line):
                return ""
            if line.lstrip().startswith("|"):
                cells = [inline_to_speech(c) for c in line.strip().strip("|").split("|")]
                return _sentence(", ".join(c for c in cells if c), "item")
            kind, said = self._start(line)
        rest = inline_to_speech(line[said:])
        if kind == "text":
            return rest + " " if rest else (" " if said == 0 else "")
        return _sentence(rest, kind)

    def _start(self, line: str) -> tuple[str, int]:
        """The kind of a line from its start, and where its words begin."""
        quote = _QUOTE.match(line)
        at = quote.end() if quote else 0
        if (heading := _HEADING.match(line, at)) is not None:
            return "heading", heading.end()
        if (item := _ITEM.match(line, at)) is not None:
            return "item", item.end()
        return "text", at

    def _partial_line(self) -> str:
        """Words of the line being written that can be said already: up to its last sentence
        end, when nothing before it is open."""
        line = self._line
        if self._indented is not None:
            return ""  # more code, or the text after it: decided on the whole line
        if self._kind is None:
            if self._after_blank and not self._in_list and line.startswith(_INDENT):
                return ""  # maybe an indented code block: decided on the whole line
            head = line.lstrip()
            if head[:1] in ("`", "~", "|") or _SENTENCE_END.search(line) is None:
                return ""  # maybe a fence or a table: decided on the whole line
            if _HEADING.match(line) and _HEADING_CLOSE.search(line):
                return ""
            self._kind, self._said = self._start(line)
        ends = [m.end() for m in _SENTENCE_END.finditer(line, self._said)]
        for end in reversed(ends):
            if _closed(line[self._said : end]):
                words = inline_to_speech(line[self._said : end])
                self._said = end
                return words + " " if words else ""
        return ""

    def _close_fence(self) -> str:
        code, language = self._code, self._language
        self._fence, self._language, self._code = None, "", []
        return self._show(language, code)

    def _close_indented(self) -> str:
        code, self._indented = self._indented, None
        return self._show("", code) if code is not None else ""

    def _show(self, language: str, lines: list[str]) -> str:
        code = "\n".join(lines).strip("\n")
        if not code.strip():
            return ""
        if self._on_code is None:
            return " " + UNSHOWN_CODE_PHRASE + " "
        self._on_code(language, code + "\n")
        return " " + CODE_PHRASE + " "


def _sentence(words: str, kind: str) -> str:
    """A heading's or item's words as a sentence of its own."""
    if kind == "heading":
        words = _HEADING_CLOSE.sub("", words)
    if not words:
        return ""
    return " " + words + ("" if words[-1] in _ENDS_CLAUSE else ".") + " "
