"""The peer is as strict and as disorderly as the real Realtime API (issue 16), by default.

Each test names one behaviour of the real API the peer now has, and the knob (if any) that
turns it back for tests about something else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from vivavoce.peer import start_peer
from vivavoce.peer.app import RunningPeer

from .conftest import KEY, CallFactory, RawCall, word_overlap

AUTH = {"Authorization": f"Bearer {KEY}"}
LONG_STORY = "Tell me. A long story. With many parts. And more parts. And even more."


async def _post(url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, headers=AUTH | (headers or {}), **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def strict_peer(request: pytest.FixtureRequest) -> AsyncIterator[RunningPeer]:
    """A peer started with the options of ``@pytest.mark.parametrize("strict_peer", ...)``."""
    options = getattr(request, "param", {})
    running = await start_peer(api_key=KEY, **options)
    yield running
    await running.close()


def _index(call: RawCall, event: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(call.events) if e is event)


async def test_spoken_turn_transcription_arrives_after_the_reply_with_complete_shapes(
    peer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(peer.base_url)
    call.say(open_file_speech)
    committed = await call.wait_for("input_audio_buffer.committed", timeout=8)
    user_id = committed["item_id"]
    added = await call.wait_for("conversation.item.added", lambda e: e["item"]["id"] == user_id)
    # The keys agents-js's schema requires are there, null until known.
    assert "previous_item_id" in added and added["previous_item_id"] is None
    part = added["item"]["content"][0]
    assert part["type"] == "input_audio" and "transcript" in part and part["transcript"] is None
    # The response starts at commit, before the words are known to the client.
    created = await call.wait_for("response.created")
    completed = await call.wait_for(
        "conversation.item.input_audio_transcription.completed", timeout=15
    )
    said = call.of_type("response.output_audio_transcript.done")[0]
    assert _index(call, created) < _index(call, completed)
    assert _index(call, said) < _index(call, completed)  # the reply was written first
    assert word_overlap("open the main file", said["transcript"]) >= 0.75
    # conversation.item.done of the user item comes with the transcript.
    done = await call.wait_for("conversation.item.done", lambda e: e["item"]["id"] == user_id)
    assert _index(call, done) > _index(call, completed)
    assert done["item"]["content"][0]["transcript"] == completed["transcript"]
    assert "previous_item_id" in done
    # The assistant item follows the user's.
    reply = await call.wait_for("conversation.item.added", lambda e: e["item"]["id"] != user_id)
    assert reply["previous_item_id"] == user_id

    # conversation.item.retrieve gives the item as the server holds it.
    call.send({"type": "conversation.item.retrieve", "item_id": user_id, "event_id": "evt_r"})
    got = await call.wait_for("conversation.item.retrieved")
    assert got["item"]["id"] == user_id and got["item"]["role"] == "user"
    assert got["item"]["content"][0]["transcript"] == completed["transcript"]
    call.send({"type": "conversation.item.retrieve", "item_id": "item_nope", "event_id": "evt_x"})
    err = await call.wait_for("error")
    assert err["error"]["event_id"] == "evt_x" and err["error"]["param"] == "item_id"
    assert "item_nope" in err["error"]["message"]


@pytest.mark.parametrize("strict_peer", [{"transcription_lag": "before"}], indirect=True)
async def test_transcription_lag_before_keeps_the_old_order(
    strict_peer: RunningPeer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(strict_peer.base_url)
    call.say(open_file_speech)
    completed = await call.wait_for(
        "conversation.item.input_audio_transcription.completed", timeout=15
    )
    created = await call.wait_for("response.created", timeout=10)
    assert _index(call, completed) < _index(call, created)


@pytest.mark.parametrize("strict_peer", [{"transcription_lag": 0.0}], indirect=True)
async def test_a_numeric_transcription_lag_does_not_wait_for_the_reply(
    strict_peer: RunningPeer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(strict_peer.base_url)
    call.say(open_file_speech)
    created = await call.wait_for("response.created", timeout=10)
    completed = await call.wait_for(
        "conversation.item.input_audio_transcription.completed", timeout=15
    )
    said = await call.wait_for("response.output_audio_transcript.done", timeout=15)
    assert _index(call, created) < _index(call, completed) < _index(call, said)


async def test_barge_in_truncates_server_side_to_the_audio_played(
    peer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(peer.base_url)
    call.ask(LONG_STORY, ("audio",))
    started = await call.wait_for("output_audio_buffer.started")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.sleep(0.8)
    call.say(open_file_speech)
    speech = await call.wait_for("input_audio_buffer.speech_started", timeout=5)
    elapsed_ms = (loop.time() - t0) * 1000
    cleared = await call.wait_for("output_audio_buffer.cleared", timeout=2)
    truncated = await call.wait_for("conversation.item.truncated", timeout=2)
    done = await call.wait_for(
        "response.done", lambda e: e["response"]["id"] == started["response_id"]
    )
    assert _index(call, speech) < _index(call, cleared) < _index(call, truncated)
    assert done["response"]["status"] == "cancelled"
    item = done["response"]["output"][0]
    assert truncated["item_id"] == item["id"] and item["status"] == "incomplete"
    # What was played: the time from the start of playback to the barge-in, give or take.
    assert abs(truncated["audio_end_ms"] - elapsed_ms) < 400, (truncated, elapsed_ms)
    assert call.audible_ms() > 300
    # The cancelled item is finished, incomplete, both ways (agents-js waits for these).
    out_done = call.of_type("response.output_item.done")[-1]
    item_done = next(
        e for e in call.of_type("conversation.item.done") if e["item"]["id"] == item["id"]
    )
    assert out_done["item"]["status"] == item_done["item"]["status"] == "incomplete"
    # A client truncate past what the server kept is refused with the real message.
    end = truncated["audio_end_ms"]
    call.send(
        {
            "type": "conversation.item.truncate",
            "event_id": "evt_t",
            "item_id": item["id"],
            "content_index": 0,
            "audio_end_ms": end + 1000,
        }
    )
    err = await call.wait_for("error")
    assert err["error"]["message"] == (
        f"Audio content of {end}ms is already shorter than {end + 1000}ms"
    )


@pytest.mark.parametrize("strict_peer", [{"server_truncation": False}], indirect=True)
async def test_server_truncation_can_be_switched_off(
    strict_peer: RunningPeer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(strict_peer.base_url)
    call.ask(LONG_STORY, ("audio",))
    started = await call.wait_for("output_audio_buffer.started")
    call.say(open_file_speech)
    await call.wait_for("output_audio_buffer.cleared", timeout=5)
    await call.wait_for("response.done", lambda e: e["response"]["id"] == started["response_id"])
    await asyncio.sleep(0.3)
    assert not call.of_type("conversation.item.truncated")


async def test_refusals_of_the_real_api(peer, make_call: CallFactory) -> None:
    call = await make_call(peer.base_url)
    model = call.of_type("session.created")[0]["session"]["model"]
    assert model == "gpt-realtime-2.1"

    def update(session: dict[str, Any], event_id: str) -> None:
        call.send(
            {
                "type": "session.update",
                "event_id": event_id,
                "session": {"type": "realtime"} | session,
            }
        )

    # Repeating the model is fine; changing it is not.
    update({"model": model, "audio": {"output": {"voice": "ash"}}}, "evt_same")
    await call.wait_for("session.updated")
    update({"model": "gpt-realtime-mini"}, "evt_model")
    err = await call.wait_for("error")
    assert err["error"]["event_id"] == "evt_model" and err["error"]["param"] == "session.model"
    # Nothing to cancel: an error.
    call.send({"type": "response.cancel", "event_id": "evt_cancel"})
    err = await call.wait_for("error", after=_index(call, err) + 1)
    assert err["error"]["code"] == "response_cancel_not_active"
    assert err["error"]["message"] == "Cancellation failed: no active response found"
    # Once the session produced audio, its voice is fixed (the same voice may be repeated).
    call.ask("hello", ("audio",))
    await call.wait_for("output_audio_buffer.started")
    call.send({"type": "response.create", "event_id": "evt_second"})
    err = await call.wait_for("error", after=_index(call, err) + 1)
    assert err["error"]["code"] == "conversation_already_has_active_response"
    await call.wait_for("response.done")
    mark = len(call.events)
    update({"audio": {"output": {"voice": "ash"}}}, "evt_same_voice")
    await call.wait_for("session.updated", after=mark)
    update({"audio": {"output": {"voice": "coral"}}}, "evt_voice")
    err = await call.wait_for("error", after=mark)
    assert err["error"]["code"] == "cannot_update_voice"
    assert err["error"]["message"] == (
        "Cannot update a conversation's voice if assistant audio is present."
    )
    assert err["error"]["event_id"] == "evt_voice"
    # rate_limits.updated followed the response.
    done = call.of_type("response.done")[0]
    limits = await call.wait_for("rate_limits.updated")
    assert _index(call, limits) > _index(call, done)
    names = {r["name"] for r in limits["rate_limits"]}
    assert names == {"requests", "tokens"}
    assert all(r["remaining"] <= r["limit"] for r in limits["rate_limits"])


async def test_out_of_band_responses_answer_their_input_and_stay_out_of_the_conversation(
    peer, make_call: CallFactory
) -> None:
    """``conversation: "none"`` with an ``input``: the reply answers that input only, its item
    is announced as the response's output but never added to the conversation; instructions
    that ask for word-for-word reading make the built-in responder read the text as it is."""
    call = await make_call(peer.base_url)
    call.ask("my name is Ada")
    await call.wait_for("response.done")
    mark = len(call.events)
    sentence = "The build is broken in three places."
    call.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "instructions": "Read the user's text aloud word for word.",
                "output_modalities": ["text"],
                "input": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": sentence}],
                    }
                ],
            },
        }
    )
    done = await call.wait_for("response.done", after=mark)
    assert done["response"].get("conversation_id") is None
    [item] = done["response"]["output"]
    assert item["content"][0]["text"] == sentence  # read, not answered
    after = call.events[mark:]
    assert not [e for e in after if e["type"].startswith("conversation.item.")]
    # The conversation did not see it: the next in-band reply knows only the first turn.
    call.ask("what did I say")
    mark = len(call.events)
    done = await call.wait_for("response.done", after=mark - 1)
    text = done["response"]["output"][0]["content"][0]["text"]
    assert "my name is Ada" in text and "broken" not in text
    # An input that refers to an item that does not exist is refused.
    call.send(
        {
            "type": "response.create",
            "event_id": "evt_ref",
            "response": {"conversation": "none", "input": [{"type": "item_reference", "id": "x"}]},
        }
    )
    err = await call.wait_for("error")
    assert err["error"]["event_id"] == "evt_ref" and err["error"]["param"] == "response.input"


async def test_idle_timeout_triggers_after_the_assistant_finished(
    peer, make_call: CallFactory
) -> None:
    call = await make_call(peer.base_url)
    vad = {"type": "server_vad", "idle_timeout_ms": 1200}
    call.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad}}},
        }
    )
    await call.wait_for("session.updated")
    call.ask("hello", ("text",))
    done = await call.wait_for("response.done")
    timeout = await call.wait_for("input_audio_buffer.timeout_triggered", timeout=5)
    assert 1000 <= timeout["audio_end_ms"] - timeout["audio_start_ms"] <= 1600, timeout
    assert _index(call, timeout) > _index(call, done)
    # The silence is committed as the user's turn, and answered.
    committed = await call.wait_for(
        "input_audio_buffer.committed", lambda e: e["item_id"] == timeout["item_id"]
    )
    created = await call.wait_for("response.created", after=_index(call, committed))
    assert created["response"]["id"] != done["response"]["id"]


async def test_no_idle_timeout_unless_configured(peer, make_call: CallFactory) -> None:
    call = await make_call(peer.base_url)
    call.ask("hello", ("text",))
    await call.wait_for("response.done")
    await asyncio.sleep(1.5)
    assert not call.of_type("input_audio_buffer.timeout_triggered")


@pytest.mark.parametrize("strict_peer", [{"max_session_seconds": 2.0}], indirect=True)
async def test_session_expires_with_the_real_error_and_the_call_closes(
    strict_peer: RunningPeer, make_call: CallFactory
) -> None:
    call = await make_call(strict_peer.base_url)
    err = await call.wait_for("error", timeout=5)
    assert err["error"]["code"] == "session_expired"
    assert err["error"]["message"] == "Your session hit the maximum duration of 2 seconds."
    for _ in range(50):
        if not strict_peer.calls:
            break
        await asyncio.sleep(0.05)
    assert not strict_peer.calls


async def test_every_sdk_model_name_opens_a_session(peer) -> None:
    for model in (
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-4o-realtime-preview-2025-06-03",
    ):
        status, body = await _post(
            f"{peer.base_url}/realtime/client_secrets",
            json={"session": {"type": "realtime", "model": model}},
        )
        assert status == 200 and body["session"]["model"] == model
    status, body = await _post(
        f"{peer.base_url}/realtime/client_secrets",
        json={"session": {"type": "realtime", "model": "gpt-realtime-9"}},
    )
    assert status == 400 and body["error"]["code"] == "invalid_value"


BETA_BODY = {
    "error": {
        "message": "The Realtime Beta API is no longer supported. "
        "Please use /v1/realtime for the GA API.",
        "type": "invalid_request_error",
        "param": None,
        "code": "beta_api_shape_disabled",
    }
}


@pytest.mark.parametrize("strict_peer", [{"ga_only": True}], indirect=True)
async def test_ga_only_refuses_the_beta_api_as_api_openai_com_does(
    strict_peer: RunningPeer, make_call: CallFactory
) -> None:
    base = strict_peer.base_url
    assert await _post(f"{base}/realtime/sessions", json={"model": "gpt-realtime"}) == (
        400,
        BETA_BODY,
    )
    beta_call = await _post(
        f"{base}/realtime?model=gpt-realtime",
        data="v=0\r\n",
        headers={"Content-Type": "application/sdp"},
    )
    assert beta_call == (400, BETA_BODY)
    flat = await _post(f"{base}/realtime/client_secrets", json={"session": {"voice": "ash"}})
    assert flat == (400, BETA_BODY)
    # The GA shape works; a beta-shaped session.update on the call is refused.
    call = await make_call(base)
    call.send({"type": "session.update", "event_id": "evt_b", "session": {"voice": "ash"}})
    err = await call.wait_for("error")
    assert err["error"]["code"] == "beta_api_shape_disabled"
    assert err["error"]["event_id"] == "evt_b"
    call.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    await call.wait_for("session.updated")


async def test_beta_routes_still_work_without_ga_only(peer) -> None:
    status, body = await _post(f"{peer.base_url}/realtime/sessions", json={"voice": "ash"})
    assert status == 200 and body["client_secret"]["value"].startswith("ek_")


def test_the_knobs_are_peer_flags() -> None:
    import argparse

    from vivavoce.peer import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([])
    assert defaults.transcription_lag == "after-response" and defaults.server_truncation
    assert defaults.max_session_seconds == 3600 and not defaults.ga_only
    args = parser.parse_args(
        [
            "--transcription-lag",
            "0.5",
            "--max-session-seconds",
            "20",
            "--no-server-truncation",
            "--ga-only",
        ]
    )
    assert (args.transcription_lag, args.max_session_seconds) == (0.5, 20.0)
    assert not args.server_truncation and args.ga_only
    assert parser.parse_args(["--transcription-lag", "before"]).transcription_lag == "before"
    with pytest.raises(SystemExit):
        parser.parse_args(["--transcription-lag", "later"])
