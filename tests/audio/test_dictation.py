"""Dictation, end to end: flite speech into the virtual microphone of the real language server
process (started by Neovim's own LSP client), the local peer's transcription session streams
it back, and the words land in the Neovim buffer at the cursor as they are said."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.test_neovim import NEOVIMS, run_neovim

from .conftest import Pcm, Pulse

#: Three sentences, a pause (a second utterance), and a spoken line break: chosen so that
#: pocketsphinx hears them right after the Opus round trip.
FIRST = "the code is ready period we fixed the bug period"
SECOND = "new line call me tomorrow period"
WRITTEN = ["The code is ready. We fixed the bug.", "Call me tomorrow."]
#: How the buffer's last dictated line ends once everything said has landed.
LAST_WORDS = "tomorrow."


async def dictation_speech(speak: Callable[[str], Awaitable[Pcm]]) -> Pcm:
    """What the user says (16 kHz mono int16): FIRST, a pause, SECOND, a pause."""
    pause = np.zeros(int(1.5 * 16000), np.int16)
    return np.concatenate([await speak(FIRST), pause, await speak(SECOND), pause])


@pytest.mark.slow
@pytest.mark.parametrize("nvim", NEOVIMS)
async def test_dictation_lands_in_the_neovim_buffer_as_said(
    pulse: Pulse, speak: Any, tmp_path: Path, nvim: Path
) -> None:
    speech = tmp_path / "speech.raw"
    speech.write_bytes((await dictation_speech(speak)).tobytes())
    result = await asyncio.to_thread(
        run_neovim,
        nvim,
        tmp_path,
        "neovim_dictation.lua",
        150,
        VIVAVOCE_NVIM_AUDIO="1",
        VIVAVOCE_NVIM_SPEECH=str(speech),
        VIVAVOCE_NVIM_LAST_WORDS=LAST_WORDS,
    )
    tail = "\n".join(result.get("lsp_log_tail") or [])
    shown = result.get("snapshots")
    assert result["failure"] is None, f"{result['failure']}\n{shown}\n--- lsp.log ---\n{tail}"
    assert result["live"]["mode"] == "dictation"
    assert result["file"] == ["# Notes", *WRITTEN, "first line"]
    assert result["modified"] is True
    # One `u` takes back the last utterance whole: the second (after the pause), or all of it
    # when the recognizer heard the pause as part of one utterance.
    assert result["after_undo"] in (
        ["# Notes", WRITTEN[0], "first line"],
        ["# Notes", "", "first line"],
    )
    # The words showed while they were said: the first utterance grew word by word in the
    # buffer (its spoken punctuation applied as it came) up to its final text.
    first = [s for s in result["snapshots"] if s and "\n" not in s]
    assert first[-1] == WRITTEN[0], result["snapshots"]
    assert len(first) >= 3 and all(WRITTEN[0].startswith(s) for s in first), result["snapshots"]
    problems = [n for n in result["notes"] if n["level"] in ("WARN", "ERROR")]
    assert problems == []
