"""A program in a real terminal: a pseudo-terminal of a fixed size, read by ``pyte``.

``nvim --headless`` draws nothing, so a test that must see what a user sees runs Neovim's own
terminal UI on a pty and feeds everything it prints to pyte, a VT100/xterm emulator: the screen
grid, characters and colours, as a terminal would show it. ``to_html`` renders that grid (for a
PNG taken by headless Chromium, ``tests/web/cdp.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyte

#: pyte's names for the 16 ANSI colours → xterm's default palette.
PALETTE = {
    "black": "#000000", "red": "#cd0000", "green": "#00cd00", "brown": "#cdcd00",
    "blue": "#0000ee", "magenta": "#cd00cd", "cyan": "#00cdcd", "white": "#e5e5e5",
    "brightblack": "#7f7f7f", "brightred": "#ff0000", "brightgreen": "#00ff00",
    "brightbrown": "#ffff00", "brightblue": "#5c5cff", "brightmagenta": "#ff00ff",
    "brightcyan": "#00ffff", "brightwhite": "#ffffff",
}  # fmt: skip
DEFAULT_FG, DEFAULT_BG = "#d0d0d0", "#101010"


class Terminal:
    """A process on a pty of ``columns`` × ``lines``; ``screen`` is what the terminal shows."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        columns: int = 110,
        lines: int = 32,
    ) -> None:
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self._partial = b""  # an unfinished device control string
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        # The program's terminal queries (device attributes, cursor position) are answered.
        self.screen.write_process_input = self._answer  # type: ignore[method-assign]
        try:
            self.process = subprocess.Popen(
                list(argv),
                env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)},
                cwd=cwd,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,  # the pty becomes its controlling terminal
                close_fds=True,
            )
        except BaseException:
            os.close(self.master)
            raise
        finally:
            os.close(slave)

    def _answer(self, data: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, data.encode())

    def read(self, seconds: float) -> bool:
        """Feed what the program prints for up to ``seconds`` to the screen; False once it ended."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every copy of the pty's other end is closed
                return False
            if not data:
                return False
            self.stream.feed(self._without_dcs(data))
        return True

    def _without_dcs(self, data: bytes) -> bytes:
        """``data`` less device control strings (``ESC P … ESC \\``), which pyte does not parse
        and would print: Neovim ≥ 0.10 asks the terminal for its capabilities with them."""
        data, self._partial = self._partial + data, b""
        kept = b""
        while (start := data.find(b"\x1bP")) >= 0:
            end = data.find(b"\x1b\\", start + 2)
            if end < 0:  # the rest comes in the next read
                self._partial = data[start:]
                data = data[:start]
                break
            kept += data[:start]
            data = data[end + 2 :]
        if data.endswith(b"\x1b") and not self._partial:  # maybe the start of one
            data, self._partial = data[:-1], b"\x1b"
        return kept + data

    def read_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Read until ``condition()`` holds (checked between reads) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or not self.read(0.05):
                return condition()
        return True

    def settle(self, quiet: float = 0.3, timeout: float = 5) -> None:
        """Read until the program printed nothing for ``quiet`` seconds (the screen is drawn)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], quiet)
            if not ready:
                return
            if not self.read(0.01):
                return

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def text(self) -> list[str]:
        """The screen's rows as text, trailing blanks removed."""
        return [row.rstrip() for row in self.screen.display]

    def close(self, timeout: float = 10) -> None:
        """The program ends (killed with its session if it does not by itself); idempotent."""
        if self.process.poll() is None:
            self.read(0)  # nothing to do, but a full pty buffer would block the program's exit
            end = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < end:
                self.read(0.1)
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def _colour(name: str, default: str) -> str:
    if name == "default":
        return default
    if name in PALETTE:
        return PALETTE[name]
    return f"#{name}"  # 256-colour and true colour cells: six hex digits


def to_html(screen: pyte.Screen, title: str) -> str:
    """The screen as a page: a <pre> of rows, each cell in its colours (reverse, bold kept)."""
    rows = []
    for y in range(screen.lines):
        line = screen.buffer[y]
        spans: list[str] = []
        run: tuple[str, str, bool] | None = None
        text = ""
        for x in range(screen.columns):
            char = line[x]
            if char.data == "":  # the second half of a wide character
                continue
            fg, bg = _colour(char.fg, DEFAULT_FG), _colour(char.bg, DEFAULT_BG)
            if char.reverse:
                fg, bg = bg, fg
            style = (fg, bg, char.bold)
            if style != run and text:
                spans.append(_span(run, text))
                text = ""
            run = style
            text += char.data
        if text:
            spans.append(_span(run, text))
        rows.append(f"<div>{''.join(spans)}</div>")
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>html,body{{margin:0;background:{DEFAULT_BG}}}"
        "pre{margin:0;padding:8px;font:14px 'DejaVu Sans Mono',monospace;"
        f"color:{DEFAULT_FG};display:inline-block}}"
        # Each row as tall as its cells, so backgrounds join up like a terminal's.
        "div{height:18px;line-height:18px}span{display:inline-block;height:100%}</style>"
        f"<pre>{''.join(rows)}</pre>"
    )


def _span(style: tuple[str, str, bool] | None, text: str) -> str:
    assert style is not None
    fg, bg, bold = style
    weight = ";font-weight:bold" if bold else ""
    return f'<span style="color:{fg};background:{bg}{weight}">{html.escape(text)}</span>'
