"""Pay only for talk (issue 20): what a call costs, a budget, and hanging up when nobody speaks.

Real local peer (it reports usage in ``response.done`` by the API's rules), real aiortc calls
on loopback, the in-memory sound card of test_conversation.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.test_conversation import Session
from vivavoce.settings import Settings
from vivavoce.store.log import ConversationLog

pytestmark = pytest.mark.usefixtures("no_leaks")


async def test_a_silent_call_hangs_up_and_typing_or_push_to_talk_calls_again(peer: Any) -> None:
    """``idleHangupSeconds`` after the assistant stopped speaking the call is closed (billing
    stops; not LIVE); typing calls again and the new call is given the conversation."""
    s = Session(Settings(peer=peer.base_url, api_key=None, idle_hangup_seconds=3))
    try:
        await s.conv.start()
        first_call = s.conv.status.call_id
        await s.conv.send_text("my name is Ada")
        await s.until(lambda: len(s.finals("assistant")) == 1)

        # Until the call hangs up, note when the assistant's voice was last heard.
        sink, heard, last_voice = s.audio.sink, -1, time.monotonic()
        while s.conv.status.state == "live":
            if sink.audible_frames != heard:
                heard, last_voice = sink.audible_frames, time.monotonic()
            await asyncio.sleep(0.02)
            assert time.monotonic() - last_voice < 10, "the call was not hung up"
        silent = time.monotonic() - last_voice
        assert 2.7 <= silent <= 4.5, silent  # 3 s of silence, counted from the end of the voice
        status = s.conv.status
        assert (status.state, status.mode, status.call_id) == ("idle", "realtime", None)
        assert status.hung_up_after == 3 and status.audio == "off"  # not LIVE: nothing billed
        assert s.messages == [
            "vivavoce: hung up after 3 s of silence; push to talk or type to call again"
        ]

        # What the call cost is in the status: the words and the voice, priced.
        usage = status.usage
        assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.audio_output_seconds >= 1.0
        # The reply's voice alone (20 tokens a second at $64 per million) is a lower bound.
        assert usage.cost_usd >= usage.audio_output_seconds * 20 * 64e-6 * 0.8, usage
        assert usage.call_cost_usd == usage.cost_usd  # one call so far

        await s.conv.send_text("what is my name")  # calls again: the conversation never ended
        await s.until(lambda: len(s.finals("assistant")) == 2)
        status = s.conv.status
        assert (status.state, status.hung_up_after) == ("live", None)
        assert status.call_id not in (None, first_call)
        assert "my name is Ada" in s.finals("assistant")[1].text  # replayed to the new call
        await s.until(
            lambda: (u := s.conv.status.usage) is not None and u.cost_usd > usage.cost_usd
        )
        # The wire: clients read these names.
        wire = s.conv.status.wire()
        assert set(wire["usage"]) >= {
            "inputTokens",
            "outputTokens",
            "audioInputSeconds",
            "audioOutputSeconds",
            "costUsd",
        }
        assert "hungUpAfter" in wire

        # Hung up again (the setting is read at use), a push-to-talk press calls again too.
        s.conv.config.replace(s.conv.settings.with_changes({"idleHangupSeconds": 1}))
        await s.until(lambda: s.conv.status.hung_up_after == 1, timeout=20)
        status = await s.conv.push_to_talk(True)
        assert (status.state, status.push_to_talk, status.audio) == ("live", True, "live")

        # Hung up with the wake word set, the microphone is listened to for it meanwhile
        # (state listening; as conversation/wake.py reports it): typing still calls again.
        await s.conv.push_to_talk(False)
        await s.until(lambda: s.conv.status.hung_up_after == 1, timeout=20)
        s.conv.update(state="listening")
        await s.conv.send_text("and now")
        await s.until(lambda: any("and now" in u.text for u in s.finals("assistant")))
        assert s.conv.status.state == "live"
    finally:
        await s.conv.close()


async def test_over_budget_the_call_ends_and_text_mode_goes_on(peer: Any) -> None:
    s = Session(Settings(peer=peer.base_url, api_key=None, max_cost_per_conversation_usd=0.001))
    try:
        await s.conv.start()
        await s.conv.send_text("tell me about the build")
        await s.until(lambda: s.conv.status.mode == "text")
        status = s.conv.status
        assert (status.state, status.call_id, status.audio) == ("live", None, "off")
        assert status.usage is not None and status.usage.cost_usd >= 0.001
        said = [m for m in s.messages if "budget" in m]
        assert len(said) == 1 and "continues in text mode" in said[0], s.messages

        spent = status.usage.cost_usd
        await s.conv.send_text("and the tests")  # text mode answers
        await s.until(lambda: len(s.finals("assistant")) == 2)
        # The chat completion's usage (stream_options.include_usage) counts too.
        await s.until(lambda: (u := s.conv.status.usage) is not None and u.cost_usd > spent)
        status = await s.conv.toggle_mode()  # no new call over budget: text mode stays
        assert (status.mode, status.state) == ("text", "live")
        assert "reached its budget of $0.001" in s.messages[-1], s.messages
    finally:
        await s.conv.close()


async def test_dictation_is_counted_and_hung_up_when_nobody_speaks(peer: Any, speak: Any) -> None:
    """Dictation (a transcription session) costs too: each finished utterance's usage, as the
    API reports it (tokens for the gpt-4o transcription models), is priced into the status;
    after ``idleHangupSeconds`` with nobody speaking the session is hung up (billing stops), and
    push to talk dictates again."""
    settings = Settings(
        peer=peer.base_url,
        api_key=None,
        idle_hangup_seconds=3,
        transcription={"model": "gpt-4o-mini-transcribe"},
        turn_detection={"type": "server_vad", "silence_duration_ms": 500},
    )
    s = Session(settings)
    pause = np.zeros(16000, np.int16)
    first, second = await speak("the code is ready"), await speak("call me tomorrow")
    try:
        await s.conv.start(mode="dictation")
        s.audio.speak(np.concatenate([pause, first, pause]), 16000)
        await s.until(lambda: len(s.finals("user")) == 1)
        said_at = time.monotonic()
        await s.until(lambda: (u := s.conv.status.usage) is not None and u.cost_usd > 0)
        usage = s.conv.status.usage
        assert usage is not None and usage.audio_input_seconds >= 0.8, usage
        # A second of speech is ≥ 10 audio tokens ($1.25 per million), the words ≥ 4 text
        # tokens out ($5 per million).
        assert usage.input_tokens >= 10 and usage.output_tokens >= 4, usage
        assert usage.cost_usd >= 10 * 1.25e-6 + 4 * 5e-6, usage
        assert s.conv.status.audio == "dictating"

        await s.until(lambda: s.conv.status.state != "live", timeout=15)
        silent = time.monotonic() - said_at
        assert 2.5 <= silent <= 5.0, silent  # 3 s after the last words were written
        status = s.conv.status
        assert (status.state, status.mode, status.call_id) == ("idle", "dictation", None)
        assert status.hung_up_after == 3 and status.audio == "off"  # nothing streams, billed
        assert s.messages == [
            "vivavoce: dictation hung up after 3 s of silence; push to talk or start dictation "
            "to go on"
        ]

        status = await s.conv.push_to_talk(True)  # dictates again
        assert (status.state, status.mode, status.audio) == ("live", "dictation", "dictating")
        assert status.hung_up_after is None
        s.audio.speak(np.concatenate([second, pause]), 16000)
        await asyncio.wait_for(s.audio.source.drained.wait(), 20)  # all of it sent
        await asyncio.sleep(0.5)  # and received
        await s.conv.push_to_talk(False)
        await s.until(lambda: len(s.finals("user")) == 2)
        await s.until(
            lambda: (u := s.conv.status.usage) is not None and u.cost_usd > usage.cost_usd
        )
    finally:
        await s.conv.close()


async def test_a_text_replys_chat_usage_is_recorded_beside_its_turn(
    peer: Any, tmp_path: Path
) -> None:
    """``vivavoce history show`` puts a chat completion's cost on the reply it paid for."""
    s = Session(Settings(peer=peer.base_url, api_key=None))
    s.conv.history = ConversationLog(tmp_path)
    try:
        await s.conv.start(mode="text")
        await s.conv.send_text("the build is broken")
        await s.until(lambda: len(s.finals("assistant")) == 1)
    finally:
        await s.conv.close()
    (path,) = tmp_path.glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    chats = [x for x in lines if x["type"] == "usage" and x["source"] == "chat"]
    assert [c.get("itemId") for c in chats] == [s.finals("assistant")[0].item_id], chats
