"""A turn's reply is started before the turn ends, and sent only if the turn ends as expected.

With ``server_vad`` the peer has the turn's words 200 ms before the silence ends it; it asks
the chat server for the reply then (and speaks its first clause ahead), buffering all of it,
and sends nothing until the turn's real end, in the real API's order. A user who goes on
speaking inside those 200 ms gets that request closed and one reply to the whole turn.

Real peer (pocketsphinx, flite), the official ``openai`` SDK over the WebSocket transport, and
a chat server on loopback (aiohttp) that notes when it was asked and whether the peer left.
The audio is appended up to a pause of 400 ms (past the early words, before the turn's end)
and the rest only once the chat server was asked or not: the pause is exact whatever the load.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from vivavoce.peer import start_peer
from vivavoce.peer.app import RunningPeer
from vivavoce.peer.audio import resample

from .conftest import KEY, flite_pcm, word_overlap
from .test_calls import _in_order
from .test_websocket import _validated

pytestmark = [pytest.mark.wire_conformance, pytest.mark.timeout(60)]

RATE = 16000
#: The reply's pace: one word every this many seconds (still streaming when the user goes on).
WORD_SECONDS = 0.08
REPLY_SEQUENCE = [
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.added",
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


@dataclass
class Asked:
    at: float  # time.monotonic() when the request arrived
    said: str  # the last user message
    abandoned: bool = False  # the peer closed the stream before its end


@dataclass
class ChatServer:
    """``/v1/chat/completions``, streamed: "Answer number N: you said <last user words>."."""

    asked: list[Asked] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> ChatServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def until(self, check: Any, timeout: float = 10.0) -> bool:
        """Wait until ``check()`` (an AssertionError after ``timeout``)."""
        try:
            async with asyncio.timeout(timeout):
                while not check():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"not within {timeout} s; asked: {self.asked}") from None
        return True

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        asked = Asked(time.monotonic(), users[-1] if users else "")
        self.asked.append(asked)
        self._changed.set()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = f"Answer number {len(self.asked)}: you said {asked.said}.".split(" ")
        try:
            for i, word in enumerate(words):
                await asyncio.sleep(WORD_SECONDS)
                chunk = {"choices": [{"index": 0, "delta": {"content": (" " if i else "") + word}}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionError:  # the peer closed the stream
            asked.abandoned = True
            self._changed.set()
        return response


class Conversation:
    """The SDK's realtime connection, its events noted (validated) with their arrival time."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.conn:
            self.events.append((time.monotonic(), _validated(event)))
            self._new.set()

    async def append(self, pcm: np.ndarray) -> None:
        pcm24 = resample(pcm, RATE, 24000).astype("<i2").tobytes()
        await self.conn.input_audio_buffer.append(audio=base64.b64encode(pcm24).decode())

    async def until(self, kind: str, timeout: float = 15.0) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                for at, event in self.events:
                    if event["type"] == kind:
                        return at, event
                self._new.clear()
                await self._new.wait()

    def types(self) -> list[str]:
        return [e["type"] for _, e in self.events]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e["type"] == kind]

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = await ChatServer().start()
    yield server
    await server.close()


async def _peer(chat: ChatServer, **options: Any) -> RunningPeer:
    running = await start_peer(api_key=KEY, responder_url=chat.base_url, **options)
    # The recognizer's workers loaded (the first test of a busy run waits for it otherwise).
    await running.peer.services.recognizer.warm_up()
    return running


@pytest.fixture
async def talk() -> AsyncIterator[Any]:
    """Open a conversation with a peer (closed at the end)."""
    opened: list[tuple[AsyncOpenAI, Any, Conversation]] = []

    async def open_(peer: RunningPeer) -> Conversation:
        client = AsyncOpenAI(api_key=KEY, base_url=peer.base_url, max_retries=0)
        conn = await client.realtime.connect(model="gpt-realtime").enter()
        conversation = Conversation(conn)
        opened.append((client, conn, conversation))
        await conversation.until("session.created")
        return conversation

    yield open_
    for client, conn, conversation in opened:
        await conversation.close()
        await conn.close()
        await client.close()


def _trimmed(pcm: np.ndarray) -> np.ndarray:
    loud = np.nonzero(np.abs(pcm) > 100)[0]
    return pcm[loud[0] : loud[-1] + 1]


def _silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, np.int16)


#: The start of every turn: a little quiet, the words, and a pause that nearly ends the turn.
async def _said_then_paused(conversation: Conversation, words: str) -> None:
    await conversation.append(
        np.concatenate([_silence(250), _trimmed(flite_pcm(words)), _silence(400)])
    )


async def test_the_reply_is_asked_for_before_the_turn_ends_and_sent_in_the_apis_order(
    chat: ChatServer, talk: Any
) -> None:
    peer = await _peer(chat)
    try:
        conversation = await talk(peer)
        await _said_then_paused(conversation, "open the main file")
        await chat.until(lambda: chat.asked, timeout=15)  # asked while the turn goes on
        await conversation.append(_silence(1000))
        stopped_at, _ = await conversation.until("input_audio_buffer.speech_stopped")
        _, done = await conversation.until("response.done")
    finally:
        await peer.close()
    [asked] = chat.asked  # asked once: the reply written ahead was the one sent
    assert asked.at < stopped_at and not asked.abandoned
    assert word_overlap("open the main file", asked.said) >= 0.5, asked.said
    types = conversation.types()
    assert _in_order(types, REPLY_SEQUENCE), types
    assert types.index("response.created") > types.index("input_audio_buffer.committed")
    assert types.count("response.created") == 1
    assert done["response"]["status"] == "completed"
    [said] = conversation.of_type("response.output_audio_transcript.done")
    assert said["transcript"] == f"Answer number 1: you said {asked.said}."
    assert conversation.of_type("response.output_audio.delta")  # and it was spoken


async def test_going_on_speaking_closes_the_reply_written_ahead_and_one_reply_answers_it_all(
    chat: ChatServer, talk: Any
) -> None:
    peer = await _peer(chat)
    try:
        conversation = await talk(peer)
        then = _trimmed(flite_pcm("and run the tests"))
        await _said_then_paused(conversation, "open the main file")
        await chat.until(lambda: chat.asked, timeout=15)
        await conversation.append(then)  # while the reply written ahead is still streaming
        # Its request is closed as the user goes on, not only once the turn has ended.
        await chat.until(lambda: chat.asked[0].abandoned, timeout=5)
        await conversation.append(_silence(1000))
        _, done = await conversation.until("response.done")
    finally:
        await peer.close()
    first, whole = chat.asked
    assert word_overlap("and run the tests", first.said) < 0.5, first.said
    assert word_overlap("open the main file and run the tests", whole.said) >= 0.6, whole.said
    assert not whole.abandoned
    types = conversation.types()
    assert types.count("input_audio_buffer.speech_started") == 1, types
    assert types.count("response.created") == 1, types
    # Only the reply to the whole turn was shown and spoken.
    [said] = conversation.of_type("response.output_audio_transcript.done")
    assert said["transcript"] == f"Answer number 2: you said {whole.said}."
    assert "number 1" not in json.dumps([e for _, e in conversation.events])
    audio_ids = {e["response_id"] for e in conversation.of_type("response.output_audio.delta")}
    assert audio_ids == {done["response"]["id"]}


async def test_without_speculation_the_reply_is_asked_for_at_the_turns_end(
    chat: ChatServer, talk: Any
) -> None:
    peer = await _peer(chat, speculate=False)
    try:
        conversation = await talk(peer)
        await _said_then_paused(conversation, "open the main file")
        await asyncio.sleep(0.5)  # the words were had early: nothing is asked
        assert chat.asked == []
        ending = time.monotonic()
        await conversation.append(_silence(1000))
        await conversation.until("response.done")
    finally:
        await peer.close()
    [asked] = chat.asked  # asked once the silence that ends the turn was there
    assert asked.at > ending
