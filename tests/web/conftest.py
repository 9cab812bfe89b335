"""Real servers for the web tests: ``vivavoce lsp --ws`` and ``vivavoce web`` as subprocesses.

Until ``vivavoce lsp --ws`` / ``vivavoce web`` are wired into the ``vivavoce`` command, the same
code runs as ``python -m vivavoce.web``. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cdp import Browser, Page, chromium_path, launch

OUTPUT = Path(__file__).parent / "output"
ASSETS = Path(__file__).resolve().parents[2] / "clients" / "web"


@functools.cache
def _wired(sub: str, flag: str) -> bool:
    """Whether ``vivavoce SUB`` knows FLAG yet (the lead wires cli.py)."""
    out = subprocess.run(
        [sys.executable, "-m", "vivavoce", sub, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return out.returncode == 0 and flag in out.stdout


def command(sub: str) -> list[str]:
    """``vivavoce lsp`` (with --ws) or ``vivavoce web``, or the module that implements them."""
    flag = "--ws" if sub == "lsp" else "--no-browser"
    module = "vivavoce" if _wired(sub, flag) else "vivavoce.web"
    return [sys.executable, "-m", module, sub]


@dataclass
class Running:
    """A server subprocess and the address it printed."""

    process: asyncio.subprocess.Process
    url: str
    log: Path

    @property
    def token(self) -> str:
        match = re.search(r"token=([^&]+)", self.url)
        assert match
        return match.group(1)

    @property
    def address(self) -> str:
        match = re.match(r"\w+://([^/]+)/", self.url)
        assert match
        return match.group(1)

    def stderr(self) -> str:
        return self.log.read_text()

    async def wait_stderr(self, text: str, timeout: float = 10) -> str:
        for _ in range(int(timeout / 0.05)):
            if text in self.stderr():
                return self.stderr()
            await asyncio.sleep(0.05)
        pytest.fail(f"{text!r} not in the server's stderr:\n{self.stderr()}")


@contextlib.asynccontextmanager
async def running(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[Running]:
    with log.open("w") as err:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=err, env=env
        )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 90)).decode().strip()
        if not line.startswith("listening on "):
            pytest.fail(f"{args} printed {line!r}; stderr:\n{log.read_text()}")
        yield Running(process, line.removeprefix("listening on "), log)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def ws_server(tmp_path: Path) -> AsyncIterator[Running]:
    """``vivavoce lsp --ws 127.0.0.1:0`` (file pages and no-Origin clients admitted)."""
    async with running([*command("lsp"), "--ws", "127.0.0.1:0"], tmp_path / "lsp.err") as server:
        yield server


@pytest.fixture
async def web_server(tmp_path: Path) -> AsyncIterator[Running]:
    """``vivavoce web --no-browser`` on 127.0.0.1, any port, embedded peer."""
    args = [*command("web"), "--no-browser", "--port", "0", "--peer", "embedded"]
    async with running(args, tmp_path / "web.err") as server:
        yield server


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install --no-install-recommends chromium)")
    async with launch(executable) as b:
        yield b


@pytest.fixture
async def page(browser: Browser) -> Page:
    return await browser.new_page()
