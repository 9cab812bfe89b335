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


def test_a_replayed_assistant_turn_uses_beta_content_types_for_beta_servers() -> None:
    item = ev.Item(role="assistant", content=[ev.ContentPart(type="output_text", text="Hi.")])
    beta = json.loads(ev.encode(ev.ItemCreate(item=item), dialect="beta"))
    assert beta["item"]["content"] == [{"type": "text", "text": "Hi."}]
    ga = json.loads(ev.encode(ev.ItemCreate(item=item)))
    assert ga["item"]["content"][0]["type"] == "output_text"
