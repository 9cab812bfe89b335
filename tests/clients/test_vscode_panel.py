"""The conversation panel of the VS Code extension inside a real VS Code (code-server in headless
Chromium, see ``code_server.py``): a webview rendered by the web component, fed by the
extension's own connection to ``vivavoce lsp``. Driven as a user drives it: the palette opens
it, typing in its message box and Enter send, a code block's Insert button puts the code at the
editor's cursor. The panel's DOM lives in the webview's inner frame; the test reads it in an
isolated world of that frame. The screenshot goes to ``tests/artifacts/vscode-panel.png``.

It opens a window of its own (≈ 10 s) rather than sharing test_vscode_in_code_server.py's: it
needs a fresh conversation (an opened panel replays the conversation so far), instructions of
its own, and a panel left on screen keeps later calls from showing the transcript channel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.clients.code_server import EDITOR_TEXT, IDLE, LIVE, TEXT, VIVAVOCE, Workbench, workbench

pytestmark = pytest.mark.timeout(300)

#: The web component's shadow root, in the webview's frame.
ROOT = "document.querySelector('vivavoce-chat').shadowRoot"


class Webview:
    """The panel's page: the innermost frame of VS Code's webview that holds vivavoce-chat."""

    def __init__(self, bench: Workbench, context: int) -> None:
        self.bench = bench
        self.context = context

    @classmethod
    async def find(cls, bench: Workbench, timeout: float = 30) -> Webview:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            tree = (await bench.page.send("Page.getFrameTree"))["frameTree"]
            frames: list[dict[str, Any]] = []
            todo = [tree]
            while todo:
                node = todo.pop()
                frames.append(node["frame"])
                todo.extend(node.get("childFrames", []))
            for frame in frames:
                if "/webview/" not in frame.get("url", ""):
                    continue
                world = await bench.page.send(
                    "Page.createIsolatedWorld", {"frameId": frame["id"], "worldName": "test"}
                )
                view = cls(bench, world["executionContextId"])
                if await view.eval("document.querySelector('vivavoce-chat')?.shadowRoot != null"):
                    return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no webview frame holds vivavoce-chat: {frames}")
            await asyncio.sleep(0.2)

    async def eval(self, expression: str, by_value: bool = True) -> Any:
        result = await self.bench.page.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "contextId": self.context,
                "awaitPromise": True,
                "returnByValue": by_value,
            },
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:80]!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value") if by_value else result["result"]

    async def wait_for(self, expression: str, timeout: float = 30, what: str = "") -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if value := await self.eval(expression):
                return value
            if asyncio.get_running_loop().time() > deadline:
                shown = await self.eval(f"{ROOT}.querySelector('.log').innerText")
                raise AssertionError(f"waited {timeout} s for {what or expression}; shown: {shown}")
            await asyncio.sleep(0.05)

    async def box(self, element: str) -> dict[str, float]:
        """Where an element (a JavaScript expression) is on the page, all frames' offsets added."""
        found = await self.eval(element, by_value=False)
        assert found.get("objectId"), f"no {element} in the panel"
        quad = (await self.bench.page.send("DOM.getBoxModel", {"objectId": found["objectId"]}))[
            "model"
        ]["border"]
        xs, ys = quad[0::2], quad[1::2]
        return {"x": min(xs), "y": min(ys), "width": max(xs) - min(xs), "height": max(ys) - min(ys)}

    async def click(self, element: str) -> None:
        """A real click in the middle of the element (scrolled into view first)."""
        await self.eval(f"({element}).scrollIntoView({{block: 'nearest'}})")
        b = await self.box(element)
        for kind in ("mousePressed", "mouseReleased"):
            await self.bench.page.mouse(kind, b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)

    async def turns(self) -> list[dict[str, Any]]:
        return list(
            await self.eval(
                f"[...{ROOT}.querySelectorAll('.turn')].map(e => ({{role: e.dataset.role,"
                " text: e.vvText ?? e.textContent, streaming: e.classList.contains('streaming'),"
                " bubble: getComputedStyle(e).borderTopLeftRadius !== '0px'}))"
            )
        )


async def test_panel_bubbles_streaming_mode_and_code_insert(
    code_server: Path, vsix: Path, tmp_path: Path
) -> None:
    """Palette → the panel → type and Enter: the user's bubble, then the assistant's streaming in
    (LIVE on); the mode button switches to text mode, where a reply with a fenced block shows it
    as code whose Insert button puts it at the cursor of the open file. The embedded peer is told
    to say the user's text word for word."""
    user = {
        "vivavoce.server.command": [str(VIVAVOCE), "lsp"],
        "vivavoce.peer": "embedded",
        "vivavoce.instructions": "Say the user's text word for word.",
    }
    async with workbench(code_server, vsix, tmp_path, user=user) as bench:
        await bench.wait_status(IDLE, 90)
        # notes.md open, the cursor at its end: where Insert puts the code.
        await bench.open_file("notes.md")
        await bench.page.wait_for(f"({EDITOR_TEXT}).includes('first line')", 30, "notes.md")
        await bench.key("End", "End", 35, modifiers=2)  # Ctrl+End

        await bench.palette("vivavoce: Show Conversation Panel")
        panel = await Webview.find(bench)
        await panel.wait_for(
            f"{ROOT}.querySelector('.state').textContent === 'idle'"
            f" && {ROOT}.querySelector('.voice').options.length > 1",
            60,
            "the panel connected (idle, voices listed)",
        )
        # Every change of an assistant turn, to see the reply stream in (not arrive whole).
        await panel.eval(
            f"""(() => {{ window.seen = [];
              new MutationObserver(() => {{
                const a = [...{ROOT}.querySelectorAll('.turn.assistant')].at(-1);
                if (a) window.seen.push([a.classList.contains('streaming'), a.textContent]);
              }}).observe({ROOT}.querySelector('.log'),
                          {{subtree: true, childList: true, characterData: true}});
            }})()"""
        )

        await panel.click(f"{ROOT}.querySelector('.text')")
        await bench.type("what about the tests")
        await bench.enter()
        await panel.wait_for(
            f"[...{ROOT}.querySelectorAll('.turn.assistant')].some(e =>"
            " !e.classList.contains('streaming') && e.textContent.includes('what about the tests'))",
            60,
            "the assistant's reply",
        )
        turns = await panel.turns()
        assert [(t["role"], t["text"].strip(), t["bubble"]) for t in turns] == [
            ("user", "what about the tests", True),
            ("assistant", "what about the tests", True),
        ], turns
        seen = await panel.eval("window.seen")
        assert any(streaming for streaming, _ in seen), f"the reply never streamed: {seen}"
        assert await panel.eval(f"!{ROOT}.querySelector('.live').hidden"), "no LIVE badge"
        assert await panel.eval(f"{ROOT}.querySelector('.indicator').hidden")
        await bench.wait_status(LIVE)  # the same call as the status bar's

        # Text mode (the panel's mode button runs vivavoce.toggleMode): its replies keep their
        # lines, a spoken transcript does not.
        await panel.click(f"{ROOT}.querySelector('.mode')")
        await panel.wait_for(
            f"{ROOT}.querySelector('.mode').textContent === 'Mode: text'", 30, "text mode"
        )
        # A text conversation streams no microphone: the quiet TEXT badge, not LIVE, in the
        # panel as in the status bar.
        await panel.wait_for(
            f"{ROOT}.querySelector('.live').hidden"
            f" && {ROOT}.querySelector('.indicator').textContent === 'TEXT'"
            f" && !{ROOT}.querySelector('.indicator').hidden",
            30,
            "TEXT instead of LIVE",
        )
        await bench.wait_status(TEXT)
        await panel.click(f"{ROOT}.querySelector('.text')")
        await bench.type("Add this:\n```python\nprint(42)\n```")
        await bench.enter()
        code = (
            f"[...{ROOT}.querySelectorAll('.turn.assistant .code pre')]"
            ".map(e => e.textContent).at(-1)"
        )
        assert await panel.wait_for(code, 60, "the code block in the reply") == "print(42)"
        assert await panel.eval(f"{ROOT}.querySelectorAll('.turn.user .code').length") == 1
        # (Not maximized for the picture: after toggling it back through the palette, notes.md
        # was not shown again within 30 s in 2 of 4 runs, most likely the panel left maximized;
        # the Insert below needs notes.md shown.)
        await bench.screenshot(
            "vscode-panel.png", await panel.box("document.querySelector('vivavoce-chat')")
        )
        await bench.page.wait_for(f"({EDITOR_TEXT}).includes('first line')", 30, "notes.md")

        await panel.click(f"[...{ROOT}.querySelectorAll('.turn.assistant .insert')].at(-1)")
        await bench.page.wait_for(
            f"({EDITOR_TEXT}).includes('print(42)')",
            30,
            "the code inserted at the cursor of notes.md",
        )
        errors = await bench.page.eval(
            "[...document.querySelectorAll('.notifications-toasts .notification-list-item')]"
            ".map(e => e.innerText)"
        )
        assert not errors, errors
