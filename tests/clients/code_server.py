"""What the tests of the VS Code extension inside code-server share: the workbench (code-server
on 127.0.0.1 with the packaged extension, headless Chromium on it) and how to drive it over the
DevTools protocol. The fixtures (``code_server``, ``vsix``) are in this folder's conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.web.cdp import Page, chromium_path, launch

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "clients" / "vscode"
ARTIFACTS = ROOT / "tests" / "artifacts"
VIVAVOCE = Path(sys.executable).parent / "vivavoce"

#: The text of the editors on screen: the output channel in the panel (no file is open).
PANEL_TEXT = (
    "[...document.querySelectorAll('.view-lines')].map(e => e.innerText).join('\\n')"
    ".replace(/\\u00a0/g, ' ')"  # Monaco renders spaces as no-break spaces
)
#: The text of the open file's editor (the editor area, not the panel).
EDITOR_TEXT = (
    "[...document.querySelectorAll('.part.editor .view-lines')].map(e => e.innerText).join('\\n')"
    ".replace(/\\u00a0/g, ' ')"
)
#: The text of the panel's editor (an output channel) alone, with a file open in the editor area.
PANEL_ONLY_TEXT = EDITOR_TEXT.replace(".part.editor", ".part.panel")

# The status bar item (``Workbench.wait_status`` matches "<codicon classes> <text>"):
#: no call, voice mode;
IDLE = r"codicon-mic(?![-\w]).* vivavoce$"
#: no call, either mode;
STOPPED = r"codicon-(mic|comment)(?![-\w]).* vivavoce$"
#: a voice call: the microphone streams, billed by the minute;
LIVE = r"codicon-mic-filled.*LIVE"
#: a text conversation (a call that sends no microphone), not LIVE;
TEXT = r"codicon-comment-discussion.* TEXT$"
#: text mode's push to talk down: recording a turn, nothing streams.
DICTATING = r"codicon-record.* DICTATING$"


def fail(why: str) -> None:
    pytest.fail(why, pytrace=False)


@dataclass
class Workbench:
    """A code-server process, its folders, and a Chromium tab on its workbench."""

    page: Page
    home: Path
    process: asyncio.subprocess.Process

    async def key(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            await self.page.send(
                "Input.dispatchKeyEvent",
                {
                    "type": kind,
                    "key": key,
                    "code": code,
                    "windowsVirtualKeyCode": key_code,
                    "modifiers": modifiers,
                },
            )

    async def enter(self) -> None:
        await self.key("Enter", "Enter", 13)

    async def type(self, text: str) -> None:
        await self.page.send("Input.insertText", {"text": text})

    async def quick_input(self) -> None:
        await self.page.wait_for(
            "document.activeElement?.closest('.quick-input-widget') !== null"
            " && getComputedStyle(document.querySelector('.quick-input-widget')).display"
            " !== 'none'",
            what="the quick input",
        )

    async def palette(self, title: str) -> None:
        """Run a command by its title from the command palette (F1)."""
        await self.key("F1", "F1", 112)
        await self.quick_input()
        await self.type(title)
        await self.page.wait_for(
            "[...document.querySelectorAll('.quick-input-list .monaco-list-row')]"
            f".some(r => r.getAttribute('aria-label')?.startsWith({json.dumps(title)}))",
            what=f"{title!r} in the palette",
        )
        await self.enter()

    async def input_box(self, text: str) -> None:
        """Answer an input box (showInputBox)."""
        await self.quick_input()
        await self.type(text)
        await self.enter()

    async def status_item(self) -> dict[str, Any]:
        """The vivavoce status bar item: its text and tooltip (aria-label) and its box."""
        value = await self.page.eval(
            """(() => {
              const e = [...document.querySelectorAll('.statusbar-item')]
                .find(e => e.id.endsWith('vivavoce.status'));
              if (!e) return null;
              const r = e.getBoundingClientRect();
              return {text: e.innerText.trim(), label: e.getAttribute('aria-label') || '',
                      icons: [...e.querySelectorAll('.codicon')].map(i => i.className).join(' '),
                      x: r.x + r.width / 2, y: r.y + r.height / 2};
            })()"""
        )
        return value or {"text": "", "label": "", "icons": "", "x": 0, "y": 0}

    async def wait_status(self, pattern: str, timeout: float = 60) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            item = await self.status_item()
            if re.search(pattern, f"{item['icons']} {item['text']}"):
                return item
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"status bar item {item} never matched {pattern!r}")
            await asyncio.sleep(0.1)

    async def click_status(self) -> None:
        item = await self.status_item()
        for kind in ("mousePressed", "mouseReleased"):
            await self.page.mouse(kind, item["x"], item["y"])

    async def panel_text(self) -> str:
        """What the visible output channel shows (the panel's editor)."""
        text = await self.page.eval(PANEL_TEXT)
        return str(text).replace("\u00a0", " ")

    def channel(self, name: str) -> str:
        """Everything written to an output channel (the extension host's copy of it)."""
        texts = [
            p.read_text()
            for p in (self.home / "data" / "logs").rglob("*.log")
            if p.name == f"{name}.log" or p.name.endswith(f"-{name}.log")
        ]
        return "\n".join(texts)

    async def wait_channel(self, name: str, pattern: str, timeout: float = 30) -> str:
        for _ in range(int(timeout / 0.1)):
            if re.search(pattern, text := self.channel(name)):
                return text
            await asyncio.sleep(0.1)
        raise AssertionError(f"{pattern!r} never in the {name!r} channel:\n{self.channel(name)}")

    @property
    def folder(self) -> Path:
        """The workspace folder the window has open."""
        return self.home / "folder"

    async def wait_label(self, pattern: str, timeout: float = 30) -> dict[str, Any]:
        """Wait for the status bar item's tooltip (its aria-label) to match ``pattern``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not re.search(pattern, (item := await self.status_item())["label"]):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"status bar item {item} never said {pattern!r}")
            await asyncio.sleep(0.1)
        return item

    async def quick_pick_rows(self) -> list[str]:
        """The rows of the open quick pick (their aria-labels)."""
        rows = await self.page.eval(
            "[...document.querySelectorAll('.quick-input-list .monaco-list-row')]"
            ".map(r => r.getAttribute('aria-label'))"
        )
        return [str(r) for r in rows]

    async def open_file(self, name: str) -> None:
        """Quick Open (Ctrl+P) a file of the folder; wait until its editor is active."""
        await self.key("p", "KeyP", 80, modifiers=2)
        await self.quick_input()
        await self.type(name)
        await self.page.wait_for(
            "[...document.querySelectorAll('.quick-input-list .monaco-list-row')]"
            f".some(r => r.getAttribute('aria-label')?.includes({json.dumps(name)}))",
            what=f"{name} in Quick Open",
        )
        await self.enter()
        await self.page.wait_for(
            "document.querySelector('.part.editor .tab.active')?.getAttribute('aria-label')"
            f"?.startsWith({json.dumps(name)}) && document.activeElement?.closest('.part.editor')"
            " !== null",
            what=f"the editor of {name}",
        )

    async def editor_text(self) -> str:
        return str(await self.page.eval(EDITOR_TEXT))

    async def editor_lines(self) -> list[str]:
        """The open file's lines on screen, in order (Monaco reuses a line's element for
        another line after edits, so the elements are put in order by where they are)."""
        lines = await self.page.eval(
            "[...document.querySelectorAll('.part.editor .view-line')]"
            ".sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))"
            ".map(e => e.innerText.replace(/\\n/g, '').replace(/\\u00a0/g, ' '))"
        )
        return [str(line) for line in lines]

    async def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.page.mouse(kind, x, y)

    async def box(self, expression: str) -> dict[str, float]:
        """The centre of the element ``expression`` finds."""
        found = await self.page.eval(
            f"(() => {{ const r = ({expression}).getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        return {"x": float(found["x"]), "y": float(found["y"])}

    async def choose_setting(self, key: str, value: str) -> None:
        """Settings UI (the palette's "Preferences: Open Settings (UI)"): search for ``key``, open
        its dropdown, click ``value``, and close the Settings editor (Escape)."""
        await self.palette("Preferences: Open Settings (UI)")
        await self.page.wait_for(
            "document.activeElement?.closest('.settings-header-widget, .settings-header,"
            " .suggest-input-container') != null",
            what="Settings search",
        )
        await self.type(key)
        select = f"document.querySelector('select[aria-label={json.dumps(key)}]')"
        await self.page.wait_for(f"{select} !== null", what=f"{key} in the Settings UI")
        option = (
            "[...document.querySelectorAll('.select-box-dropdown-list-container .monaco-list-row')]"
            f".find(r => r.innerText.split('\\n')[0] === {json.dumps(value)})"
        )
        for _ in range(10):  # the settings list re-renders under the pointer at first
            await self.click(**await self.box(select))
            with contextlib.suppress(TimeoutError):
                await self.page.wait_for(f"{option} !== undefined", 1.5)
                break
        await self.click(**await self.box(option))
        await self.page.wait_for(f"{select}.value === {json.dumps(value)}", what=f"{key} = {value}")
        user = self.home / "data" / "User" / "settings.json"
        for _ in range(100):  # written after a pause; closing the editor first would drop it
            if json.loads(user.read_text()).get(key) == value:
                break
            await asyncio.sleep(0.1)
        await self.key("Escape", "Escape", 27)

    async def screenshot(self, name: str, clip: dict[str, float] | None = None) -> None:
        params: dict[str, Any] = {"format": "png"}
        if clip:
            params["clip"] = {**clip, "scale": 1}

        data = await self.page.send("Page.captureScreenshot", params)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / name).write_bytes(base64.b64decode(data["data"]))


@contextlib.asynccontextmanager
async def workbench(
    code_server: Path,
    vsix: Path,
    home: Path,
    *,
    user: dict[str, Any],
    machine: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Workbench]:
    """code-server on 127.0.0.1 (any port, no auth) with the extension installed, ``user`` and
    ``machine`` (the remote side's) settings, and a folder holding notes.md; Chromium on it.
    ``env``: variables for code-server and so for the extension's server (over the defaults
    below: e.g. ``VIVAVOCE_AUDIO_DEVICES=true`` and a ``PULSE_SERVER``)."""
    data, extensions, folder = home / "data", home / "extensions", home / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.md").write_text("# Notes\nfirst line\n")
    quiet = {
        "workbench.startupEditor": "none",
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "chat.disableAIFeatures": True,
        "telemetry.telemetryLevel": "off",
        "extensions.autoUpdate": False,
        "extensions.autoCheckUpdates": False,
        "update.mode": "none",
        "workbench.enableExperiments": False,
    }
    for scope, values in (("User", {**quiet, **user}), ("Machine", machine or {})):
        (data / scope).mkdir(parents=True, exist_ok=True)
        (data / scope / "settings.json").write_text(json.dumps(values, indent=2))
    common = [
        f"--config={home / 'config.yaml'}",
        f"--user-data-dir={data}",
        f"--extensions-dir={extensions}",
    ]
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSCODE_")}
    # The server the extension starts: no sound card; `vivavoce` is not on its PATH.
    env["VIVAVOCE_AUDIO_DEVICES"] = "false"
    for name in ("OPENAI_API_KEY", "VIVAVOCE_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)  # module-scoped benches start before tests/conftest.py isolates
    env["VIVAVOCE_HISTORY_DIR"] = str(home / "history")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != VIVAVOCE.parent
    )
    env |= extra
    installed = subprocess.run(
        [code_server, *common, "--install-extension", vsix],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    log = home / "code-server.log"
    with log.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        process = await _start_code_server(code_server, common, folder, log_file, env)
    try:
        url = ""
        for _ in range(600):
            found = re.search(
                r"HTTP server listening on (http://127\.0\.0\.1:\d+/)", log.read_text()
            )
            if found:
                url = found.group(1)
                break
            if process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert url, f"code-server did not start:\n{log.read_text()}"
        browser_path = chromium_path()
        assert browser_path, "chromium is missing (make setup installs it)"
        async with launch(browser_path, ["--window-size=1280,800"]) as browser:
            page = await browser.new_page()
            await page.goto(f"{url}?folder={folder}")
            bench = Workbench(page, home, process)
            await page.wait_for(
                "document.querySelector('.part.statusbar') !== null", 90, "the workbench"
            )
            try:
                yield bench
            except BaseException:
                await bench.screenshot("vscode-failure.png")
                raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def _start_code_server(
    code_server: Path, common: list[str], folder: Path, log_file: Any, env: dict[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(code_server),
        *common,
        "--bind-addr=127.0.0.1:0",
        "--auth=none",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--ignore-last-opened",
        str(folder),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its extension host and our server end with it
    )
