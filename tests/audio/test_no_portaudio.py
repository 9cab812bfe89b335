"""Without the PortAudio library: every audio entry point says so in one line with the fix, and
the conversation goes on in text.

The library is really missing for the process under test: it runs in a private mount namespace
(``unshare``) where the installed ``libportaudio.so.2`` is covered by an empty file, so
sounddevice's own loading fails the way it does on a machine without the package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pytest_lsp import ClientServerConfig

from tests.e2e.editor import SERVER, Editor, end_server, init_params

FIX = "apt-get install libportaudio2"


def _library() -> str:
    """The real path of the PortAudio library sounddevice loads (from the linker's cache)."""
    listing = subprocess.run(
        ["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"libportaudio\.so\.2 \(.*\) => (\S+)", listing)
    if found is None:
        pytest.skip("PortAudio is not installed, so it cannot be hidden")
    return os.path.realpath(found.group(1))


@pytest.fixture(scope="module")
def without_portaudio() -> list[str]:
    """A command prefix that runs its command with PortAudio hidden."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    prefix = ["unshare", "-rm", "sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"', _library()]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import sounddevice"], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if "OSError" not in probe.stderr:
        pytest.skip(f"cannot hide a library here (no user namespaces?): {probe.stderr[-200:]}")
    return prefix


def _run(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [*prefix, sys.executable, "-m", "vivavoce", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_devices_command_says_what_to_install(without_portaudio: list[str]) -> None:
    done = _run(without_portaudio, "devices")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert "PortAudio library is missing" in lines[0] and FIX in lines[0]


def test_doctor_fails_the_portaudio_check_and_runs_the_rest(without_portaudio: list[str]) -> None:
    done = _run(without_portaudio, "doctor")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("FAIL  PortAudio") and FIX in lines[0], lines
    # The device checks depend on PortAudio and are skipped; the key and server checks still run.
    assert [line.split()[1] for line in lines[1:-1]] == ["API", "server"], lines
    assert lines[-1].endswith("1 failed")


@pytest.fixture
async def server_without_portaudio(without_portaudio: list[str]) -> AsyncIterator[Editor]:
    """The real language server, devices on (as configured), PortAudio missing."""
    env = {**os.environ, "VIVAVOCE_AUDIO_DEVICES": "true"}
    client = await ClientServerConfig(
        server_command=[*without_portaudio, *SERVER], server_env=env
    ).start()
    try:
        await client.initialize_session(init_params({"peer": "embedded"}))
        yield Editor(client)
    finally:
        await end_server(client)
        await client.stop()


async def test_language_server_talks_in_text_and_says_why(
    server_without_portaudio: Editor, tmp_path: Path
) -> None:
    editor = server_without_portaudio
    status = await editor.request("realtime/start")
    assert status["state"] == "live"
    warnings = [m.message for m in editor.client.messages]
    assert len(warnings) == 1 and "PortAudio library is missing" in warnings[0], warnings
    assert FIX in warnings[0] and "text still works" in warnings[0]
    await editor.request("realtime/sendText", {"text": "hello there"})
    await editor.until(lambda: bool(editor.finals("assistant")), 30)
    # Listing devices is refused in one line, and the server keeps serving.
    with pytest.raises(Exception, match="PortAudio library is missing") as info:
        await editor.request("realtime/listDevices")
    assert "\n" not in str(info.value)
    assert (await editor.request("realtime/status"))["state"] == "live"
    await editor.request("realtime/stop")
