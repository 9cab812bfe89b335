"""A spoken edit, end to end: flite speech into the virtual microphone of the real language
server process, the local peer hears it and calls ``insert_text``, the edit lands in the test
editor's buffer, and the assistant's answer is heard on the virtual speaker."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.editor import DOC, Editor
from tests.e2e.test_neovim import NEOVIMS, run_neovim

from ..conftest import overlap
from .conftest import Pulse, lsp_with_devices, samples_of
from .test_call import audible_seconds

SAID = "insert hello world at the cursor"


@pytest.fixture
async def spoken(pulse: Pulse) -> AsyncIterator[Editor]:
    """The real server with sound devices (the virtual ones), as an editor starts it."""
    # No echo path here (the speaker does not feed the microphone): echo cancellation off,
    # so the speech reaches recognition as played (tests/audio/test_echo.py covers it).
    options = {"peer": "embedded", "echoCancellation": "off", "record": True}
    async with lsp_with_devices(options) as editor:
        yield editor


@pytest.mark.slow
async def test_spoken_request_edits_the_buffer(pulse: Pulse, spoken: Editor, speak: Any) -> None:
    editor = spoken
    editor.open("# Notes\nfirst line\n")
    status = await editor.request(
        "realtime/start",
        {"textDocument": {"uri": DOC}, "position": {"line": 1, "character": 0}},
    )
    assert status["state"] == "live"
    # The microphone is running once the level meter reports.
    await editor.until(lambda: any(s["inputLevel"] != 0.0 for s in editor.statuses), 30)
    speech = np.concatenate([await speak(SAID), np.zeros(16000, np.int16)])
    async with pulse.record() as chunks:
        await pulse.play(speech, 16000)
        await editor.until(lambda: bool(editor.finals("assistant")), 60)
        await asyncio.sleep(2)  # the answer plays out
    heard = editor.finals("user")[0]
    assert overlap(SAID, heard) >= 0.8, heard
    tools = editor.finals("tool")
    assert tools == ["insert_text: inserted 'hello world' in vivavoce-notes.md"], (heard, tools)
    assert editor.text == "# Notes\nhello worldfirst line\n"
    assert editor.finals("assistant") == ["Done. I inserted the text at the cursor."]
    assert audible_seconds(samples_of(chunks)) > 0.5  # the answer was spoken
    await editor.request("realtime/stop")
    # The call was recorded beside its transcript, and the editor is given the file.
    history = await editor.command("vivavoce.openHistory")
    (recording,) = history["recordings"]
    assert Path(recording["path"]).parent == Path(history["path"]).parent
    assert recording["uri"].startswith("file://") and recording["path"].endswith("-1.wav")
    with wave.open(recording["path"]) as w:
        both = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 2)
        rate = w.getframerate()
    assert audible_seconds(both[:, 0].copy(), rate) > 1.0  # the user, left
    assert audible_seconds(both[:, 1].copy(), rate) > 0.5  # the assistant, right


@pytest.mark.slow
@pytest.mark.parametrize("nvim", NEOVIMS)
async def test_spoken_edit_in_neovim(pulse: Pulse, speak: Any, tmp_path: Path, nvim: Path) -> None:
    """Neovim's own LSP client applies the edit the spoken request made (workspace/applyEdit)."""
    speech = tmp_path / "speech.raw"
    pcm = np.concatenate([await speak(SAID), np.zeros(16000, np.int16)])
    speech.write_bytes(pcm.tobytes())
    result = await asyncio.to_thread(
        run_neovim,
        nvim,
        tmp_path,
        "neovim_voice_edit.lua",
        150,
        VIVAVOCE_NVIM_AUDIO="1",
        VIVAVOCE_NVIM_SPEECH=str(speech),
    )
    tail = "\n".join(result.get("lsp_log_tail") or [])
    assert result["failure"] is None, f"{result['failure']}\n--- lsp.log ---\n{tail}"
    assert result["file"] == ["# Notes", "hello worldfirst line"]
    assert result["modified"] is True  # the edit is in the buffer, for the user to keep or undo
    transcript = result["transcript"]
    assert "Tool: insert_text: inserted 'hello world' in notes.md" in transcript
    assert transcript[-1] == "Assistant: Done. I inserted the text at the cursor."
    problems = [n for n in result["notes"] if n["level"] in ("WARN", "ERROR")]
    assert problems == []
