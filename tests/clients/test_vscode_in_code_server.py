"""The VS Code extension inside a real VS Code: code-server (VS Code 1.139.1 in a browser, whose
extensions run on its server side as in a remote window) in headless Chromium, driven over the
DevTools protocol the way a user drives it: the command palette, the status bar item, the input
box, the output channels.

code-server comes from ``scripts/code_server.sh`` (cached; ``make test`` starts it in the
background first). Everything listens on 127.0.0.1; the extension's server is this checkout's
``vivavoce lsp`` with the embedded peer and no audio devices. Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.clients.code_server import PANEL_TEXT, VIVAVOCE, workbench

pytestmark = pytest.mark.timeout(300)


def assert_each_line_once(log: str) -> None:
    """No message of the log channel is shown twice within a second (stderr and logMessage)."""
    records: list[tuple[float, str]] = []
    for line in log.splitlines():
        found = re.match(r"\d{4}-\d\d-\d\d (\d\d):(\d\d):([\d.]+) \[\w+\] (.*)", line)
        if found:
            h, m, sec, text = found.groups()
            records.append(
                (int(h) * 3600 + int(m) * 60 + float(sec), re.sub(r"^\S+ \S+ \w+ ", "", text))
            )
    assert any("call" in text for _, text in records), log
    repeated = sorted(
        {a for i, (t, a) in enumerate(records) for u, b in records[i + 1 :] if a == b and u - t < 1}
    )
    assert not repeated, f"shown more than once: {repeated}\n{log}"


def _server_command() -> list[str]:
    return [str(VIVAVOCE), "lsp"]


async def test_palette_start_send_text_transcript_and_stop(
    code_server: Path, vsix: Path, tmp_path: Path
) -> None:
    """Start from the palette → LIVE in the status bar → Send Text → both turns in the transcript
    channel → the status bar item stops the call, starts it again → Toggle Mode shows TEXT, not
    LIVE; the server's log lines appear once each."""
    user = {
        "vivavoce.server.command": _server_command(),
        "vivavoce.peer": "embedded",
        "vivavoce.logLevel": "info",  # the server logs each call to stderr and to the client
    }
    async with workbench(code_server, vsix, tmp_path, user=user) as bench:
        await bench.wait_status(r"codicon-mic(?![-\w]).* vivavoce$", 90)
        await bench.palette("vivavoce: Start Conversation")
        await bench.wait_status(r"codicon-mic-filled.*LIVE")
        await bench.palette("vivavoce: Send Text")
        await bench.input_box("what about the tests")
        await bench.page.wait_for(
            f"({PANEL_TEXT}).includes('assistant: ')",
            60,
            "the assistant's turn in the transcript",
        )
        shown = await bench.panel_text()
        assert "you: what about the tests" in shown
        assert re.search(r"assistant: .+", shown), shown
        await bench.wait_channel(
            "vivavoce transcript",
            r"— live, voice mode \(.+\) —\nyou: what about the tests\nassistant: .+\n",
        )
        item = await bench.status_item()
        await bench.screenshot(
            "vscode-status-bar-live.png", {"x": 0, "y": item["y"] - 14, "width": 640, "height": 28}
        )
        await bench.screenshot("vscode-transcript.png")

        await bench.click_status()  # the item starts or stops: it is live, so it stops
        await bench.wait_status(r"codicon-mic(?![-\w]).* vivavoce$")
        await bench.page.wait_for(
            f"({PANEL_TEXT}).includes('— ended —')",
            what="the end of the call in the transcript",
        )
        await bench.click_status()  # and starts again
        await bench.wait_status(r"codicon-mic-filled.*LIVE")
        # A text conversation streams no microphone: TEXT, not LIVE.
        await bench.palette("vivavoce: Toggle Mode (voice / text)")
        item = await bench.wait_status(r"codicon-comment-discussion.* TEXT$")
        assert "LIVE" not in item["text"] + item["label"], item
        await bench.screenshot(
            "vscode-status-bar-text.png", {"x": 0, "y": item["y"] - 14, "width": 640, "height": 28}
        )
        await bench.palette("vivavoce: Toggle Mode (voice / text)")  # back: a call, LIVE again
        await bench.wait_status(r"codicon-mic-filled.*LIVE")
        await bench.palette("vivavoce: Stop Conversation")
        await bench.wait_status(r"codicon-mic(?![-\w]).* vivavoce$")

        log = bench.channel("vivavoce")
        assert_each_line_once(log)
        assert "[error]" not in log, log
