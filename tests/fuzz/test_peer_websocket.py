"""Client events fuzzed over one WebSocket call to one ``vivavoce peer`` process (issue 17).

What the data-channel fuzz sends (real event types with mutated fields, unknown types,
non-JSON, huge messages), plus what only the WebSocket carries: ``input_audio_buffer.append``
with any audio (valid base64 of any bytes, text that is not base64, non-strings), audio formats
switched mid-stream, and binary frames. Whatever arrives: the socket stays open (a bad event is
answered, never a reason to close), an event the peer refuses gets exactly one ``error`` event
(one line, quoting its ``event_id``), nothing hangs, and a valid turn still works afterwards.

After each fuzzed message comes a marker the peer must refuse (``conversation.item.retrieve``
of an unknown item): a WebSocket is ordered, so what the peer said about the fuzzed message
arrived before the marker's error.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.servers import LoopThread, Server, serving
from tests.fuzz.strategies import huge_text, json_values, objects_with
from tests.fuzz.test_peer_events import FIELDS, assert_refusals, events

# A real call (or server) runs in another thread while examples are drawn; its ICE/SCTP code
# draws from the global `random`, and Hypothesis takes that for the strategy's doing.
pytestmark = [
    pytest.mark.timeout(3600),
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

KEY = "sk-fuzz-websocket"
APPEND = "input_audio_buffer.append"
_ids = itertools.count()


class Socket:
    """One WebSocket call, the events it received, and the loop it lives on."""

    def __init__(self, loop: LoopThread, server: Server) -> None:
        self.loop, self.server = loop, server
        self.events: list[dict[str, Any]] = []
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, url: str) -> None:
        self._http = aiohttp.ClientSession()
        ws_url = url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
        self._ws = await self._http.ws_connect(
            ws_url, headers={"Authorization": f"Bearer {KEY}"}, max_msg_size=0
        )

    async def _read_until(self, found: Any, timeout: float) -> dict[str, Any]:
        assert self._ws is not None
        for event in self.events:
            if found(event):
                return event
        while True:
            message = await self._ws.receive(timeout)
            assert message.type == aiohttp.WSMsgType.TEXT, f"the socket said {message}"
            event = json.loads(message.data)
            self.events.append(event)
            if found(event):
                return event

    def exchange(self, message: str | bytes) -> list[dict[str, Any]]:
        """Send ``message`` then a marker; the events received before the marker's error."""
        marker = f"marker_{next(_ids)}"
        start = len(self.events)

        async def go() -> list[dict[str, Any]]:
            assert self._ws is not None
            if isinstance(message, bytes):
                await self._ws.send_bytes(message)
            else:
                await self._ws.send_str(message)
            await self._ws.send_json(
                {"type": "conversation.item.retrieve", "item_id": marker, "event_id": marker}
            )
            mark = await self._read_until(
                lambda e: e["type"] == "error" and e["error"].get("event_id") == marker, 5
            )
            return self.events[start : self.events.index(mark)]

        found = self.loop.run(go(), 10)
        del self.events[: len(self.events) - 200]  # keep memory flat over 10,000 examples
        return found

    def answered(self) -> None:
        """A typed turn still gets a whole response."""

        async def go() -> None:
            assert self._ws is not None
            await self._ws.send_json({"type": "input_audio_buffer.clear"})
            await self._ws.send_json(
                {"type": "session.update", "session": {"type": "realtime", "instructions": ""}}
            )
            await self._ws.send_json(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Hello there."}],
                    },
                }
            )
            created = await self._read_until(
                lambda e: e["type"] == "conversation.item.done" and "Hello there." in json.dumps(e),
                20,
            )
            # A response may still be running from the fuzz: let it end, then ask for ours.
            self.events.clear()
            await self._ws.send_json({"type": "response.cancel"})
            await self._ws.send_json({"type": "response.create", "event_id": "final"})
            done = await self._read_until(
                lambda e: e["type"] == "response.done" and e["response"]["status"] == "completed",
                30,
            )
            assert created and done["response"]["output"], done

        self.loop.run(go(), 60)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()


@pytest.fixture(scope="module")
def socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Socket]:
    log = tmp_path_factory.mktemp("peer") / "peer.err"
    with serving(["peer", "--port", "0", "--api-key", KEY], log) as server:
        url = server.wait_listening()
        loop = LoopThread()
        sock = Socket(loop, server)
        try:
            loop.run(sock.connect(url), 30)
            first = loop.run(sock._read_until(lambda e: True, 10))
            assert first["type"] == "session.created"
            yield sock
            sock.answered()
            server.assert_healthy()
        finally:
            loop.run(sock.close(), 10)
            loop.close()


def _send(socket: Socket, raw: Any, *, must: bool, binary: bool = False) -> None:
    since = len(socket.server.stderr())
    event_id = None
    if isinstance(raw, dict):
        event_id = f"evt_fuzz_{next(_ids)}"
        raw["event_id"] = event_id
    message = raw if isinstance(raw, str) else json.dumps(raw)
    assert_refusals(socket.exchange(message.encode() if binary else message), event_id, must)
    socket.server.assert_healthy(since)
    assert "call closed" not in socket.server.stderr()[since:]


# --------------------------------------------------------------------------- strategies

#: Audio an append may carry: valid base64 of any bytes (odd lengths too), anything else.
audio_payloads = (
    st.binary(max_size=4800).map(lambda b: base64.b64encode(b).decode())
    | st.text(max_size=60)
    | json_values
)
formats = st.sampled_from(["audio/pcm", "audio/pcmu", "audio/pcma"]).map(
    lambda t: {"type": t}
) | objects_with(["type", "rate"])


@st.composite
def appends(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"type": APPEND, "audio": draw(audio_payloads)}
    if draw(st.booleans()):
        event.update(draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=2)))
        event["type"] = APPEND
    return event


@st.composite
def format_switches(draw: st.DrawFn) -> dict[str, Any]:
    direction = draw(st.sampled_from(["input", "output"]))
    return {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {direction: {"format": draw(formats)}}},
    }


# --------------------------------------------------------------------------- properties


@settings(deadline=None)  # each exchange asserts its own time limit
@given(event=events())
def test_real_types_with_random_fields_keep_the_socket_open(socket: Socket, event: Any) -> None:
    from tests.fuzz.test_peer_events import TYPES

    must = not isinstance(event.get("type"), str) or event["type"] not in [*TYPES, APPEND]
    _send(socket, event, must=must)


@settings(deadline=None)
@given(event=appends() | format_switches())
def test_appended_audio_of_any_kind_keeps_the_socket_open(socket: Socket, event: Any) -> None:
    audio = event.get("audio")
    must = event["type"] == APPEND and not isinstance(audio, str)
    _send(socket, event, must=must)


@settings(deadline=None)
@given(
    message=st.text(max_size=200)
    | json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps)
    | huge_text.filter(lambda t: len(t.encode()) < 200_000),
    binary=st.booleans(),
)
def test_anything_not_an_event_gets_one_error(socket: Socket, message: str, binary: bool) -> None:
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return  # an object is an event (tests above)
    _send(socket, message, must=True, binary=binary)


def test_deep_json_and_invalid_utf8_get_one_error(socket: Socket) -> None:
    _send(socket, "[" * 50_000 + "]" * 50_000, must=True)
    assert_refusals(socket.exchange(b'{"type": "\xff\xfe"}'), None, must=True)
