"""Client events fuzzed over one real call's data channel to one ``vivavoce peer`` process.

Real event types with mutated fields, unknown types, non-JSON, huge messages. Whatever arrives:
the call stays up, an event the peer refuses gets exactly one ``error`` event (one line,
quoting the event's ``event_id``), and a valid ``response.create`` still works afterwards.

After each fuzzed message comes a marker the peer must refuse (``conversation.item.retrieve``
of an unknown item): the data channel is ordered, so what the peer said about the fuzzed
message is what arrived before the marker's error.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.servers import LoopThread, Server, serving
from tests.fuzz.strategies import huge_text, json_values, objects_with
from tests.peer.conftest import RawCall
from vivavoce.realtime import events as ev

# A real call (or server) runs in another thread while examples are drawn; its ICE/SCTP code
# draws from the global `random`, and Hypothesis takes that for the strategy's doing.
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

KEY = "sk-fuzz-events"
TYPES = sorted(ev._CLIENT_TYPES)
FIELDS = [
    "event_id", "type", "session", "item", "previous_item_id", "item_id", "content_index",
    "audio_end_ms", "response", "response_id", "audio", "instructions", "model", "tools",
    "turn_detection", "voice", "modalities", "output_modalities", "role", "content", "text",
]  # fmt: skip
_ids = itertools.count()


class Channel:
    """The call, and the loop it lives on."""

    def __init__(self, loop: LoopThread, call: RawCall, server: Server) -> None:
        self.loop, self.call, self.server = loop, call, server

    def exchange(self, message: str, event_id: str | None) -> list[dict[str, Any]]:
        """Send ``message`` then a marker; the events the peer sent before the marker's error."""
        marker = f"marker_{next(_ids)}"
        start = len(self.call.events)

        async def go() -> list[dict[str, Any]]:
            self.call.send(message)
            self.call.send(
                {"type": "conversation.item.retrieve", "item_id": marker, "event_id": marker}
            )
            found = await self.call.wait_for(
                "error", lambda e: e["error"].get("event_id") == marker, timeout=5, after=start
            )
            return self.call.events[start : self.call.events.index(found)]

        return self.loop.run(go(), 10)


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Channel]:
    log = tmp_path_factory.mktemp("peer") / "peer.err"
    with serving(["peer", "--port", "0", "--api-key", KEY], log) as server:
        url = server.wait_listening()
        loop = LoopThread()
        call = RawCall(url, KEY)
        try:
            loop.run(call.connect(with_audio=False), 30)
            yield Channel(loop, call, server)

            # A valid response.create still works after everything the fuzz sent.
            async def answered() -> None:
                start = len(call.events)
                call.ask("Hello there.")
                await call.wait_for("response.done", timeout=20, after=start)

            loop.run(answered(), 30)
            server.assert_healthy()
        finally:
            loop.run(call.close(), 10)
            loop.close()


def assert_refusals(events: list[dict[str, Any]], event_id: str | None, must: bool) -> None:
    """At most one error about the event (exactly one when ``must``), each one line."""
    mine = [e for e in events if e["type"] == "error" and e["error"].get("event_id") == event_id]
    assert len(mine) <= 1, mine
    if must:
        assert len(mine) == 1, events
    for e in events:
        if e["type"] == "error":
            message = e["error"]["message"]
            assert message and "\n" not in message and "Traceback" not in message, e


# --------------------------------------------------------------------------- strategies

plausible = (
    json_values
    | st.sampled_from(["item_1", "resp_1", "user", "assistant", "message", "alloy", "realtime"])
    | objects_with(["type", "role", "content", "id", "audio", "model", "output_modalities"])
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.dictionaries(st.sampled_from(FIELDS), plausible, max_size=5))
    event["type"] = draw(st.sampled_from(TYPES) | st.text(max_size=20) | json_values)
    return event


def _send(channel: Channel, raw: Any, *, must: bool) -> None:
    since = len(channel.server.stderr())
    event_id = None
    if isinstance(raw, dict):
        event_id = f"evt_fuzz_{next(_ids)}"
        raw["event_id"] = event_id
    message = raw if isinstance(raw, str) else json.dumps(raw)
    assert_refusals(channel.exchange(message, event_id), event_id, must)
    channel.server.assert_healthy(since)
    for phrase in ("closing the call after an error", "call closed"):
        assert phrase not in channel.server.stderr()[since:]


@settings(deadline=None)  # each exchange asserts its own time limit
@given(event=events())
def test_real_types_with_random_fields_keep_the_call_up(channel: Channel, event: Any) -> None:
    must = not isinstance(event.get("type"), str) or event["type"] not in TYPES
    _send(channel, event, must=must)


@settings(deadline=None)  # each exchange asserts its own time limit
@given(
    message=st.text(max_size=200)
    | json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps)
    | huge_text.filter(lambda t: len(t.encode()) < 200_000)
)
def test_anything_not_an_event_gets_one_error(channel: Channel, message: str) -> None:
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return  # an object is an event (test above)
    _send(channel, message, must=True)


@settings(deadline=None)  # each exchange asserts its own time limit
@given(session=objects_with(FIELDS) | json_values)
def test_session_updates_with_any_session_keep_the_call_up(channel: Channel, session: Any) -> None:
    _send(channel, {"type": "session.update", "session": session}, must=False)


def test_deep_json_gets_one_error(channel: Channel) -> None:
    _send(channel, "[" * 50_000 + "]" * 50_000, must=True)
