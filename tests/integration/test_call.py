"""The engine against the local peer and a scripted server: real aiortc on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import call_for, overlap
from tests.integration.scripted_server import Script, ScriptedServer
from vivavoce.errors import (
    AuthenticationError,
    CallError,
    ConfigError,
    ProtocolError,
    RateLimitError,
    StepTimeout,
)
from vivavoce.realtime import Call, CallOptions, CallState, TranscriptUpdate
from vivavoce.rtc.tracks import MemorySink
from vivavoce.settings import Settings

pytestmark = pytest.mark.usefixtures("no_leaks")


async def _collect(call: Call, *, finals: int, timeout: float = 30) -> list[TranscriptUpdate]:
    """Transcript updates until ``finals`` assistant finals arrived."""
    updates: list[TranscriptUpdate] = []

    async def run() -> None:
        done = 0
        async for u in call.transcripts():
            updates.append(u)
            if u.final and u.role == "assistant":
                done += 1
                if done == finals:
                    return

    await asyncio.wait_for(run(), timeout)
    return updates


#: Beta servers predate today's models: a beta call asks for one of its time.
DIALECTS: dict[str, dict[str, Any]] = {
    "ga": {"dialect": "ga"},
    "beta": {"dialect": "beta", "model": "gpt-4o-realtime-preview"},
}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_call_goes_live_and_closes_cleanly(
    peer: Any, settings: Settings, dialect: str
) -> None:
    states: list[CallState] = []
    call = call_for(
        settings.with_changes(DIALECTS[dialect]),
        base_url=peer.base_url,
        on_state=lambda s, _: states.append(s),
    )
    await call.start()
    assert call.state is CallState.LIVE
    if dialect == "ga":
        assert call.call_id is not None and call.call_id.startswith("rtc_")
    assert set(call.timings) >= {"minting an ephemeral key", "exchanging SDP", "live"}
    await call.close()
    await call.close()  # idempotent
    assert states == [CallState.CONNECTING, CallState.LIVE, CallState.CLOSING, CallState.CLOSED]


async def test_spoken_sentence_is_transcribed_and_answered_with_audio(
    peer: Any, settings: Settings, speak: Callable[[str], Awaitable[Any]]
) -> None:
    sentence = "please open the main file"
    sink = MemorySink()
    async with call_for(settings, base_url=peer.base_url, sink=sink) as call:
        collecting = asyncio.ensure_future(_collect(call, finals=1))
        call.source.feed(await speak(sentence), rate=16000)
        updates = await collecting
        user = [u for u in updates if u.role == "user" and u.final]
        assistant = [u for u in updates if u.role == "assistant"]
        assert len(user) == 1
        assert overlap(sentence, user[0].text) >= 0.6, user[0].text
        assert any(u.delta for u in assistant), "no assistant transcript deltas"
        assert assistant[-1].final and assistant[-1].text
        # Deltas add up to the final text.
        assert "".join(u.delta or "" for u in assistant).strip() == assistant[-1].text.strip()
        # The user's turn is placed before the reply it caused.
        turns = call.transcript.final_turns()
        assert [t.role for t in turns] == ["user", "assistant"]
        await asyncio.sleep(0.5)
        assert sink.audible_frames > 10, "the assistant's voice did not arrive"


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_typed_message_gets_a_spoken_reply(
    peer: Any, settings: Settings, dialect: str
) -> None:
    sink = MemorySink()
    async with call_for(
        settings.with_changes(DIALECTS[dialect]), base_url=peer.base_url, sink=sink
    ) as call:
        collecting = asyncio.ensure_future(_collect(call, finals=1))
        await call.send_text("tell me about the weather")
        updates = await collecting
        assert [u.text for u in updates if u.role == "user" and u.final] == [
            "tell me about the weather"
        ]
        reply = next(u for u in updates if u.role == "assistant" and u.final)
        assert "weather" in reply.text.lower()
        await asyncio.sleep(0.5)
        assert sink.audible_frames > 0


async def test_wrong_key_is_rejected_in_one_line_and_nothing_is_left_open(
    settings: Settings,
) -> None:
    from vivavoce.peer import start_peer

    strict = await start_peer(host="127.0.0.1", port=0, api_key="sk-right")
    try:
        call = call_for(settings.with_changes({"apiKey": "sk-wrong-123"}), base_url=strict.base_url)
        with pytest.raises(AuthenticationError) as info:
            await call.start()
        assert "API key rejected" in str(info.value)
        assert "sk-wrong-123" not in str(info.value)
        assert call.state is CallState.ERROR
    finally:
        await strict.close()


async def test_expired_ephemeral_key_is_refused(peer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    import types

    from vivavoce.peer import auth
    from vivavoce.realtime.signaling import EphemeralKey, Signaling

    async with httpx.AsyncClient() as http:
        minted = await http.post(
            f"{peer.base_url}/realtime/client_secrets",
            headers={"Authorization": "Bearer sk-x"},
            json={
                "expires_after": {"anchor": "created_at", "seconds": 10},
                "session": {"type": "realtime", "model": "gpt-realtime"},
            },
        )
        key = EphemeralKey(minted.json()["value"], minted.json()["expires_at"])
        # Eleven seconds later, as the peer's clock sees it.
        later = types.SimpleNamespace(time=lambda: time.time() + 11)
        monkeypatch.setattr(auth, "time", later)
        signaling = Signaling(http, base_url=peer.base_url, api_key="sk-x")
        with pytest.raises(AuthenticationError, match="API key rejected .* while exchanging SDP"):
            await signaling.exchange_sdp(key, "v=0\r\n", "m")


async def test_rate_limited_start_fails_with_retry_hint_and_releases_everything(
    settings: Settings,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"error": {"message": "Too many sessions", "type": "rate_limit", "code": None}},
            headers={"retry-after": "3"},
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        call = call_for(settings, base_url="https://api.example.test/v1", http=http)
        with pytest.raises(RateLimitError, match="Too many sessions; retry in 3 s"):
            await call.start()
    assert call.state is CallState.ERROR


async def test_no_key_for_a_remote_server_fails_before_any_request() -> None:
    with pytest.raises(AuthenticationError, match="no API key"):
        CallOptions.from_settings(Settings(api_key=None), "https://api.example.test/v1")
    # A server on this machine (the local peer) needs none.
    local = CallOptions.from_settings(Settings(api_key=None), "http://127.0.0.1:9/v1")
    assert local.api_key == "local"


async def test_the_key_never_prints_in_call_options() -> None:
    options = CallOptions.from_settings(Settings(api_key="sk-secret-123"), "https://x.test/v1")
    assert "sk-secret-123" not in repr(options) and "sk-secret-123" not in str(options)


async def test_an_sdp_answer_that_never_comes_times_out_naming_the_step(settings: Settings) -> None:
    server = await ScriptedServer(Script(hang_sdp=True)).start()
    try:
        call = call_for(settings.with_changes({"connectTimeout": 1}), base_url=server.base_url)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(StepTimeout, match="while exchanging SDP"):
            await call.start()
        assert loop.time() - started < 3
        assert call.state is CallState.ERROR
    finally:
        await server.close()


async def test_no_session_created_times_out_naming_the_step(settings: Settings) -> None:
    server = await ScriptedServer(Script(send_session_created=False)).start()
    try:
        call = call_for(settings.with_changes({"connectTimeout": 1}), base_url=server.base_url)
        with pytest.raises(StepTimeout, match="waiting for session.created"):
            await call.start()
    finally:
        await server.close()


async def test_data_channel_closing_mid_call_ends_the_call_with_a_clear_error(
    settings: Settings,
) -> None:
    server = await ScriptedServer(Script(close_channel_after=0.3)).start()
    try:
        call = call_for(settings, base_url=server.base_url)
        await call.start()
        with pytest.raises(CallError, match="closed the data channel"):
            async for _ in call.transcripts():
                pass
        await asyncio.wait_for(call.wait_closed(), 5)
        assert call.state is CallState.ERROR
        await call.close()
    finally:
        await server.close()


async def test_malformed_and_unknown_events_are_survived_and_later_ones_still_arrive(
    settings: Settings,
) -> None:
    good_delta = {
        "type": "response.output_audio_transcript.delta",
        "response_id": "r",
        "item_id": "a1",
        "delta": "Still ",
    }
    good_done = {
        "type": "response.output_audio_transcript.done",
        "response_id": "r",
        "item_id": "a1",
        "transcript": "Still here.",
    }
    script = Script(
        after_open=[
            "{oops not json",
            json.dumps({"type": "response.done"}),  # known type, missing its response
            json.dumps({"type": "response.brand_new_thing", "x": 1}),
            json.dumps(good_delta),
            json.dumps(good_done),
        ]
    )
    server = await ScriptedServer(script).start()
    try:
        async with call_for(settings, base_url=server.base_url) as call:
            updates = await _collect(call, finals=1, timeout=5)
            assert updates[-1].text == "Still here."
            assert len(call.protocol_errors) == 2
            assert all("\n" not in str(e) for e in call.protocol_errors)
            assert call.state is CallState.LIVE
    finally:
        await server.close()


async def test_a_custom_voice_object_and_mcp_items_neither_stall_the_connect_nor_the_transcript(
    settings: Settings,
) -> None:
    from vivavoce.peer.conformance import check

    mcp_call = {
        "type": "mcp_call",
        "id": "mcp_1",
        "server_label": "docs",
        "name": "search",
        "arguments": "{}",
        "output": "3 results",
    }
    assistant = {
        "type": "message",
        "id": "a1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": "Found three."}],
    }
    common = {"response_id": "r", "item_id": "a1", "output_index": 1, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "conversation.item.added", "item": mcp_call},
        {"type": "conversation.item.added", "previous_item_id": "mcp_1", "item": assistant},
        {"type": "response.output_audio_transcript.delta", **common, "delta": "Found "},
        {"type": "response.output_audio_transcript.done", **common, "transcript": "Found three."},
        {
            "type": "response.done",
            "response": {"id": "r", "status": "completed", "output": [mcp_call, assistant]},
        },
    ]
    events = [{**e, "event_id": f"event_{i}"} for i, e in enumerate(events)]
    session = {
        "type": "realtime",
        "id": "sess_1",
        "object": "realtime.session",
        "model": "gpt-realtime-2.1",
        "audio": {"output": {"voice": {"id": "voice_custom_1"}}},
    }
    created = {"type": "session.created", "event_id": "e0", "session": session}
    assert [check(e, "server", "ga") for e in [created, *events]] == [[]] * (len(events) + 1)
    server = await ScriptedServer(
        Script(session=session, after_open=[json.dumps(e) for e in events])
    ).start()
    try:
        async with call_for(settings, base_url=server.base_url) as call:
            assert call.state is CallState.LIVE
            updates = await _collect(call, finals=1, timeout=5)
            assert [u.delta for u in updates if u.delta] == ["Found "]
            assert updates[-1].text == "Found three." and updates[-1].final
            await asyncio.sleep(0.2)  # response.done, after the final transcript
            assert call.protocol_errors == []
            turns = call.transcript.final_turns()
            assert [(t.item_id, t.role, t.text) for t in turns] == [
                ("a1", "assistant", "Found three.")
            ]
    finally:
        await server.close()


async def test_session_update_carries_the_settings_and_oversized_messages_are_refused(
    settings: Settings,
) -> None:
    server = await ScriptedServer(Script()).start()
    try:
        custom = settings.with_changes(
            {
                "voice": "verse",
                "turnDetection": {"type": "server_vad", "silenceDurationMs": 900},
                "noiseReduction": "near_field",
                "instructions": "Be terse.",
            }
        )
        async with call_for(custom, base_url=server.base_url) as call:
            for _ in range(50):
                if server.received:
                    break
                await asyncio.sleep(0.02)
            update = server.received[0]
            assert update["type"] == "session.update"
            session = update["session"]
            assert session["instructions"] == "Be terse."
            assert session["audio"]["output"]["voice"] == "verse"
            assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 900
            assert session["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
            with pytest.raises(ProtocolError, match="at most 65536 bytes"):
                await call.send_text("x" * 70_000)
            assert call.state is CallState.LIVE
        assert server.hangups == 1
    finally:
        await server.close()


async def test_outgoing_audio_reaches_the_server_continuously(
    peer: Any, settings: Settings
) -> None:
    async with call_for(settings, base_url=peer.base_url) as call:
        await asyncio.sleep(0.5)
        assert call._track.frames_sent >= 20  # 20 ms frames, silence when nothing is fed
        tone = (np.sin(np.arange(4800) / 48000 * 2 * np.pi * 440) * 8000).astype(np.int16)
        call.source.feed(tone)
        await asyncio.wait_for(call.source.drained.wait(), 2)
        assert call._track.audible_frames_sent == 5


async def test_a_second_concurrent_close_waits_for_the_call_to_be_released(
    peer: Any, settings: Settings
) -> None:
    call = call_for(settings, base_url=peer.base_url)
    await call.start()
    first = asyncio.ensure_future(call.close())
    await asyncio.sleep(0)
    await call.close()
    assert call.state is CallState.CLOSED
    await first


async def test_the_beta_dialect_against_api_openai_com_is_refused_before_any_request() -> None:
    settings = Settings(api_key="sk-test", dialect="beta")
    with pytest.raises(ConfigError, match="dialect 'beta' is refused by api.openai.com") as info:
        CallOptions.from_settings(settings)  # base URL: https://api.openai.com/v1
    assert info.value.key == "dialect"
    # Other servers (self-hosted, the local peer) may still speak beta.
    assert CallOptions.from_settings(settings, "http://127.0.0.1:9/v1").dialect == "beta"
