"""Data-channel events, fuzzed into ``parse_server_event`` and ``Transcript.apply``.

Whatever arrives, the client either gets an event or a one-line ``ProtocolError``; the
transcript folds any parsed event in without raising.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.strategies import json_values, objects_with
from vivavoce.errors import ProtocolError
from vivavoce.realtime import events as ev
from vivavoce.realtime.transcript import Transcript

TYPES = sorted(ev._SERVER_TYPES | set(ev.BETA_ALIASES))
FIELDS = [
    "event_id", "item_id", "previous_item_id", "response_id", "delta", "transcript", "text",
    "item", "response", "error", "session", "output_index", "content_index", "audio_start_ms",
    "audio_end_ms", "part", "status", "output", "id", "role", "content", "type", "code",
]  # fmt: skip
# Values that look like the real ones, so validation gets past the first field.
plausible = (
    json_values
    | st.sampled_from(["item_1", "item_2", "resp_1", "user", "assistant", "message", "cancelled"])
    | st.fixed_dictionaries(
        {"id": st.sampled_from(["item_1", "item_2"]), "type": st.just("message")},
        optional={
            "role": st.sampled_from(["user", "assistant", "system"]),
            "content": st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["input_text", "output_text", "audio"])},
                    optional={"text": st.text(max_size=20)},
                ),
                max_size=3,
            ),
        },
    )
)


def _parse(message: Any) -> ev.ServerEvent | None:
    try:
        return ev.parse_server_event(message)
    except ProtocolError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None


@st.composite
def real_shaped(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.dictionaries(st.sampled_from(FIELDS), plausible, max_size=6))
    event["type"] = draw(st.sampled_from(TYPES))
    return event


@given(text=st.text(max_size=200) | st.binary(max_size=200).map(bytes))
def test_any_text_or_bytes_is_an_event_or_a_protocol_error(text: str | bytes) -> None:
    _parse(text)


@given(value=json_values)
def test_any_json_value_is_an_event_or_a_protocol_error(value: Any) -> None:
    _parse(json.dumps(value))


@given(events=st.lists(real_shaped(), min_size=1, max_size=12))
def test_real_types_with_random_fields_never_break_parsing_or_the_transcript(
    events: list[dict[str, Any]],
) -> None:
    transcript = Transcript()
    for raw in events:
        event = _parse(json.dumps(raw))
        if event is not None:
            for update in transcript.apply(event):
                assert update.item_id
    transcript.turns()  # ordering never fails either


@given(data=st.data())
def test_beta_aliases_parse_as_their_ga_events(data: st.DataObject) -> None:
    beta = data.draw(st.sampled_from(sorted(ev.BETA_ALIASES)))
    raw = data.draw(objects_with(FIELDS))
    raw["type"] = beta
    event = _parse(json.dumps(raw))
    if event is not None:
        assert event.type == ev.BETA_ALIASES[beta]


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_is_a_protocol_error_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(ProtocolError):
        ev.parse_server_event('{"type":"error","error":' + "[" * depth + "]" * depth + "}")
