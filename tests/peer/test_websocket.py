"""The Realtime API's WebSocket transport, driven by the official ``openai`` SDK (issue 21).

``AsyncOpenAI(...).realtime.connect(model=…)`` (and the beta ``client.beta.realtime``) against
the peer: a typed turn answered with text and base64 audio deltas, a spoken turn appended as
24 kHz PCM16 and recognized, the client's truncation, and who may connect. Every event on the
wire is checked against the SDK's types (``wire_conformance``) and every received one is also
validated here against the SDK's union of server events.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest
from openai import AsyncOpenAI
from pydantic import TypeAdapter

from tests.conftest import Pcm, overlap
from vivavoce.peer.app import RunningPeer
from vivavoce.peer.audio import resample

from .conftest import KEY

pytestmark = [pytest.mark.wire_conformance, pytest.mark.timeout(120)]

SAID = "please open the main file"


@pytest.fixture
async def client(peer: RunningPeer) -> AsyncIterator[AsyncOpenAI]:
    c = AsyncOpenAI(api_key=KEY, base_url=peer.base_url, max_retries=0)
    yield c
    await c.close()


def _validated(event: Any, beta: bool = False) -> dict[str, Any]:
    """The event as JSON, after validating it against the SDK's server-event union."""
    if beta:
        from openai.types.beta.realtime import RealtimeServerEvent
    else:
        from openai.types.realtime import RealtimeServerEvent
    data: dict[str, Any] = event.model_dump(mode="json", exclude_unset=True)
    TypeAdapter(RealtimeServerEvent).validate_python(data)
    return data


async def until(conn: Any, wanted: str, seen: list[dict[str, Any]], beta: bool = False) -> None:
    """Read events into ``seen`` until one of type ``wanted`` arrives."""
    async for event in conn:
        data = _validated(event, beta)
        seen.append(data)
        if data["type"] == wanted:
            return
    raise AssertionError(f"the connection closed before {wanted}")


def types(seen: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in seen]


def audio_of(seen: list[dict[str, Any]], kind: str = "response.output_audio.delta") -> Pcm:
    chunks = [base64.b64decode(e["delta"]) for e in seen if e["type"] == kind]
    return np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.int16)


async def test_the_sdk_holds_a_typed_and_a_spoken_conversation_over_a_websocket(
    client: AsyncOpenAI, speak: Callable[[str], Awaitable[Pcm]]
) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        seen: list[dict[str, Any]] = []
        await until(conn, "session.created", seen)
        assert types(seen) == ["session.created"]  # the first event, nothing before it
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "whisper-1"},
                    }
                },
            }
        )
        await until(conn, "session.updated", seen)

        # A typed message: text, and audio as base64 PCM16 deltas, not paced, then done.
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello there."}],
            }
        )
        await conn.response.create()
        start = len(seen)
        await until(conn, "response.done", seen)
        turn = seen[start:]
        kinds = types(turn)
        assert "response.output_audio.delta" in kinds
        last_delta = len(kinds) - 1 - kinds[::-1].index("response.output_audio.delta")
        assert kinds.index("response.output_audio.done") > last_delta
        assert not [k for k in kinds if k.startswith("output_audio_buffer.")]  # WebRTC only
        pcm = audio_of(turn)
        spoken_ms = pcm.size * 1000 // 24000
        assert spoken_ms > 500
        assert float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 300  # speech, not zeros
        words = "".join(e["delta"] for e in turn if e["type"].endswith("transcript.delta"))
        done = next(e for e in turn if e["type"] == "response.output_audio_transcript.done")
        assert words == done["transcript"] and "hello" in words.lower()
        item_id = done["item_id"]

        # The client truncates at what it played: accepted up to the audio sent, not beyond.
        await conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=spoken_ms + 1000
        )
        start = len(seen)
        await until(conn, "error", seen)
        assert seen[-1]["error"]["param"] == "audio_end_ms"
        await conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=spoken_ms // 2
        )
        await until(conn, "conversation.item.truncated", seen)
        assert seen[-1]["audio_end_ms"] == spoken_ms // 2

        # A spoken turn: flite at 24 kHz in 100 ms appends, then silence; server VAD commits it.
        speech = resample(await speak(SAID), 16000, 24000)
        audio = np.concatenate([np.zeros(4800, np.int16), speech, np.zeros(24000, np.int16)])
        for i in range(0, audio.size, 2400):
            chunk = audio[i : i + 2400].astype("<i2").tobytes()
            await conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        start = len(seen)
        await until(conn, "conversation.item.input_audio_transcription.completed", seen)
        turn = seen[start:]
        kinds = types(turn)
        for kind in [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "response.created",
        ]:
            assert kind in kinds, kinds
        heard = turn[-1]["transcript"]
        assert overlap(SAID, heard) >= 0.6, heard
        if "response.done" not in kinds:
            await until(conn, "response.done", seen)
        reply = "".join(
            e["delta"]
            for e in seen[start:]
            if e["type"] == "response.output_audio_transcript.delta"
        )
        assert overlap(heard, reply) >= 0.6, (heard, reply)  # the built-in responder echoes
        assert audio_of(seen[start:]).size > 0


async def test_beta_clients_get_beta_event_names_over_a_websocket(peer: RunningPeer) -> None:
    # The beta client always dials wss:// from base_url; a plain-ws server is given as such.
    ws_base = peer.base_url.replace("http://", "ws://")
    client = AsyncOpenAI(api_key=KEY, base_url=peer.base_url, websocket_base_url=ws_base)
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        seen: list[dict[str, Any]] = []
        await until(conn, "session.created", seen, beta=True)
        await conn.session.update(session={"modalities": ["text", "audio"], "voice": "verse"})
        await until(conn, "session.updated", seen, beta=True)
        assert seen[-1]["session"]["voice"] == "verse"
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi."}],
            }
        )
        await conn.response.create()
        await until(conn, "response.done", seen, beta=True)
        kinds = types(seen)
        assert "response.audio.delta" in kinds and "response.audio.done" in kinds
        assert "conversation.item.created" in kinds
        ga_only = ("response.output_audio", "response.output_text", "output_audio_buffer")
        assert not [k for k in kinds if k.startswith(ga_only)]
        assert audio_of(seen, "response.audio.delta").size > 0
    await client.close()


async def test_appended_g711_audio_is_heard_and_replies_come_back_in_g711(
    client: AsyncOpenAI, speak: Callable[[str], Awaitable[Pcm]]
) -> None:
    from vivavoce.peer.codec import decode_bytes, encode_pcm

    async with client.realtime.connect(model="gpt-realtime") as conn:
        seen: list[dict[str, Any]] = []
        await until(conn, "session.created", seen)
        g711 = {"type": "audio/pcmu"}
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"format": g711}, "output": {"format": g711}},
            }
        )
        await until(conn, "session.updated", seen)
        speech = resample(await speak(SAID), 16000, 8000)
        audio = np.concatenate([speech, np.zeros(8000, np.int16)])
        payload = encode_pcm(audio, "audio/pcmu")
        await conn.input_audio_buffer.append(audio=base64.b64encode(payload).decode())
        await until(conn, "conversation.item.input_audio_transcription.completed", seen)
        assert overlap(SAID, seen[-1]["transcript"]) >= 0.6, seen[-1]["transcript"]
        if "response.done" not in types(seen):
            await until(conn, "response.done", seen)
        ulaw = b"".join(
            base64.b64decode(e["delta"]) for e in seen if e["type"] == "response.output_audio.delta"
        )
        reply = decode_bytes(ulaw, "audio/pcmu")
        assert len(ulaw) == reply.size > 8000 // 2  # one byte a sample at 8 kHz, ≥ 0.5 s
        assert float(np.sqrt(np.mean(reply.astype(np.float64) ** 2))) > 300


@pytest.mark.wire_nonconformant("sends bad events on purpose")
async def test_bad_events_get_an_error_and_the_socket_stays_open(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        seen: list[dict[str, Any]] = []
        await until(conn, "session.created", seen)
        for bad in [
            "not json",
            '{"type": "input_audio_buffer.append", "audio": "%%%"}',
            '{"type": "input_audio_buffer.append", "audio": "AAA="}',  # 2 bytes: fine
            '{"type": "input_audio_buffer.append", "audio": "AA=="}',  # 1 byte: half a sample
            '{"type": "output_audio_buffer.clear"}',
        ]:
            await conn.send_raw(bad)
        errors = []
        while len(errors) < 4:
            await until(conn, "error", seen)
            errors.append(seen[-1]["error"])
        assert [e.get("param") for e in errors] == [None, "audio", "audio", "type"]
        assert all("\n" not in e["message"] for e in errors)
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi."}],
            }
        )
        await until(conn, "conversation.item.done", seen)


# --------------------------------------------------------------------------- who may connect


def ws_url(peer: RunningPeer) -> str:
    return peer.base_url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"


async def handshake(url: str, **kwargs: Any) -> int | aiohttp.ClientWebSocketResponse:
    """The refusal's status, or the open socket."""
    session = aiohttp.ClientSession()
    try:
        socket = await session.ws_connect(url, **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        await session.close()
        return exc.status
    socket._vivavoce_session = session  # type: ignore[attr-defined]  # closed with the socket
    return socket


async def close(socket: aiohttp.ClientWebSocketResponse) -> None:
    await socket.close()
    await socket._vivavoce_session.close()  # type: ignore[attr-defined]


EVIL = {"Origin": "https://evil.example"}


async def test_only_the_peers_key_opens_a_websocket(peer: RunningPeer) -> None:
    url = ws_url(peer)
    assert await handshake(url) == 401
    assert await handshake(url, headers={"Authorization": "Bearer sk-guess"}) == 401
    # A web page cannot set headers: it offers its key as a subprotocol. A guessed one is refused.
    assert (
        await handshake(
            url, protocols=["realtime", "openai-insecure-api-key.sk-guess"], headers=EVIL
        )
        == 401
    )
    assert await handshake(url, protocols=["realtime"], headers=EVIL) == 401
    # DNS rebinding: a page whose name now resolves to 127.0.0.1 names itself in Host.
    rebound = {"Authorization": f"Bearer {KEY}", "Host": "evil.example", **EVIL}
    assert await handshake(url, headers=rebound) == 421
    # Not a WebSocket upgrade: one line, not a hang.
    async with aiohttp.ClientSession() as http:
        plain = await http.get(url, headers={"Authorization": f"Bearer {KEY}"})
        assert plain.status == 426
        assert "\n" not in (await plain.json())["error"]["message"]
    assert (
        await handshake(
            url.replace("gpt-realtime", "gpt-nonsense"), headers={"Authorization": f"Bearer {KEY}"}
        )
        == 400
    )
    sideband = url.replace("model=gpt-realtime", "call_id=rtc_123")
    assert await handshake(sideband, headers={"Authorization": f"Bearer {KEY}"}) == 400
    assert peer.calls == {}

    # The key, from a browser (subprotocol) or a server (header): the call opens.
    socket = await handshake(url, protocols=["realtime", f"openai-insecure-api-key.{KEY}"])
    assert isinstance(socket, aiohttp.ClientWebSocketResponse)
    assert socket.protocol == "realtime"
    first = await socket.receive_json(timeout=10)
    assert first["type"] == "session.created" and first["session"]["model"] == "gpt-realtime"
    assert len(peer.calls) == 1
    await close(socket)


async def test_an_ephemeral_key_opens_a_websocket_with_its_session(peer: RunningPeer) -> None:
    async with aiohttp.ClientSession() as http:
        minted = await http.post(
            f"{peer.base_url}/realtime/client_secrets",
            headers={"Authorization": f"Bearer {KEY}"},
            json={
                "session": {"type": "realtime", "model": "gpt-realtime", "instructions": "Be kind."}
            },
        )
        key = (await minted.json())["value"]
    socket = await handshake(ws_url(peer), protocols=["realtime", f"openai-insecure-api-key.{key}"])
    assert isinstance(socket, aiohttp.ClientWebSocketResponse)
    first = await socket.receive_json(timeout=10)
    assert first["type"] == "session.created" and first["session"]["instructions"] == "Be kind."
    await close(socket)


async def test_closing_the_peer_closes_its_websocket_calls(
    client: AsyncOpenAI, peer: RunningPeer
) -> None:
    socket = await handshake(ws_url(peer), headers={"Authorization": f"Bearer {KEY}"})
    assert isinstance(socket, aiohttp.ClientWebSocketResponse)
    await socket.receive_json(timeout=10)
    await peer.close()
    message = await socket.receive(timeout=10)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert peer.calls == {}
    await close(socket)
