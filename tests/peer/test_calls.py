"""Realtime calls against a real peer over loopback WebRTC."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import numpy as np
import pytest

from .conftest import CallFactory, RawCall, word_overlap

RESPONSE_SEQUENCE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "output_audio_buffer.started",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
    "output_audio_buffer.stopped",
]


def _in_order(types: list[str], wanted: list[str]) -> bool:
    it = iter(types)
    return all(any(t == w for t in it) for w in wanted)


async def test_spoken_turn_is_transcribed_and_answered_with_speech(
    peer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(peer.base_url)
    created = call.of_type("session.created")[0]
    assert created["session"]["type"] == "realtime"
    assert created["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"

    call.say(open_file_speech)
    started = await call.wait_for("input_audio_buffer.speech_started", timeout=8)
    stopped = await call.wait_for("input_audio_buffer.speech_stopped", timeout=8)
    assert stopped["item_id"] == started["item_id"]
    # The utterance starts ~250 ms into the audio and lasts ~1.6 s.
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    assert stopped["audio_end_ms"] - started["audio_start_ms"] > 1000
    committed = await call.wait_for("input_audio_buffer.committed")
    assert committed["item_id"] == started["item_id"]
    user_item = await call.wait_for(
        "conversation.item.added", lambda e: e["item"]["role"] == "user"
    )
    assert user_item["item"]["content"][0]["type"] == "input_audio"

    done = await call.wait_for("conversation.item.input_audio_transcription.completed", timeout=10)
    assert done["item_id"] == started["item_id"]
    assert word_overlap("please open the main file", done["transcript"]) >= 0.6, done
    assert done["usage"]["type"] == "duration" and done["usage"]["seconds"] > 1

    transcript = await call.wait_for("response.output_audio_transcript.done", timeout=10)
    deltas = [
        e
        for e in call.of_type("response.output_audio_transcript.delta")
        if e["response_id"] == transcript["response_id"]
    ]
    assert len(deltas) > 3
    assert "".join(d["delta"] for d in deltas) == transcript["transcript"]
    assert transcript["transcript"].startswith("You said:")
    assert word_overlap("open the main file", transcript["transcript"]) >= 0.75
    for event in [*deltas, transcript]:
        for key in ("event_id", "response_id", "item_id", "output_index", "content_index"):
            assert key in event

    await call.wait_for("output_audio_buffer.stopped", timeout=15)
    assert _in_order(call.types(), RESPONSE_SEQUENCE), call.types()
    response_done = call.of_type("response.done")[-1]["response"]
    assert response_done["status"] == "completed"
    assert response_done["output"][0]["content"][0]["type"] == "output_audio"
    assert response_done["output"][0]["content"][0]["transcript"] == transcript["transcript"]
    # The reply was heard: seconds of audible (not silent) audio came back.
    assert call.audible_ms() > 1500, call.audible_ms()
    assert call.loudness() > -45
    # Its usage, by the API's rules: the user's audio 1 token per 100 ms, the assistant's 1 per
    # 50 ms, text 4 characters a token (the SDK's RealtimeResponseUsage shape).
    usage = response_done["usage"]
    heard_tokens = usage["input_token_details"]["audio_tokens"]
    assert abs(heard_tokens - done["usage"]["seconds"] * 10) <= 1, usage
    spoken_tokens = usage["output_token_details"]["audio_tokens"]
    assert 0.8 <= spoken_tokens / (call.audible_ms() / 50) <= 1.5, (usage, call.audible_ms())
    assert usage["output_token_details"]["text_tokens"] == -(-len(transcript["transcript"]) // 4)
    assert usage["input_tokens"] == heard_tokens + usage["input_token_details"]["text_tokens"]
    assert usage["output_tokens"] == spoken_tokens + usage["output_token_details"]["text_tokens"]
    _is_sdk_usage(usage)

    # Items are linked: the user's turn came first, the reply follows it.
    assert user_item.get("previous_item_id") is None
    reply_item = next(
        e for e in call.of_type("conversation.item.added") if e["item"]["role"] == "assistant"
    )
    assert reply_item["previous_item_id"] == user_item["item"]["id"]
    assert all(e.get("event_id") for e in call.events)


async def test_text_item_then_response_create_answers_in_audio(
    peer, make_call: CallFactory
) -> None:
    call = await make_call(peer.base_url)
    call.send(
        {
            "type": "conversation.item.create",
            "event_id": "evt_item",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "rename the variable"}],
            },
        }
    )
    added = await call.wait_for("conversation.item.added")
    assert added["item"]["role"] == "user" and added["item"]["id"].startswith("item")
    await call.wait_for("conversation.item.done")
    call.send({"type": "response.create"})
    done = await call.wait_for("response.output_audio_transcript.done")
    assert done["transcript"] == (
        "You said: rename the variable. That is the first thing you said."
    )
    await call.wait_for("output_audio_buffer.stopped", timeout=15)
    assert call.audible_ms() > 1000

    # A second turn sees the first one.
    mark = len(call.events)
    call.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "save the file"}],
            },
        }
    )
    call.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    text = await call.wait_for("response.output_text.done", after=mark)
    assert text["text"] == "You said: save the file. Before that you said: rename the variable."
    types = call.types()[mark:]
    assert "response.output_text.delta" in types
    assert "output_audio_buffer.started" not in types
    resp = await call.wait_for("response.done", after=mark)
    assert resp["response"]["output"][0]["content"][0]["type"] == "output_text"


async def test_session_update_merges_and_push_to_talk_commit(
    peer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(peer.base_url)
    call.send(
        {
            "type": "session.update",
            "event_id": "evt_1",
            "session": {
                "type": "realtime",
                "instructions": "be brief",
                "audio": {"input": {"turn_detection": None}},
            },
        }
    )
    first = await call.wait_for("session.updated")
    assert first["session"]["instructions"] == "be brief"
    assert first["session"]["audio"]["input"]["turn_detection"] is None
    # A partial update keeps what is not mentioned (turn detection stays off).
    call.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}},
        }
    )
    second = await call.wait_for("session.updated", after=call.events.index(first) + 1)
    assert second["session"]["audio"]["output"]["voice"] == "ash"
    assert second["session"]["instructions"] == "be brief"
    assert second["session"]["audio"]["input"]["turn_detection"] is None

    # Committing an empty buffer is an error, not a crash. (Sent together: the call sends
    # silence all along, and 100 ms of it between the two would be a buffer to commit.)
    call.send({"type": "input_audio_buffer.clear"})
    call.send({"type": "input_audio_buffer.commit", "event_id": "evt_empty"})
    await call.wait_for("input_audio_buffer.cleared")
    err = await call.wait_for("error")
    assert err["error"]["code"] == "input_audio_buffer_commit_empty"
    assert err["error"]["event_id"] == "evt_empty"

    call.say(open_file_speech)
    await asyncio.sleep(len(open_file_speech) / 16000 + 0.4)
    assert "input_audio_buffer.speech_started" not in call.types()  # no VAD now
    call.send({"type": "input_audio_buffer.commit"})
    committed = await call.wait_for("input_audio_buffer.committed")
    call.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    completed = await call.wait_for(
        "conversation.item.input_audio_transcription.completed", timeout=10
    )
    assert completed["item_id"] == committed["item_id"]
    assert word_overlap("please open the main file", completed["transcript"]) >= 0.6
    text = await call.wait_for("response.output_text.done", timeout=10)
    assert word_overlap("open the main file", text["text"]) >= 0.75


async def test_beta_route_speaks_beta_event_names(peer, make_call: CallFactory) -> None:
    call = await make_call(peer.base_url, route="beta")
    created = call.of_type("session.created")[0]
    assert "turn_detection" in created["session"]  # the flat beta session shape
    assert "audio" not in created["session"]
    call.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello there"}],
            },
        }
    )
    await call.wait_for("conversation.item.created")
    call.send({"type": "response.create"})
    done = await call.wait_for("response.audio_transcript.done")
    assert done["transcript"].startswith("You said: hello there.")
    await call.wait_for("response.done")
    types = set(call.types())
    assert "response.audio_transcript.delta" in types
    assert not any(t.startswith("response.output_audio") for t in types)
    assert "conversation.item.added" not in types
    item = call.of_type("response.done")[-1]["response"]["output"][0]
    assert item["content"][0]["type"] == "audio"


async def test_response_cancel_stops_speech_at_once(peer, make_call: CallFactory) -> None:
    call = await make_call(peer.base_url)
    long_text = " ".join(["This sentence is long and it keeps going."] * 6)
    call.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": long_text}],
            },
        }
    )
    call.send({"type": "response.create"})
    started = await call.wait_for("output_audio_buffer.started")
    await asyncio.sleep(0.6)
    call.send({"type": "response.cancel", "event_id": "evt_cancel"})
    cleared = await call.wait_for("output_audio_buffer.cleared")
    assert cleared["response_id"] == started["response_id"]
    done = await call.wait_for("response.done")
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    heard = call.sink.audible_frames
    await asyncio.sleep(0.8)
    # At most a few frames in flight after the clear; the full reply would be ~10 s.
    assert call.sink.audible_frames - heard <= 10
    assert "output_audio_buffer.stopped" not in call.types()
    # Nothing active any more: a second cancel is an error naming the event.
    call.send({"type": "response.cancel", "event_id": "evt_again"})
    err = await call.wait_for("error")
    assert err["error"]["code"] == "response_cancel_not_active"
    assert err["error"]["event_id"] == "evt_again"


async def test_output_audio_buffer_clear_stops_playback_not_the_response(
    peer, make_call: CallFactory
) -> None:
    """As with the real API: clear only stops playback; ``response.cancel`` cancels."""
    call = await make_call(peer.base_url)
    call.ask("one two three four five six seven. And eight nine ten.", ("audio",))
    started = await call.wait_for("output_audio_buffer.started")
    call.send({"type": "output_audio_buffer.clear"})
    cleared = await call.wait_for("output_audio_buffer.cleared")
    assert cleared["response_id"] == started["response_id"]
    heard = call.sink.audible_frames
    done = await call.wait_for("response.done", timeout=15)
    assert done["response"]["status"] == "completed"  # the response went on, silent
    await asyncio.sleep(0.5)
    assert call.sink.audible_frames - heard <= 10
    assert "output_audio_buffer.stopped" not in call.types()
    # The item holds only the audio that was sent: a truncate past it is refused.
    item_id = done["response"]["output"][0]["id"]
    call.send(
        {
            "type": "conversation.item.truncate",
            "event_id": "evt_trunc",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 60_000,
        }
    )
    err = await call.wait_for("error")
    assert err["error"]["event_id"] == "evt_trunc"
    assert re.fullmatch(
        r"Audio content of \d+ms is already shorter than 60000ms", err["error"]["message"]
    ), err
    sent_ms = int(err["error"]["message"].split()[3].removesuffix("ms"))
    assert sent_ms < 5000
    call.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": min(sent_ms, 200),
        }
    )
    truncated = await call.wait_for("conversation.item.truncated")
    assert truncated["item_id"] == item_id and truncated["audio_end_ms"] == min(sent_ms, 200)


async def test_bad_client_events_get_errors_and_the_call_keeps_working(
    peer, make_call: CallFactory
) -> None:
    call = await make_call(peer.base_url)
    call.send("{not json")
    call.send(json.dumps({"type": "no.such.event", "event_id": "evt_unknown"}))
    call.send(
        json.dumps(
            {
                "type": "conversation.item.create",
                "event_id": "evt_bad",
                "item": {"type": "message", "role": "robot"},
            }
        )
    )
    call.send(
        json.dumps(
            {"type": "conversation.item.delete", "event_id": "evt_del", "item_id": "item_missing"}
        )
    )
    call.send(json.dumps([1, 2, 3]))
    for _ in range(50):
        if len(call.of_type("error")) >= 5:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    errors = call.of_type("error")
    assert len(errors) == 5, errors
    assert all(e["error"]["type"] == "invalid_request_error" for e in errors)
    by_id = {e["error"].get("event_id"): e["error"] for e in errors}
    assert by_id["evt_unknown"]["param"] == "type"
    assert by_id["evt_bad"]["code"] == "invalid_value"
    assert "item" in by_id["evt_bad"]["param"]
    assert by_id["evt_del"]["code"] == "item_delete_invalid_item_id"
    assert errors[0]["error"]["code"] == "invalid_json"
    # Still alive: a normal exchange works.
    call.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    updated = await call.wait_for("session.updated")
    assert updated["session"]["instructions"] == "x"


async def test_two_calls_at_once_are_isolated(peer, make_call: CallFactory) -> None:
    a, b = await asyncio.gather(make_call(peer.base_url), make_call(peer.base_url))
    assert a.call_id != b.call_id and len(peer.calls) == 2
    for call, text in ((a, "close the terminal"), (b, "open the browser")):
        call.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )
        call.send({"type": "response.create"})
    da, db = await asyncio.gather(
        a.wait_for("response.output_audio_transcript.done"),
        b.wait_for("response.output_audio_transcript.done"),
    )
    assert "close the terminal" in da["transcript"] and "browser" not in da["transcript"]
    assert "open the browser" in db["transcript"] and "terminal" not in db["transcript"]
    # Hanging one up leaves the other working.
    assert await a.hangup() == 200
    assert a.call_id not in peer.calls
    b.send({"type": "session.update", "session": {"type": "realtime", "instructions": "y"}})
    await b.wait_for("session.updated")
    assert await a.hangup() == 404


async def test_trickle_offer_without_candidates_connects(open_peer, make_call: CallFactory) -> None:
    call = await make_call(open_peer.base_url, key="anything", trickle=True)
    assert "a=candidate" in call.answer_sdp
    assert all(
        " 127.0.0.1 " in line
        for line in call.answer_sdp.splitlines()
        if line.startswith("a=candidate:")
    )


async def test_multipart_offer_applies_the_session(peer, make_call: CallFactory) -> None:
    call = await make_call(
        peer.base_url,
        multipart_session={
            "type": "realtime",
            "instructions": "from the form",
            "output_modalities": ["text"],
        },
    )
    created = call.of_type("session.created")[0]["session"]
    assert created["instructions"] == "from the form"
    assert created["output_modalities"] == ["text"]


async def test_echo_mode_returns_the_callers_audio(echo_peer, make_call: CallFactory) -> None:
    call = await make_call(echo_peer.base_url)
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)
    call.say(tone)
    for _ in range(40):
        await asyncio.sleep(0.1)
        if call.audible_ms() >= 800:
            break
    assert call.audible_ms() >= 800, call.audible_ms()
    # The echoed audio is the tone: its spectrum peaks at 440 Hz.
    samples = call.sink.samples().astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * 48000 / samples.size
    assert abs(peak_hz - 440) < 10, peak_hz
    assert not call.of_type("input_audio_buffer.speech_started")


async def test_silence_crosses_the_call_as_cached_packets_and_is_heard_as_zeros(
    echo_peer, make_call: CallFactory
) -> None:
    """Both directions of a call send digital silence as the encoder's own silent packet
    without encoding it, and decode it without the codec (``vivavoce.rtc.opus``); what is
    heard is the same: exact zeros in the silence, the tone intact after it."""
    call = await make_call(echo_peer.base_url)
    await asyncio.sleep(0.6)  # silence both ways (the echo of the track's own silence)
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)
    call.say(tone)
    for _ in range(40):
        await asyncio.sleep(0.1)
        if call.audible_ms() >= 400:
            break
    sender = call._pc.getSenders()[0]
    encoder = sender._RTCRtpSender__encoder
    receiver = call._pc.getReceivers()[0]
    decoder = receiver._RTCRtpReceiver__decoder_queue._decoder
    assert encoder.skipped > 10, encoder.skipped  # the client's silence
    assert decoder.skipped > 10, decoder.skipped  # the peer's echo of it, re-encoded there
    samples = call.sink.samples()
    loud = np.flatnonzero(np.abs(samples) > 300)
    assert loud.size and samples[: loud[0] - 960].size > 0.3 * 48000
    assert not samples[: loud[0] - 960].any()  # the silence before the tone: exact zeros
    spectrum = np.abs(np.fft.rfft(samples[loud[0] : loud[0] + 9600].astype(np.float64)))
    assert abs(np.argmax(spectrum) * 48000 / 9600 - 440) < 10


async def test_user_speech_interrupts_the_reply(
    peer, make_call: CallFactory, open_file_speech: np.ndarray
) -> None:
    call = await make_call(peer.base_url)
    call.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_text",
                        "text": "Tell me. A long story. With many parts. "
                        "And more parts. And even more.",
                    }
                ],
            },
        }
    )
    call.send({"type": "response.create"})
    started = await call.wait_for("output_audio_buffer.started")
    call.say(open_file_speech)
    speech = await call.wait_for("input_audio_buffer.speech_started", timeout=5)
    cleared = await call.wait_for("output_audio_buffer.cleared", timeout=2)
    assert cleared["response_id"] == started["response_id"]
    assert call.events.index(cleared) > call.events.index(speech)
    done = await call.wait_for(
        "response.done", lambda e: e["response"]["id"] == started["response_id"]
    )
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"


class _FlakyResponder:
    """Fails on the word 'explode'; echoes otherwise."""

    async def answer(self, conversation, instructions, tools=(), specs=()):
        return self._reply(conversation)

    async def _reply(self, conversation):
        text = conversation[-1].text
        if "explode" in text:
            raise RuntimeError("responder blew up")
        yield f"Fine: {text}."

    async def aclose(self) -> None:
        return None


async def test_a_failing_reply_fails_only_its_response(make_call: CallFactory) -> None:
    from vivavoce.peer import start_peer

    from .conftest import KEY

    running = await start_peer(api_key=KEY, responder=_FlakyResponder())
    try:
        a, b = await asyncio.gather(make_call(running.base_url), make_call(running.base_url))
        for call, text in ((a, "explode now"), (b, "stay calm")):
            call.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": text}],
                    },
                }
            )
            call.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        fa, fb = await asyncio.gather(a.wait_for("response.done"), b.wait_for("response.done"))
        assert fa["response"]["status"] == "failed"
        assert "blew up" in fa["response"]["status_details"]["error"]["message"]
        assert fb["response"]["status"] == "completed"
        assert b.of_type("response.output_text.done")[0]["text"] == "Fine: stay calm."
        # The failed call is still up and answers again.
        mark = len(a.events)
        a.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "ok"}],
                },
            }
        )
        a.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        again = await a.wait_for("response.done", after=mark)
        assert again["response"]["status"] == "completed"
        assert len(running.calls) == 2
    finally:
        await running.close()
    assert not running.calls


TOOLS = [
    {
        "type": "function",
        "name": "replace_selection",
        "description": "Replace the selected text.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
    }
]


async def _ask_with_tools(call: RawCall, text: str, session: dict[str, Any]) -> None:
    """Declare ``TOOLS`` (plus ``session``), then a typed user turn and response.create."""
    update = {"type": "realtime", "tools": TOOLS, **session}
    call.send({"type": "session.update", "session": update})
    await call.wait_for("session.updated")
    content = [{"type": "input_text", "text": text}]
    item = {"type": "message", "role": "user", "content": content}
    call.send({"type": "conversation.item.create", "item": item})
    call.send({"type": "response.create"})


@pytest.mark.parametrize("route", ["ga", "beta"])
async def test_declared_tool_is_called_and_its_output_answered(
    peer, make_call: CallFactory, route: str
) -> None:
    call = await make_call(peer.base_url, route=route)
    # Instructions long enough to be cached (1024 tokens at least: 4 characters a token).
    instructions = "Edit the code as the user asks. " * 140
    await _ask_with_tools(call, "Replace the selection with total.", {"instructions": instructions})
    done = await call.wait_for("response.done")
    # The response is one function call, in the protocol's order of events, and no speech.
    (item,) = done["response"]["output"]
    assert item["type"] == "function_call" and item["name"] == "replace_selection"
    assert json.loads(item["arguments"]) == {"text": "total"}
    assert done["response"]["status"] == "completed"
    args = call.of_type("response.function_call_arguments.done")[0]
    assert (args["call_id"], args["item_id"]) == (item["call_id"], item["id"])
    assert _in_order(
        call.types(),
        [
            "response.created",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.done",
        ],
    )
    assert "output_audio_buffer.started" not in call.types()
    # The client runs it and sends the output; the next response says what came of it.
    mark = len(call.events)
    output = {"applied": False, "reason": "the user said no"}
    call.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": item["call_id"],
                "output": json.dumps(output),
            },
        }
    )
    call.send({"type": "response.create"})
    prefix = "response.output_audio" if route == "ga" else "response.audio"
    said = await call.wait_for(f"{prefix}_transcript.done", after=mark)
    assert said["transcript"] == "The editor refused the edit: the user said no."
    # Usage: the call's arguments were output text; the second reply was given the first one's
    # input again (cached, in the API's steps of 128 tokens from 1024: billed at the cached
    # price) and, uncached, the call and its output.
    first = done["response"]["usage"]
    assert first["output_token_details"]["text_tokens"] == -(-len(item["arguments"]) // 4)
    assert first["input_token_details"]["cached_tokens"] == 0
    again = (await call.wait_for("response.done", after=mark))["response"]["usage"]
    cached = again["input_token_details"]["cached_tokens"]
    assert cached == first["input_tokens"] - (first["input_tokens"] - 1024) % 128 >= 1024
    assert again["input_tokens"] > first["input_tokens"]


async def test_a_short_prompt_is_never_cached(peer, make_call: CallFactory) -> None:
    """Under 1024 tokens the API caches nothing, however often the prefix repeats."""
    call = await make_call(peer.base_url)
    for n, text in enumerate(("hello there", "and again")):
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        mark = len(call.events)
        call.send({"type": "conversation.item.create", "item": item})
        call.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        usage = (await call.wait_for("response.done", after=mark))["response"]["usage"]
        assert usage["input_token_details"]["cached_tokens"] == 0, n
        assert usage["input_tokens"] > 0


async def test_tool_choice_none_means_no_calls(peer, make_call: CallFactory) -> None:
    call = await make_call(peer.base_url)
    await _ask_with_tools(call, "replace the selection with x", {"tool_choice": "none"})
    said = await call.wait_for("response.output_audio_transcript.done")
    assert said["transcript"].startswith("You said: replace the selection with x.")
    assert not call.of_type("response.function_call_arguments.done")


def _is_sdk_usage(usage: dict[str, Any]) -> None:
    """Every field of a ``response.done`` usage is one the SDK's RealtimeResponseUsage names."""
    from openai.types.realtime.realtime_response_usage import RealtimeResponseUsage
    from openai.types.realtime.realtime_response_usage_input_token_details import (
        CachedTokensDetails,
        RealtimeResponseUsageInputTokenDetails,
    )
    from openai.types.realtime.realtime_response_usage_output_token_details import (
        RealtimeResponseUsageOutputTokenDetails,
    )

    parsed = RealtimeResponseUsage.model_validate(usage)
    assert set(usage) <= set(RealtimeResponseUsage.model_fields)
    inputs = usage["input_token_details"]
    assert set(inputs) <= set(RealtimeResponseUsageInputTokenDetails.model_fields)
    assert set(inputs["cached_tokens_details"]) <= set(CachedTokensDetails.model_fields)
    outputs = usage["output_token_details"]
    assert set(outputs) <= set(RealtimeResponseUsageOutputTokenDetails.model_fields)
    assert parsed.input_token_details is not None
    assert parsed.input_token_details.cached_tokens == inputs["cached_tokens"]
