"""The event models: GA names, beta aliases, unknown events, size limits."""

import json

import pytest

from vivavoce.errors import ProtocolError
from vivavoce.realtime import events as ev


def test_beta_transcript_delta_is_read_as_its_ga_name() -> None:
    event = ev.parse_server_event(
        {
            "type": "response.audio_transcript.delta",
            "response_id": "r",
            "item_id": "i",
            "delta": "Hi",
        }
    )
    assert isinstance(event, ev.AudioTranscriptDelta)
    assert event.type == "response.output_audio_transcript.delta"
    assert event.delta == "Hi"


def test_unknown_event_passes_through_with_its_fields() -> None:
    event = ev.parse_server_event('{"type": "response.future_thing", "event_id": "e1", "x": 3}')
    assert isinstance(event, ev.UnknownEvent)
    assert event.type == "response.future_thing"
    assert event.model_extra == {"x": 3}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "string 'type'"),
        ('{"type": 5}', "string 'type'"),
        ('{"type": "response.done"}', "malformed response.done event: response"),
        ('{"type": "error", "error": "boom"}', "malformed error event"),
    ],
)
def test_broken_server_events_raise_one_line_protocol_errors(message: str, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        ev.parse_server_event(message)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_message_over_64_kib_is_refused_before_sending() -> None:
    item = ev.Item(role="user", content=[ev.ContentPart(type="input_text", text="x" * 70_000)])
    with pytest.raises(ProtocolError, match="at most 65536 bytes"):
        ev.encode(ev.ItemCreate(item=item))


def test_push_to_talk_session_sends_null_turn_detection() -> None:
    session = ev.Session(model="m", audio=ev.SessionAudio(input=ev.AudioInput(turn_detection=None)))
    data = json.loads(ev.encode(ev.SessionUpdate(session=session)))
    assert data["session"]["type"] == "realtime"
    assert data["session"]["audio"]["input"]["turn_detection"] is None


def test_beta_session_update_is_flat_and_reads_back_the_same() -> None:
    session = ev.Session(
        model="m",
        instructions="be brief",
        audio=ev.SessionAudio(
            input=ev.AudioInput(turn_detection=ev.ServerVad(silence_duration_ms=700)),
            output=ev.AudioOutput(voice="echo"),
        ),
    )
    flat = json.loads(ev.encode(ev.SessionUpdate(session=session), dialect="beta"))["session"]
    assert flat["voice"] == "echo"
    assert flat["turn_detection"]["silence_duration_ms"] == 700
    back = ev.session_from_beta(flat)
    assert back.audio.output.voice == "echo"
    assert isinstance(back.audio.input.turn_detection, ev.ServerVad)
    assert back.audio.input.turn_detection.silence_duration_ms == 700


def test_partial_client_session_update_keeps_only_what_was_sent() -> None:
    event = ev.parse_client_event({"type": "session.update", "session": {"instructions": "x"}})
    assert isinstance(event, ev.SessionUpdate)
    assert event.session.model_dump(exclude_unset=True) == {"instructions": "x"}


def test_ga_event_names_become_beta_names_for_beta_servers() -> None:
    delta = ev.AudioTranscriptDelta(response_id="r", item_id="i", delta="a")
    assert json.loads(ev.encode(delta, dialect="beta"))["type"] == "response.audio_transcript.delta"


# --------------------------------------------------------------------------- robust parsing
# Payloads are checked against the openai SDK's own types first: these are shapes a real
# server may send, not shapes we made up.

MCP_CALL = {
    "type": "mcp_call",
    "id": "mcp_1",
    "server_label": "docs",
    "name": "search",
    "arguments": '{"q": "realtime"}',
    "output": "3 results",
    "error": None,
}
MCP_LIST_TOOLS = {
    "type": "mcp_list_tools",
    "id": "mcpl_1",
    "server_label": "docs",
    "tools": [{"name": "search", "input_schema": {"type": "object"}, "description": "Search"}],
}
ASSISTANT = {
    "type": "message",
    "id": "item_a",
    "object": "realtime.item",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_audio", "transcript": "Done."}],
}


def _sdk_valid(payload: dict[str, object]) -> dict[str, object]:
    from vivavoce.peer.conformance import check

    assert check(payload, "server", "ga") == []
    return payload


def test_session_with_a_custom_voice_object_is_read_and_written_back() -> None:
    payload = _sdk_valid(
        {
            "type": "session.created",
            "event_id": "event_1",
            "session": {
                "type": "realtime",
                "model": "gpt-realtime-2.1",
                "audio": {"output": {"voice": {"id": "voice_1234"}, "speed": 1.0}},
            },
        }
    )
    event = ev.parse_server_event(json.dumps(payload))
    assert isinstance(event, ev.SessionCreated)
    assert event.session.audio.output.voice == ev.CustomVoice(id="voice_1234")
    assert event.session.audio.output.voice_name == "voice_1234"
    again = json.loads(ev.encode(ev.SessionUpdate(session=event.session)))
    assert again["session"]["audio"]["output"]["voice"] == {"id": "voice_1234"}
    assert ev.session_to_beta(event.session)["voice"] == {"id": "voice_1234"}


def test_a_named_voice_is_still_a_string() -> None:
    out = ev.AudioOutput(voice="marin")
    assert out.voice == "marin" and out.voice_name == "marin"


def test_response_done_with_mcp_items_keeps_every_item() -> None:
    payload = _sdk_valid(
        {
            "type": "response.done",
            "event_id": "event_2",
            "response": {
                "id": "resp_1",
                "object": "realtime.response",
                "status": "completed",
                "output": [MCP_LIST_TOOLS, MCP_CALL, ASSISTANT],
            },
        }
    )
    event = ev.parse_server_event(json.dumps(payload))
    assert isinstance(event, ev.ResponseDone)
    kinds = [item.type for item in event.response.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"]
    call = event.response.output[1]
    assert call.output == "3 results" and call.model_extra == {
        "server_label": "docs",
        "error": None,
    }
    assert event.response.output[0].model_extra is not None
    assert event.response.output[0].model_extra["tools"][0]["name"] == "search"


@pytest.mark.parametrize("item", [MCP_CALL, MCP_LIST_TOOLS])
def test_conversation_item_added_with_an_mcp_item_is_an_item_added(item: dict[str, object]) -> None:
    payload = _sdk_valid(
        {"type": "conversation.item.added", "event_id": "e", "previous_item_id": None, "item": item}
    )
    event = ev.parse_server_event(json.dumps(payload))
    assert isinstance(event, ev.ItemAdded)
    assert event.item.type == item["type"] and event.item.id == item["id"]


def test_the_transcript_passes_over_mcp_items_and_keeps_the_assistant_turn() -> None:
    from vivavoce.realtime.transcript import Transcript

    transcript = Transcript()
    for message in (
        {"type": "conversation.item.added", "event_id": "e1", "item": MCP_CALL},
        {"type": "conversation.item.added", "event_id": "e2", "item": ASSISTANT},
        {
            "type": "response.done",
            "event_id": "e3",
            "response": {"id": "r", "status": "completed", "output": [MCP_CALL, ASSISTANT]},
        },
    ):
        transcript.apply(ev.parse_server_event(_sdk_valid(message)))
    assert [(t.item_id, t.role, t.final) for t in transcript.turns()] == [
        ("item_a", "assistant", True)
    ]


def test_null_for_a_key_with_a_default_is_the_default() -> None:
    payload = _sdk_valid(
        {
            "type": "conversation.item.input_audio_transcription.delta",
            "event_id": "e",
            "item_id": "item_u",
            "content_index": None,
            "delta": None,
        }
    )
    event = ev.parse_server_event(payload)
    assert isinstance(event, ev.InputTranscriptionDelta)
    assert (event.delta, event.content_index) == ("", 0)
    done = ev.parse_server_event(
        _sdk_valid(
            {
                "type": "response.done",
                "event_id": "e",
                "response": {"id": "r", "output": None, "status": None},
            }
        )
    )
    assert isinstance(done, ev.ResponseDone) and done.response.output == []


def test_new_keys_anywhere_are_kept_and_never_refuse_the_event() -> None:
    event = ev.parse_server_event(
        {
            "type": "session.updated",
            "event_id": "e",
            "new_top": 1,
            "session": {
                "type": "realtime",
                "brand_new": {"x": 1},
                "reasoning": {"effort": "low"},
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-transcribe", "keywords": ["vivavoce"]},
                        "turn_detection": {"type": "server_vad", "threshold": None, "later": 2},
                    },
                    "output": {"voice": "marin", "new_knob": True},
                },
                "tools": [{"type": "mcp", "server_label": "docs", "server_url": "http://x"}],
            },
        }
    )
    assert isinstance(event, ev.SessionUpdated)
    assert event.model_extra == {"new_top": 1}
    assert event.session.model_extra == {"brand_new": {"x": 1}, "reasoning": {"effort": "low"}}
    td = event.session.audio.input.turn_detection
    assert isinstance(td, ev.ServerVad) and td.threshold == 0.5
    assert event.session.tools is not None and event.session.tools[0].type == "mcp"


def test_a_user_audio_part_says_its_transcript_is_not_known_yet() -> None:
    item = ev.Item(role="user", content=[ev.ContentPart(type="input_audio", transcript=None)])
    sent = json.loads(ev.encode(ev.ItemAdded(item=item)))
    assert sent["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    text = ev.Item(role="user", content=[ev.ContentPart(type="input_text", text="hi")])
    assert "transcript" not in json.loads(ev.encode(ev.ItemAdded(item=text)))["item"]["content"][0]


# --------------------------------------------------------------------------- event ids


def test_every_client_event_carries_its_own_event_id() -> None:
    events = [ev.ResponseCreate(), ev.ResponseCreate(), ev.InputCommit(), ev.OutputAudioClear()]
    ids = [json.loads(ev.encode(e))["event_id"] for e in events]
    assert all(i.startswith("evt_") for i in ids) and len(set(ids)) == len(ids)


def test_a_server_error_names_the_request_that_caused_it() -> None:
    sent = ev.SentEvents(size=2)
    create, cancel, clear = ev.ResponseCreate(), ev.ResponseCancel(), ev.OutputAudioClear()
    for event in (create, cancel, clear):
        sent.remember(event)
    error = ev.ErrorDetail(code="response_cancel_not_active", event_id=cancel.event_id)
    assert sent.cause(error) == "response.cancel"
    assert sent.cause(ev.ErrorDetail(event_id=create.event_id)) is None  # forgotten: size 2
    assert sent.cause(ev.ErrorDetail()) is None


def test_errors_differing_only_in_numbers_are_one_kind() -> None:
    def truncate_error(sent: int, asked: int) -> ev.ErrorDetail:
        message = f"Audio content of {sent} ms is already shorter than {asked} ms"
        return ev.ErrorDetail(code="invalid_value", message=message)

    assert ev.error_kind(truncate_error(1200, 1500)) == ev.error_kind(truncate_error(80, 95.5))
    assert ev.error_kind(truncate_error(1, 2)) != ev.error_kind(ev.ErrorDetail(code="other"))


# --------------------------------------------------------------------------- large tool outputs


def _output_event_size(item: ev.Item) -> int:
    return len(ev.encode_unchecked(ev.ItemCreate(item=item)))


def _tool_output(output: str) -> ev.Item:
    return ev.Item(type="function_call_output", call_id="call_1", output=output)


def test_a_tool_output_that_fits_is_left_alone() -> None:
    item = _tool_output("x" * 60_000)
    assert ev.fit_function_output(item) is item


@pytest.mark.parametrize("filler", ["x", "é", "\n", "字"])
def test_a_text_tool_output_too_large_is_cut_to_fit_and_says_so(filler: str) -> None:
    original = filler * 70_000
    fitted = ev.fit_function_output(_tool_output(original))
    assert fitted.output is not None
    size = _output_event_size(fitted)
    assert ev.MAX_MESSAGE_BYTES - 400 < size <= ev.MAX_MESSAGE_BYTES - 256
    kept, _, marker = fitted.output.rpartition("… [truncated: ")
    assert original.startswith(kept)
    assert marker == f"{len(original.encode()) - len(kept.encode())} bytes]"
    ev.encode(ev.ItemCreate(previous_item_id=ev.new_id("item"), item=fitted))  # fits


def test_a_json_tool_output_too_large_stays_json() -> None:
    original = json.dumps({"lines": [f"line {i}: " + "y" * 50 for i in range(2000)]})
    fitted = ev.fit_function_output(_tool_output(original))
    assert fitted.output is not None and fitted.call_id == "call_1"
    wrapper = json.loads(fitted.output)
    assert wrapper["truncated"] is True
    # Quotes are escaped twice now: the kept part is smaller than the room, but most of it.
    assert original.startswith(wrapper["partial"]) and len(wrapper["partial"]) > 55_000
    assert wrapper["omitted_bytes"] == len(original) - len(wrapper["partial"])
    assert _output_event_size(fitted) <= ev.MAX_MESSAGE_BYTES - 256


def test_a_tool_output_at_the_boundary() -> None:
    base = _output_event_size(_tool_output(""))
    room = ev.MAX_MESSAGE_BYTES - 256 - base
    exact = _tool_output("z" * room)
    assert ev.fit_function_output(exact) is exact
    over = ev.fit_function_output(_tool_output("z" * (room + 1)))
    # One byte over: the marker (25 bytes) and the byte take the place of 26 bytes of output.
    assert over.output is not None and over.output.endswith("z… [truncated: 26 bytes]")
    assert _output_event_size(over) == ev.MAX_MESSAGE_BYTES - 256


def test_a_replayed_assistant_turn_uses_beta_content_types_for_beta_servers() -> None:
    item = ev.Item(role="assistant", content=[ev.ContentPart(type="output_text", text="Hi.")])
    beta = json.loads(ev.encode(ev.ItemCreate(item=item), dialect="beta"))
    assert beta["item"]["content"] == [{"type": "text", "text": "Hi."}]
    ga = json.loads(ev.encode(ev.ItemCreate(item=item)))
    assert ga["item"]["content"][0]["type"] == "output_text"
