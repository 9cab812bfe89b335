"""The wake word, end to end: the real language server process with sound devices (the virtual
ones), a wake word set and no call started. The status says it listens for the wake word (not
LIVE); flite says "hey viva, what time is it" into the virtual microphone; the call opens by
itself and the words after the phrase are the first user turn, answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from tests.e2e.editor import Editor

from ..conftest import overlap
from .conftest import Pulse, lsp_with_devices

COMMAND = "what time is it in the morning"


@pytest.fixture
async def listening(pulse: Pulse) -> AsyncIterator[Editor]:
    """The real server with the virtual devices and the wake word "hey viva" set."""
    options = {"peer": "embedded", "echoCancellation": "off", "wakeWord": "hey viva"}
    async with lsp_with_devices(options) as editor:
        yield editor


@pytest.mark.slow
async def test_the_wake_word_opens_the_call_and_what_follows_is_the_first_turn(
    pulse: Pulse, listening: Editor, speak: Any
) -> None:
    editor = listening
    # Nobody started anything: the server listens for the wake word, on this machine.
    await editor.until(lambda: any(s["state"] == "listening" for s in editor.statuses), 30)
    first = next(s for s in editor.statuses if s["state"] != "idle")
    assert (first["state"], first["audio"], first["callId"]) == ("listening", "wake", None)
    await editor.until(lambda: any(s["inputLevel"] != 0.0 for s in editor.statuses), 30)
    # Other speech opens nothing.
    await pulse.play(np.concatenate([await speak("the weather is nice today"),
                                     np.zeros(8000, np.int16)]), 16000)  # fmt: skip
    assert editor.statuses[-1]["state"] == "listening"
    said = np.concatenate([await speak(f"hey viva, {COMMAND}"), np.zeros(16000, np.int16)])
    await pulse.play(said, 16000)
    await editor.until(lambda: bool(editor.finals("assistant")), 60)
    states = [s["state"] for s in editor.statuses]
    assert states.index("listening") < states.index("connecting") < states.index("live"), states
    assert not any(s["audio"] == "live" for s in editor.statuses[: states.index("live")])
    # The words after the phrase are the first turn, from its first words on: those were said
    # before the call was open (the phrase is heard ≈ 0.5 s after it ends, a call takes ≈ 1 s).
    (heard,) = editor.finals("user")
    assert overlap("what time is it", heard) >= 0.75, heard
    assert "viva" not in heard, heard
    # Stopped, the server listens for the wake word again only after the next start.
    await editor.request("realtime/stop")
    await editor.until(lambda: editor.statuses[-1]["state"] == "listening", 20)
    await editor.request("realtime/stop")
    await editor.until(lambda: editor.statuses[-1]["state"] == "idle", 20)
