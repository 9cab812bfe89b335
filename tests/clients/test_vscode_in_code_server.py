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
import pytest_asyncio
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
#: The status bar item when no call is running (voice mode), and during a voice call.
IDLE = r"codicon-mic(?![-\w]).* vivavoce$"
LIVE = r"codicon-mic-filled.*LIVE"

# One code-server (≈ 20 s to a ready extension on 2 cores) serves every test of the module.
pytestmark = [pytest.mark.timeout(300), pytest.mark.asyncio(loop_scope="module")]


def _fail(why: str) -> None:
    pytest.fail(why, pytrace=False)


@pytest.fixture(scope="module")
def code_server() -> Path:
    """The cached code-server launcher (installed now if ``make test`` has not yet)."""
    done = subprocess.run(
        [ROOT / "scripts" / "code_server.sh"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        _fail(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no code-server")
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension packaged from this checkout, as users install it."""
    if not (EXTENSION / "node_modules" / ".bin" / "vsce").exists():
        _fail("clients/vscode/node_modules is missing: run `npm ci` there (make test-vscode does)")
    out = tmp_path_factory.mktemp("vsix") / "vivavoce.vsix"
    done = subprocess.run(
        ["npx", "--no-install", "vsce", "package", "--no-dependencies", "-o", str(out)],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        _fail(f"vsce package failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return out


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
) -> AsyncIterator[Workbench]:
    """code-server on 127.0.0.1 (any port, no auth) with the extension installed, ``user`` and
    ``machine`` (the remote side's) settings, and a folder holding notes.md; Chromium on it."""
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSCODE_")}
    # The server the extension starts: no sound card; `vivavoce` is not on its PATH.
    env["VIVAVOCE_AUDIO_DEVICES"] = "false"
    for name in ("OPENAI_API_KEY", "VIVAVOCE_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)  # module-scoped benches start before tests/conftest.py isolates
    env["VIVAVOCE_HISTORY_DIR"] = str(home / "history")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != VIVAVOCE.parent
    )
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
    process = await asyncio.create_subprocess_exec(
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
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its extension host and our server end with it
    )
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


#: The User settings of the shared window.
USER = {
    "vivavoce.server.command": _server_command(),
    "vivavoce.peer": "embedded",
    "vivavoce.logLevel": "info",  # the server logs each call to stderr and to the client
}


#: The files of the shared window's folder, beside notes.md.
FILES = {"todo.md": "# Todo\nfirst line\nlast line\n", "journal.md": "# Journal\n"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_bench(
    code_server: Path, vsix: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Workbench]:
    """One code-server window for the module, its extension's server running and idle."""
    home = tmp_path_factory.mktemp("code-server")
    (home / "folder").mkdir()
    for name, text in FILES.items():  # before the window opens: Quick Open caches its index
        (home / "folder" / name).write_text(text)
    async with workbench(code_server, vsix, home, user=USER) as bench:
        await bench.wait_status(IDLE, 90)
        yield bench


@pytest_asyncio.fixture(loop_scope="module")
async def bench(
    shared_bench: Workbench, request: pytest.FixtureRequest
) -> AsyncIterator[Workbench]:
    """The shared window; afterwards (a screenshot if the test failed) no call, no editor."""
    failed = request.session.testsfailed
    yield shared_bench
    if request.session.testsfailed > failed:
        await shared_bench.screenshot(f"vscode-failure-{request.node.name}.png")
    await shared_bench.key("Escape", "Escape", 27)
    item = await shared_bench.status_item()
    if not re.search(IDLE, f"{item['icons']} {item['text']}"):
        await shared_bench.palette("vivavoce: Stop Conversation")
        await shared_bench.wait_status(r"codicon-(mic|comment)(?![-\w]).* vivavoce$")
    await shared_bench.palette("View: Close All Editors")


async def test_palette_start_send_text_transcript_and_stop(bench: Workbench) -> None:
    """Start from the palette → LIVE in the status bar → Send Text → both turns in the transcript
    channel → the status bar item stops the call; the server's log lines appear once each."""
    # The first test of the shared window: the logs so far are this test's.
    await bench.wait_status(IDLE, 90)
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
    await bench.palette("vivavoce: Stop Conversation")
    await bench.wait_status(r"codicon-mic(?![-\w]).* vivavoce$")

    log = bench.channel("vivavoce")
    assert_each_line_once(log)
    assert "[error]" not in log, log


async def test_push_to_talk_key(bench: Workbench) -> None:
    """F4 during a voice call: the status bar shows "talking" until F4 is pressed again (VS Code
    has no key-up, so each press flips); F4 does nothing once the call has ended."""
    await bench.palette("vivavoce: Start Conversation")
    item = await bench.wait_status(LIVE + "$")
    assert "F4: push to talk" in item["label"], item
    await bench.key("F4", "F4", 115)
    await bench.wait_status(LIVE + " · talking$", 10)
    await bench.key("F4", "F4", 115)
    await bench.wait_status(LIVE + "$", 10)
    await bench.palette("vivavoce: Stop Conversation")
    await bench.wait_status(IDLE)
    await bench.key("F4", "F4", 115)  # not bound outside a call (the vivavoce.live context)
    await asyncio.sleep(1)
    item = await bench.status_item()
    assert re.search(IDLE, f"{item['icons']} {item['text']}"), item


async def test_mode_toggle(bench: Workbench) -> None:
    """Toggle Mode during a call: the status bar says text mode (no LIVE badge), a typed turn is
    answered, and toggling again is back to the voice call."""
    await bench.palette("vivavoce: Start Conversation")
    await bench.wait_status(LIVE)
    await bench.palette("vivavoce: Toggle Mode (voice / text)")
    item = await bench.wait_status(r"codicon-comment-discussion.* text mode$")
    assert "LIVE" not in item["text"] and "text mode" in item["label"], item
    await bench.wait_channel("vivavoce transcript", r"— live, text mode \(.+\) —\n")
    await bench.palette("vivavoce: Send Text")
    await bench.input_box("a typed question in text mode")
    await bench.wait_channel(
        "vivavoce transcript",
        r"— live, text mode \(.+\) —\nyou: a typed question in text mode\nassistant: .+\n",
    )
    await bench.palette("vivavoce: Toggle Mode (voice / text)")
    await bench.wait_status(LIVE + "$")
    await bench.wait_channel(
        "vivavoce transcript",
        r"assistant: .+\n(— ended —\n)?— live, voice mode \(.+\) —\n(?![\s\S]*text mode)",
    )


async def test_voice_pick(bench: Workbench) -> None:
    """Select Voice lists the voices of the current mode, the current one first; picking one
    restarts the call in it: the status bar's tooltip and the transcript name the new voice."""
    await bench.palette("vivavoce: Start Conversation")
    item = await bench.wait_status(LIVE)
    current = re.search(r"vivavoce: live \(.+, (\w+)\)", item["label"])
    assert current, item
    await bench.palette("vivavoce: Select Voice")
    await bench.quick_input()
    await bench.page.wait_for(
        "document.querySelectorAll('.quick-input-list .monaco-list-row').length > 3",
        what="the voices",
    )
    rows = await bench.quick_pick_rows()
    assert rows[0] == f"{current.group(1)}, current", rows
    assert {"alloy", "verse", "marin"} <= {r.split(",")[0] for r in rows}, rows
    new = "verse" if current.group(1) != "verse" else "marin"
    await bench.type(new)
    await bench.enter()
    await bench.wait_label(rf"vivavoce: live \(.+, {new}\)")
    await bench.wait_status(LIVE)
    await bench.wait_channel(
        "vivavoce transcript", rf"— ended —\n— live, voice mode \(.+, {new}\) —"
    )


async def test_voice_tool_edit_lands_in_the_open_editor(bench: Workbench) -> None:
    """Typed "replace line 2 with …" (the peer's model calls replace_range): the open editor
    shows the new line, and Show Transcript reveals the tool's line and the assistant's answer."""
    await bench.open_file("todo.md")
    await bench.palette("vivavoce: Send Text")
    await bench.input_box("replace line 2 with the line the voice wrote")
    await bench.page.wait_for(
        f"({EDITOR_TEXT}).includes('the line the voice wrote')", 60, "the edit in the editor"
    )
    assert (await bench.editor_text()).rstrip().splitlines() == [
        "# Todo",
        "the line the voice wrote",
        "last line",
    ]
    if await bench.page.eval(f"({PANEL_ONLY_TEXT}).length > 0"):
        await bench.palette("View: Hide Panel")
        await bench.page.wait_for(f"({PANEL_ONLY_TEXT}).length === 0", what="the panel hidden")
    await bench.palette("vivavoce: Show Transcript")
    await bench.page.wait_for(
        f"({PANEL_ONLY_TEXT}).includes('assistant: Done. I replaced line 2.')",
        30,
        "the tool's answer in the transcript",
    )
    shown = str(await bench.page.eval(PANEL_ONLY_TEXT))
    assert re.search(r"you: replace line 2 with the line the voice wrote\n🔧 tool: .+", shown), (
        shown
    )
    await bench.screenshot("vscode-voice-edit.png")


async def test_settings_ui_change_reaches_the_running_server(bench: Workbench) -> None:
    """vivavoce.insertTranscripts changed in the Settings UI during a call: the next turns are
    inserted into the open editor (before the change they were not); no restart."""
    await bench.open_file("journal.md")
    await bench.palette("vivavoce: Start Conversation")
    await bench.wait_status(LIVE)
    await bench.palette("vivavoce: Send Text")
    await bench.input_box("a note before the change")
    await bench.wait_channel(
        "vivavoce transcript", r"you: a note before the change\nassistant: .+\n"
    )
    assert (await bench.editor_text()).rstrip() == "# Journal"
    settings = bench.home / "data" / "User" / "settings.json"
    try:
        await bench.choose_setting("vivavoce.insertTranscripts", "both")
        assert json.loads(settings.read_text())["vivavoce.insertTranscripts"] == "both"
        await bench.page.wait_for(
            "document.querySelector('.part.editor .tab.active')?.getAttribute('aria-label')"
            "?.startsWith('journal.md')",
            what="journal.md active again",
        )
        await bench.palette("vivavoce: Send Text")
        await bench.input_box("a note after the change")
        await bench.page.wait_for(
            f"({EDITOR_TEXT}).includes('Assistant: ')", 60, "the turns inserted in the editor"
        )
        text = await bench.editor_text()
        assert "You: a note after the change" in text, text
        assert "a note before the change" not in text, text
    finally:
        settings.write_text(
            json.dumps(
                USER | json.loads(settings.read_text()) | {"vivavoce.insertTranscripts": "none"},
                indent=2,
            )
        )
